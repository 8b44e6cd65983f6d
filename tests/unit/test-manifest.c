/* fetch/manifest.c: manifests, indexes, platform selection, configs,
 * and the registry error body. */
#include "fetch/fetch.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <string.h>

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DD "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static int parse(const char *body, const char *ct, struct manifest **m, struct err *e)
{
        return manifest_parse(body, strlen(body), ct, m, e);
}

static void test_image(void)
{
        const char *docker = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
                "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
                "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":100,\"digest\":\"" DB "\"},"
                "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":200,\"digest\":\"" DC "\"}]}";
        struct manifest *m = NULL;
        struct err e = { 0 };
        is_int(parse(docker, NULL, &m, &e), 0, "Docker schema 2 manifest");
        ok(m && m->kind == MANIFEST_IMAGE, "  is an image manifest");
        if (m) {
                is_int((long long)m->n_layers, 2, "  two layers");
                is_str(m->config.digest, DA, "  config digest");
                is_int((long long)m->layers[1].size, 200, "  layer size");
                is_str(m->layers[0].digest, DB, "  bottom layer first");
        }
        manifest_free(m);

        /* OCI without mediaType in the body: the Content-Type decides */
        const char *oci = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
                "\"layers\":[]}";
        is_int(parse(oci, MT_OCI_MANIFEST "; charset=utf-8", &m, &e), 0, "OCI manifest by Content-Type");
        ok(m && m->kind == MANIFEST_IMAGE && m->n_layers == 0, "  no layers is fine");
        is_str(m ? m->media_type : NULL, MT_OCI_MANIFEST, "  media type from Content-Type");
        manifest_free(m);
        is_int(parse(oci, NULL, &m, &e), 0, "OCI manifest without any media type");
        manifest_free(m);
}

static void test_refusals(void)
{
        struct manifest *m = NULL;
        struct err e = { 0 };
        is_int(parse("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", NULL, &m, &e), -ENOTSUP, "schema 1 refused");
        ok(strstr(e.msg, "schema 1") != NULL, "  says schema 1 (%s)", e.msg);
        is_int(parse("{\"schemaVersion\":2}", MT_DOCKER_SCHEMA1S, &m, &e), -ENOTSUP, "schema 1 Content-Type refused");
        is_int(parse("[1,2]", NULL, &m, &e), -EBADMSG, "not an object");
        is_int(parse("{\"schemaVersion\":2,", NULL, &m, &e), -EBADMSG, "truncated JSON");
        is_int(parse("{\"schemaVersion\":3}", NULL, &m, &e), -EBADMSG, "schemaVersion 3");
        is_int(parse("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", NULL, &m, &e), -ENOTSUP, "unknown media type");
        is_int(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"size\":1,\"digest\":\"md5:abc\"},\"layers\":[]}",
                     NULL, &m, &e), -EBADMSG, "non-sha256 digest refused");
        is_int(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"size\":-1,\"digest\":\"" DA "\"},\"layers\":[]}",
                     NULL, &m, &e), -EBADMSG, "negative size refused");
        is_int(parse("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"size\":1,\"digest\":\"" DA "\"}}",
                     NULL, &m, &e), -EBADMSG, "missing layers refused");
        is_int(parse("{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, &m, &e), -EBADMSG, "duplicate keys refused");
        char *big = malloc(FETCH_MANIFEST_MAX + 2);
        memset(big, ' ', FETCH_MANIFEST_MAX + 1);
        big[FETCH_MANIFEST_MAX + 1] = '\0';
        is_int(manifest_parse(big, FETCH_MANIFEST_MAX + 1, NULL, &m, &e), -EFBIG, "manifest past the ceiling");
        free(big);
        ok(m == NULL, "nothing returned on failure");
}

static const char *index_json =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" DA "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" DB "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" DC "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":10,\"digest\":\"" DD "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}}"
        "]}";

static const char *select_for(struct manifest *m, const char *plat)
{
        struct platform p;
        struct err e = { 0 };
        if (platform_parse(plat, &p, &e) < 0)
                return "parse error";
        const struct descriptor *d = NULL;
        int r = manifest_select(m, &p, &d, &e);
        platform_free(&p);
        return r < 0 ? "none" : d->digest;
}

/* "os/arch[/variant]" of what platform_parse() makes of @s; "error" on failure. */
static const char *parsed(const char *s)
{
        static char out[64];
        struct platform p;
        struct err e = { 0 };
        if (platform_parse(s, &p, &e) < 0)
                return "error";
        char *t = platform_str(&p);
        snprintf(out, sizeof out, "%s", t);
        free(t);
        platform_free(&p);
        return out;
}

static void test_index(void)
{
        struct manifest *m = NULL;
        struct err e = { 0 };
        is_int(parse(index_json, NULL, &m, &e), 0, "OCI index");
        if (!m)
                return;
        ok(m->kind == MANIFEST_INDEX && m->n_manifests == 4, "  four entries");
        is_str(select_for(m, "linux/amd64"), DA, "linux/amd64");
        is_str(select_for(m, "linux/x86_64"), DA, "x86_64 is amd64");
        is_str(select_for(m, "linux/arm64"), DB, "linux/arm64 matches v8");
        is_str(select_for(m, "linux/arm64/v8"), DB, "linux/arm64/v8");
        is_str(select_for(m, "linux/aarch64"), DB, "aarch64 is arm64");
        is_str(select_for(m, "linux/arm/v7"), DD, "linux/arm/v7 exact");
        is_str(select_for(m, "linux/arm/v6"), DC, "linux/arm/v6 exact");
        is_str(select_for(m, "linux/arm/v5"), "none", "linux/arm/v5 absent");
        is_str(select_for(m, "windows/amd64"), "none", "windows/amd64 absent");
        struct platform p, h;
        platform_parse("linux/s390x", &p, &e);
        const struct descriptor *d;
        is_int(manifest_select(m, &p, &d, &e), -ENOENT, "missing platform is ENOENT");
        ok(strstr(e.msg, "linux/s390x") && strstr(e.msg, "linux/arm64/v8"), "  names wanted and offered (%s)", e.msg);
        platform_free(&p);
        manifest_free(m);

        /* arm64 entry without a variant still matches linux/arm64/v8 */
        const char *novar = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
                "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"size\":1,\"digest\":\"" DB "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
        is_int(parse(novar, NULL, &m, &e), 0, "Docker manifest list");
        if (m)
                is_str(select_for(m, "linux/arm64/v8"), DB, "arm64 without variant matches v8");
        manifest_free(m);

        /* one part, as docker takes it (containerd's platforms.Parse) */
        is_str(parsed("arm64"), "linux/arm64", "arm64 alone is linux/arm64");
        is_str(parsed("aarch64"), "linux/arm64", "aarch64 alone is linux/arm64");
        is_str(parsed("AMD64"), "linux/amd64", "case does not matter");
        is_str(parsed("x86_64"), "linux/amd64", "x86_64 alone is linux/amd64");
        is_str(parsed("armhf"), "linux/arm/v7", "armhf is arm/v7");
        is_str(parsed("linux/armel"), "linux/arm/v6", "armel is arm/v6");
        is_str(parsed("s390x"), "linux/s390x", "s390x alone");
        platform_host(&h);
        _cleanup_free_ char *hs = platform_str(&h);
        is_str(parsed("linux"), hs, "an OS alone takes the host's arch");
        platform_free(&h);
        is_int(platform_parse("pdp11", &p, &e), -EINVAL, "unknown one-part platform refused");
        ok(strstr(e.msg, "unknown operating system or architecture") != NULL, "  says why (%s)", e.msg);
        is_int(platform_parse("", &p, &e), -EINVAL, "empty platform refused");
        /* an image's platform against the one asked for */
        struct platform amd = { "linux", "amd64", NULL }, arm = { "linux", "arm64", NULL };
        struct platform arm8 = { "linux", "arm64", "v8" }, arm7 = { "linux", "arm", "v7" }, arm6 = { "linux", "arm", "v6" };
        struct platform armany = { "linux", "arm", NULL };
        ok(!platform_matches(&amd, &arm), "amd64 does not serve arm64");
        ok(platform_matches(&arm, &arm8) && platform_matches(&arm8, &arm), "arm64 and arm64/v8 alike");
        ok(!platform_matches(&arm6, &arm7), "arm/v6 does not serve arm/v7");
        ok(platform_matches(&arm7, &armany), "arm/v7 serves arm");
        is_int(platform_parse("linux/arm/v7/x", &p, &e), -EINVAL, "platform with 4 parts refused");
        is_int(platform_parse("/amd64", &p, &e), -EINVAL, "platform without os refused");
        platform_host(&h);
        ok(h.os && !strcmp(h.os, "linux") && h.arch && *h.arch, "host platform is linux/something");
        platform_free(&h);
}

static void test_config(void)
{
        struct image_config c;
        struct err e = { 0 };
        const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05.123Z\","
                "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\"]}}";
        is_int(config_parse(cfg, strlen(cfg), &c, &e), 0, "config");
        is_int((long long)c.n_diff_ids, 2, "  two diff_ids");
        is_str(c.diff_ids[1], DB, "  order kept");
        is_str(c.arch, "amd64", "  architecture");
        is_int(c.created, 1704164645, "  created");
        config_free(&c);
        const char *bad = "{\"rootfs\":{\"diff_ids\":[\"nope\"]}}";
        is_int(config_parse(bad, strlen(bad), &c, &e), -EBADMSG, "bad diff_id refused");
        is_int(config_parse("{}", 2, &c, &e), -EBADMSG, "config without rootfs refused");
}

static void test_registry_error(void)
{
        char msg[128];
        const char *b = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{}}]}";
        ok(fetch_registry_error(b, strlen(b), msg, sizeof msg), "registry error body");
        is_str(msg, "manifest unknown", "  its message");
        const char *c = "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}";
        ok(fetch_registry_error(c, strlen(c), msg, sizeof msg) && !strcmp(msg, "UNAUTHORIZED"), "code when no message");
        ok(!fetch_registry_error("<html>", 6, msg, sizeof msg), "HTML is not one");
        const char *ctl = "{\"errors\":[{\"message\":\"a\\u001b[2Jb\"}]}";
        ok(fetch_registry_error(ctl, strlen(ctl), msg, sizeof msg) && !strchr(msg, 0x1b), "control characters replaced");
}

int main(void)
{
        test_image();
        test_refusals();
        test_index();
        test_config();
        test_registry_error();
        return tap_done();
}
