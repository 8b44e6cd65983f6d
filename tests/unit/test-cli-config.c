/* Unit tests for cli/config.c: strata's config.json, daemon.json fallback,
 * one-line errors naming file, line and key. */
#include "cli/config.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <fcntl.h>
#include <string.h>

static char dir[128];

static char *write_tmp(const char *name, const char *text)
{
        char *p = xasprintf("%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        fputs(text, f);
        fclose(f);
        return p;
}

static int load(const char *strata_json, const char *daemon_json, struct config *c, struct err *e)
{
        _cleanup_free_ char *a = strata_json ? write_tmp("config.json", strata_json) : xasprintf("%s/none.json", dir);
        _cleanup_free_ char *b = daemon_json ? write_tmp("daemon.json", daemon_json) : xstrdup("");
        setenv("STRATA_DOCKER_DAEMON_JSON", b, 1);
        err_clear(e);
        return cfg_load(strata_json ? a : NULL, c, e);
}

int main(void)
{
        snprintf(dir, sizeof dir, "/tmp/strata-test-config-%d", (int)getpid());
        mkdir_p(dir, 0700, NULL);
        unsetenv("STRATA_CONFIG");
        unsetenv("STRATA_REGISTRY_MIRRORS");
        struct config c;
        struct err e = { 0 };

        /* no files: defaults */
        unsetenv("STRATA_CONFIG");
        setenv("STRATA_DOCKER_DAEMON_JSON", "", 1);
        is_int(cfg_load(NULL, &c, &e) < 0 ? 1 : 0, 0, "defaults load without files");
        cfg_free(&c);

        is_int(load("{\"registry-mirrors\": [\"https://m1.example/\", \"http://m2:5000\"],\n"
                    " \"insecure-registries\": [\"r.local:5000\"],\n"
                    " \"registries\": {\"reg.example:443\": {\"mirrors\": [\"https://m3\"], \"insecure\": true}},\n"
                    " \"mirror-connect-timeout\": 2, \"mirror-stall-timeout\": 1.5}",
                    NULL, &c, &e),
               0, "a full config loads");
        is_int((long long)c.mirrors.n, 2, "two hub mirrors");
        is_str(c.mirrors.v[0], "https://m1.example", "trailing slash dropped");
        ok(strv_has(&c.insecure, "r.local:5000"), "insecure registry kept");
        const struct registry_conf *rc = cfg_registry(&c, "reg.example:443");
        ok(rc && rc->insecure && rc->mirrors.n == 1, "per-registry mirrors and insecure");
        is_int(c.connect_timeout_s, 2, "connect timeout");
        is_int(c.stall_timeout_s, 2, "stall timeout rounded up");
        cfg_free(&c);

        /* daemon.json fills only what strata's file leaves unset */
        is_int(load("{\"insecure-registries\": [\"mine:1\"]}",
                    "{\"registry-mirrors\": [\"https://docker-mirror\"], \"insecure-registries\": [\"theirs:2\"],"
                    " \"log-driver\": \"json-file\"}",
                    &c, &e),
               0, "daemon.json fallback loads (dockerd's other keys ignored)");
        ok(c.mirrors.n == 1 && !strcmp(c.mirrors.v[0], "https://docker-mirror"), "mirrors from daemon.json");
        ok(c.insecure.n == 1 && !strcmp(c.insecure.v[0], "mine:1"), "strata's own key wins");
        ok(c.mirrors_from && strstr(c.mirrors_from, "daemon.json"), "source of the mirrors recorded");
        cfg_free(&c);

        /* errors: file, line, key */
        ok(load("{\n\"registry-mirrors\": \"https://x\"\n}", NULL, &c, &e) < 0, "mirrors not an array refused");
        ok(strstr(e.msg, "config.json: line 2: \"registry-mirrors\""), "names file, line and key: %s", e.msg);
        ok(load("{\n  \"registry-mirrors\": [\"ftp://x\"]}", NULL, &c, &e) < 0, "non-http mirror refused");
        ok(strstr(e.msg, "line 2") && strstr(e.msg, "URL"), "says why: %s", e.msg);
        ok(load("{\n\n  \"mirrors\": []}", NULL, &c, &e) < 0, "unknown key refused");
        ok(strstr(e.msg, "line 3: \"mirrors\" is not a strata configuration key"), "unknown key named: %s", e.msg);
        ok(load("{\n \"registry-mirrors\": [,]\n}", NULL, &c, &e) < 0, "JSON syntax error refused");
        ok(strstr(e.msg, "config.json: line 2:"), "syntax error line: %s", e.msg);
        ok(load("[1]", NULL, &c, &e) < 0, "non-object refused");
        ok(load("{\"mirror-stall-timeout\": -1}", NULL, &c, &e) < 0, "negative timeout refused");
        ok(load(NULL, "{\"registry-mirrors\": 5}", &c, &e) < 0, "bad daemon.json refused too");
        ok(strstr(e.msg, "daemon.json"), "daemon.json named: %s", e.msg);

        /* a key given twice: one line with the file, the line and the key
         * (jansson names only short keys itself), at any depth */
        ok(load("{\n \"search-index\": \"https://a\",\n \"search-index\": \"https://b\"\n}", NULL, &c, &e) < 0,
           "a key given twice refused");
        ok(strstr(e.msg, "config.json: line 3: \"search-index\" is given twice"), "names file, line and key: %s", e.msg);
        ok(load("{\"registries\": {\"reg.example\": {},\n\n \"reg.example\": {\"insecure\": true}}}", NULL, &c,
                &e) < 0, "a registry given twice refused");
        ok(strstr(e.msg, "line 3: \"reg.example\" is given twice"), "nested key named: %s", e.msg);
        ok(load("{\"registries\": {\"a-registry-with-a-long-name.example:5000\": {},\n"
                "\"a-registry-with-a-long-name.example:5000\": {}}}", NULL, &c, &e) < 0, "a long key twice refused");
        ok(strstr(e.msg, "line 2: \"a-registry-with-a-long-name.example:5000\" is given twice"), "long key named: %s",
           e.msg);
        is_int(load(NULL, "{\"registry-mirrors\": [\"https://x\"], \"registry-mirrors\": [\"https://y\"]}", &c, &e), 0,
               "daemon.json read as dockerd reads it: the last one wins");
        ok(c.mirrors.n == 1 && !strcmp(c.mirrors.v[0], "https://y"), "daemon.json's last mirrors");
        cfg_free(&c);

        /* a missing --config file is an error; environment mirrors override */
        ok(cfg_load("/nonexistent/x.json", &c, &e) < 0, "missing --config file refused");
        setenv("STRATA_DOCKER_DAEMON_JSON", "", 1);
        setenv("STRATA_REGISTRY_MIRRORS", "https://a,https://b", 1);
        is_int(cfg_load(NULL, &c, &e), 0, "env mirrors load");
        ok(c.mirrors.n == 2 && !strcmp(c.mirrors.v[1], "https://b"), "env mirrors in order");
        cfg_free(&c);
        setenv("STRATA_REGISTRY_MIRRORS", "nope", 1);
        ok(cfg_load(NULL, &c, &e) < 0, "bad env mirror refused");
        unsetenv("STRATA_REGISTRY_MIRRORS");

        rm_rf_at(AT_FDCWD, dir, &e);
        return tap_done();
}
