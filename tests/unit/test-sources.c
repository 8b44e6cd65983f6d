/* fetch/registry.c fetch_sources_for() and fetch/creds.c: the order of the
 * sources, dockerd's addressing of Docker Hub mirrors, per-registry mirrors,
 * plain HTTP only for insecure and loopback registries, certs.d directories,
 * mirror timeouts; the auth file's format and mode (fetch.h). */
#include "fetch/fetch.h"
#include "tests/unit/tap.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct fetch_source *srcs;
static size_t n;

static void sources(const char *text, const struct fetch_config *cfg)
{
        struct image_ref ref;
        struct err e = { 0 };
        fetch_sources_free(srcs, n);
        srcs = NULL;
        n = 0;
        if (ref_parse(text, &ref, &e) < 0 || fetch_sources_for(&ref, cfg, &srcs, &n, &e) < 0)
                ok(0, "sources for %s: %s", text, e.msg);
        ref_free(&ref);
}

int main(void)
{
        char tmpl[] = "/tmp/strata-test-sources.XXXXXX";
        char *dir = mkdtemp(tmpl);
        char path[512];
        snprintf(path, sizeof path, "%s/certs.d", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/certs.d/127.0.0.1:5443", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/certs.d/reg.example:5000", dir);
        mkdir(path, 0755);
        char certs[512];
        snprintf(certs, sizeof certs, "%s/certs.d", dir);

        /* no configuration: the upstream alone */
        sources("ubuntu", NULL);
        is_int((long long)n, 1, "no config: one source");
        is_str(srcs[0].url, "https://registry-1.docker.io", "Docker Hub's API host");
        is_str(srcs[0].host, "docker.io", "credentials key of the Hub");
        ok(!srcs[0].mirror, "the upstream is no mirror");
        sources("127.0.0.1:5000/x", NULL);
        is_str(srcs[0].url, "http://127.0.0.1:5000", "loopback: plain HTTP");
        sources("localhost:5000/x", NULL);
        is_str(srcs[0].url, "http://localhost:5000", "localhost: plain HTTP");
        sources("reg.example:5000/x", NULL);
        is_str(srcs[0].url, "https://reg.example:5000", "others: https");

        char *hub[] = { "https://m1.example/", "http://m2.example:8080" };
        char *insecure[] = { "insecure.example:5000", "10.1.0.0/16", "fd00::/8" };
        char *m_reg[] = { "https://regmirror.example", "https://m1.example/" };
        char *m_hub[] = { "https://m1.example/", "https://m3.example" };
        struct fetch_registry_conf regs[] = {
                { .host = "reg.example:5000", .mirrors = m_reg, .n_mirrors = 2 },
                { .host = "docker.io", .mirrors = m_hub, .n_mirrors = 2 },
                { .host = "plain.example", .insecure = true },
        };
        char *dirs[] = { certs, "/nonexistent" };
        struct fetch_config cfg = {
                .mirrors = hub, .n_mirrors = 2, .insecure = insecure, .n_insecure = 3,
                .registries = regs, .n_registries = 3, .mirror_connect_timeout_s = 4,
                .mirror_stall_timeout_s = 0, .certs_dirs = dirs, .n_certs_dirs = 2,
        };
        sources("ubuntu", &cfg);
        is_int((long long)n, 4, "Hub: registry-mirrors, then its own entry's new ones, then upstream");
        is_str(srcs[0].url, "https://m1.example", "trailing slash dropped");
        is_str(srcs[1].url, "http://m2.example:8080", "http:// mirror used as written");
        is_str(srcs[2].url, "https://m3.example", "a repeated mirror is tried once");
        is_str(srcs[3].url, "https://registry-1.docker.io", "upstream last");
        ok(srcs[0].mirror && srcs[1].mirror && srcs[2].mirror, "mirrors are mirrors");
        is_str(srcs[1].host, "m2.example:8080", "a mirror's credentials key is its own host");
        is_int(srcs[0].connect_timeout_s, 4, "mirror connect timeout");
        is_int(srcs[0].stall_timeout_s, 5, "mirror stall timeout default");
        is_int(srcs[3].connect_timeout_s, 0, "the upstream keeps the pull's timeouts");

        sources("reg.example:5000/team/app:1", &cfg);
        is_int((long long)n, 3, "per-registry mirrors; the Hub's are not used");
        is_str(srcs[0].url, "https://regmirror.example", "per-registry mirror 1");
        is_str(srcs[1].url, "https://m1.example", "per-registry mirror 2");
        is_str(srcs[2].url, "https://reg.example:5000", "then the registry");
        is_int((long long)srcs[2].n_certs_dirs, 1, "its certs.d directory found");
        ok(srcs[2].n_certs_dirs && strstr(srcs[2].certs_dirs[0], "certs.d/reg.example:5000"), "the right one");

        sources("insecure.example:5000/x", &cfg);
        is_str(srcs[0].url, "http://insecure.example:5000", "insecure-registries: plain HTTP");
        sources("10.1.2.3:5000/x", &cfg);
        is_str(srcs[0].url, "http://10.1.2.3:5000", "insecure CIDR (IPv4)");
        sources("10.2.0.1:5000/x", &cfg);
        is_str(srcs[0].url, "https://10.2.0.1:5000", "outside the CIDR: https");
        sources("[fd00::1]:5000/x", &cfg);
        is_str(srcs[0].url, "http://[fd00::1]:5000", "insecure CIDR (IPv6)");
        sources("plain.example/x", &cfg);
        is_str(srcs[0].url, "http://plain.example", "registries.HOST.insecure: plain HTTP");
        sources("other.example/x", &cfg);
        is_int((long long)n, 1, "no mirror for an unlisted registry");
        sources("127.0.0.1:5443/x", &cfg);
        is_str(srcs[0].url, "https://127.0.0.1:5443", "loopback with a certs.d directory: https");

        char *bad[] = { "ftp://nope" };
        struct fetch_config badcfg = { .mirrors = bad, .n_mirrors = 1 };
        struct image_ref ref;
        struct err e = { 0 };
        ref_parse("ubuntu", &ref, &e);
        struct fetch_source *s2 = NULL;
        size_t n2 = 0;
        ok(fetch_sources_for(&ref, &badcfg, &s2, &n2, &e) == -EINVAL && strstr(e.msg, "ftp://nope"),
           "a mirror that is no http(s) URL is refused, named");
        ref_free(&ref);

        /* the auth file: docker's format, 0600, other entries kept, removal */
        char af[512];
        snprintf(af, sizeof af, "%s/cfg/strata/auth.json", dir);
        err_clear(&e);
        ok(fetch_authfile_store(af, "reg.example:5000", "bob", "pw:with:colons", &e) == 0, "store: %s", e.msg);
        ok(fetch_authfile_store(af, "index.docker.io", "hubuser", "x", &e) == 0, "store hub");
        struct stat st;
        ok(stat(af, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
        json_t *j = json_load_file(af, 0, NULL);
        const char *b64 = json_string_value(json_object_get(json_object_get(json_object_get(j, "auths"),
                                                                           "reg.example:5000"), "auth"));
        is_str(b64, "Ym9iOnB3OndpdGg6Y29sb25z", "base64 of user:pass");
        ok(json_object_get(json_object_get(j, "auths"), "https://index.docker.io/v1/") != NULL, "hub key like docker");
        json_decref(j);
        struct fetch_opts o = { .auth_file = af, .docker_config = "/nonexistent" };
        char *d = fetch_credentials_describe(&o, "reg.example:5000");
        ok(d && strstr(d, "basic (user bob)"), "describe: %s", d);
        free(d);
        d = fetch_credentials_describe(&o, "docker.io");
        ok(d && strstr(d, "user hubuser"), "describe hub: %s", d);
        free(d);
        ok(fetch_authfile_remove(af, "reg.example:5000", &e) == 0, "remove");
        ok(fetch_authfile_remove(af, "reg.example:5000", &e) == -ENOENT, "remove again: ENOENT");
        d = fetch_credentials_describe(&o, "reg.example:5000");
        is_str(d, "none (anonymous)", "no credentials left");
        free(d);

        fetch_sources_free(srcs, n);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
                ok(0, "cleanup");
        return tap_done();
}
