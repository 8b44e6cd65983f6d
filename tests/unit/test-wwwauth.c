/* fetch/auth.c: WWW-Authenticate challenges and docker config.json
 * credentials. */
#include "fetch/fetch.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <string.h>

static void test_challenges(void)
{
        struct www_auth w;
        struct err e = { 0 };
        is_int(wwwauth_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                             "scope=\"repository:library/ubuntu:pull\"", &w, &e), 0, "Docker Hub challenge");
        is_str(w.scheme, "bearer", "  scheme lowercased");
        is_str(w.realm, "https://auth.docker.io/token", "  realm");
        is_str(w.service, "registry.docker.io", "  service");
        is_str(w.scope, "repository:library/ubuntu:pull", "  scope");
        wwwauth_free(&w);

        is_int(wwwauth_parse("BASIC realm=\"Registry Realm\"", &w, &e), 0, "Basic challenge");
        is_str(w.scheme, "basic", "  scheme");
        is_str(w.realm, "Registry Realm", "  realm with a space");
        wwwauth_free(&w);

        is_int(wwwauth_parse("Bearer realm=\"http://x/t\", error=\"insufficient_scope\" , scope=a:b:pull", &w, &e), 0,
               "spaces around commas, token value");
        is_str(w.error, "insufficient_scope", "  error");
        is_str(w.scope, "a:b:pull", "  unquoted scope");
        wwwauth_free(&w);

        is_int(wwwauth_parse("Bearer realm=\"a\\\"b\\\\c\"", &w, &e), 0, "escapes in a quoted string");
        is_str(w.realm, "a\"b\\c", "  unescaped");
        wwwauth_free(&w);

        is_int(wwwauth_parse("Bearer realm=\"x\", Basic realm=\"y\"", &w, &e), 0, "two challenges: the first one");
        is_str(w.realm, "x", "  first realm kept");
        wwwauth_free(&w);

        is_int(wwwauth_parse("Bearer REALM=\"x\",Service=s", &w, &e), 0, "parameter names are case-insensitive");
        is_str(w.realm, "x", "  realm");
        is_str(w.service, "s", "  service");
        wwwauth_free(&w);

        is_int(wwwauth_parse("Bearer", &w, &e), 0, "scheme alone");
        ok(!w.realm, "  no realm");
        wwwauth_free(&w);

        is_int(wwwauth_parse("", &w, &e), -EINVAL, "empty refused");
        is_int(wwwauth_parse("Bearer realm=\"unterminated", &w, &e), -EINVAL, "unterminated quote refused");
        is_int(wwwauth_parse("Bearer realm=\"x\" junk=", &w, &e), -EINVAL, "missing comma refused");
        is_int(wwwauth_parse("\"Bearer\"", &w, &e), -EINVAL, "quoted scheme refused");
        ok(!w.scheme && !w.realm, "nothing left allocated after a refusal");
}

static int lookup(const char *json, const char *reg, char **u, char **p, struct err *e)
{
        return dockerconfig_lookup(json, strlen(json), reg, u, p, e);
}

static void test_config(void)
{
        char *u, *p;
        struct err e = { 0 };
        /* "joe:s3cret:with:colons" */
        const char *cfg = "{\"auths\":{"
                "\"https://index.docker.io/v1/\":{\"auth\":\"am9lOnMzY3JldDp3aXRoOmNvbG9ucw==\"},"
                "\"127.0.0.1:5000\":{\"username\":\"ann\",\"password\":\"pw\"},"
                "\"https://reg.example:8443\":{\"auth\":\"Ym9iOnB3\"},"
                "\"creds.example\":{}"
                "}}";
        is_int(lookup(cfg, "docker.io", &u, &p, &e), 0, "Docker Hub via index.docker.io/v1/");
        is_str(u, "joe", "  user");
        is_str(p, "s3cret:with:colons", "  password keeps its colons");
        free(u), free(p);
        is_int(lookup(cfg, "127.0.0.1:5000", &u, &p, &e), 0, "host:port with username/password");
        is_str(u, "ann", "  user");
        is_str(p, "pw", "  password");
        free(u), free(p);
        is_int(lookup(cfg, "reg.example:8443", &u, &p, &e), 0, "key with https:// prefix");
        is_str(u, "bob", "  user");
        free(u), free(p);
        is_int(lookup(cfg, "reg.example", &u, &p, &e), -ENOENT, "other port: no entry");
        is_int(lookup(cfg, "creds.example", &u, &p, &e), -ENOENT, "entry without credentials: none");
        is_int(lookup(cfg, "other.example", &u, &p, &e), -ENOENT, "unknown registry");
        is_int(lookup("{}", "docker.io", &u, &p, &e), -ENOENT, "no auths at all");
        is_int(lookup("{\"auths\":[]}", "docker.io", &u, &p, &e), -EINVAL, "auths not an object");
        is_int(lookup("{\"auths\":{\"docker.io\":{\"auth\":\"!!!!\"}}}", "docker.io", &u, &p, &e), -EINVAL, "bad base64");
        ok(strstr(e.msg, "docker.io") != NULL, "  names the key (%s)", e.msg);
        is_int(lookup("{\"auths\":{\"docker.io\":{\"auth\":\"bm9jb2xvbg==\"}}}", "docker.io", &u, &p, &e), -EINVAL,
               "auth without a colon");
        is_int(lookup("{\"auths\":", "docker.io", &u, &p, &e), -EINVAL, "truncated JSON");
        ok(strstr(e.msg, "line") != NULL, "  names the line (%s)", e.msg);
        ok(!u && !p, "nothing returned on failure");
}

int main(void)
{
        test_challenges();
        test_config();
        return tap_done();
}
