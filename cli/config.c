/* Loading the configuration (see config.h). */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CONFIG_FILE_MAX (1u << 20)
#define DEFAULT_CONFIG "/etc/strata/config.json"
#define DEFAULT_DAEMON_JSON "/etc/docker/daemon.json"

void strv_push(struct strv *s, const char *x)
{
        s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
        s->v[s->n++] = xstrdup(x);
}

void strv_free(struct strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        s->v = NULL;
        s->n = 0;
}

bool strv_has(const struct strv *s, const char *x)
{
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], x))
                        return true;
        return false;
}

/* The line of the first occurrence of "key" in @text: a key-level error
 * names it, since jansson keeps no positions for values. */
static int line_of(const char *text, const char *key)
{
        _cleanup_free_ char *q = xasprintf("\"%s\"", key);
        const char *p = strstr(text, q);
        if (!p)
                return 0;
        int line = 1;
        for (const char *c = text; c < p; c++)
                line += *c == '\n';
        return line;
}

static int bad_key(struct err *e, const char *file, const char *text, const char *key, const char *why)
{
        int line = line_of(text, key);
        if (line > 0)
                return err_setx(e, EINVAL, "%s: line %d: \"%s\" %s", file, line, key, why);
        return err_setx(e, EINVAL, "%s: \"%s\" %s", file, key, why);
}

static bool url_ok(const char *u)
{
        return (!strncmp(u, "https://", 8) && u[8]) || (!strncmp(u, "http://", 7) && u[7]);
}

/* A JSON array of strings into @out; URLs checked when @urls. */
static int get_strings(json_t *v, bool urls, struct strv *out, const char **why)
{
        if (!json_is_array(v)) {
                *why = urls ? "must be an array of URL strings" : "must be an array of strings";
                return -EINVAL;
        }
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
                const char *s = json_string_value(x);
                if (!s || !*s || (urls && !url_ok(s))) {
                        *why = urls ? "must hold http:// or https:// URLs" : "must hold non-empty strings";
                        strv_free(out);
                        return -EINVAL;
                }
                /* "https://mirror/" and "https://mirror" are one mirror */
                size_t n = strlen(s);
                while (urls && n > 8 && s[n - 1] == '/')
                        n--;
                _cleanup_free_ char *t = xstrndup(s, n);
                strv_push(out, t);
        }
        return 0;
}

/* key_before() - the JSON string (quotes and escapes as written) that ends
 * at @pos in @text: jansson's position after a duplicate key, whose
 * message names only short keys. */
static char *key_before(const char *text, size_t pos)
{
        if (pos < 2 || text[pos - 1] != '"')
                return xstrdup("a key");
        size_t start = pos - 1;
        while (start-- > 0) {
                size_t bs = 0;
                while (start > bs && text[start - 1 - bs] == '\\')
                        bs++;
                if (text[start] == '"' && bs % 2 == 0)
                        return xstrndup(text + start, pos - start);
        }
        return xstrdup("a key");
}

/* load_json() - @path as a JSON object.  strata's own file (@strict)
 * refuses a key given twice (which would silently keep the last one);
 * dockerd's daemon.json is read as dockerd reads it (the last one wins). */
static int load_json(const char *path, bool must_exist, bool strict, json_t **out, char **text, struct err *e)
{
        struct buf b = BUF_INIT(CONFIG_FILE_MAX);
        *out = NULL;
        int r = read_file_bounded(path, CONFIG_FILE_MAX, &b, e);
        if (r == -ENOENT && !must_exist) {
                err_clear(e);
                buf_free(&b);
                return 0;
        }
        if (r < 0) {
                buf_free(&b);
                return err_wrap(e, "config");
        }
        json_error_t je;
        json_t *j = json_loadb(b.data, b.len, strict ? JSON_REJECT_DUPLICATES : 0, &je);
        if (!j) {
                if (json_error_code(&je) == json_error_duplicate_key) {
                        _cleanup_free_ char *key = key_before(b.data, (size_t)je.position);
                        r = err_setx(e, EINVAL, "%s: line %d: %s is given twice", path, je.line, key);
                } else {
                        r = err_setx(e, EINVAL, "%s: line %d: %s", path, je.line, je.text);
                }
                buf_free(&b);
                return r;
        }
        if (!json_is_object(j)) {
                json_decref(j);
                buf_free(&b);
                return err_setx(e, EINVAL, "%s: line 1: the configuration must be a JSON object", path);
        }
        *out = j;
        *text = buf_steal(&b);
        return 1;
}

static int parse_registries(json_t *regs, const char *file, const char *text, struct config *c, struct err *e)
{
        if (!json_is_object(regs))
                return bad_key(e, file, text, "registries", "must be an object keyed by HOST[:PORT]");
        const char *host;
        json_t *o;
        json_object_foreach(regs, host, o) {
                if (!json_is_object(o) || !*host || strchr(host, '/'))
                        return bad_key(e, file, text, host, "must be {\"mirrors\": [URL...], \"insecure\": BOOL} under a HOST[:PORT] key");
                struct registry_conf rc = { .host = xstrdup(host) };
                json_t *m = json_object_get(o, "mirrors"), *ins = json_object_get(o, "insecure");
                const char *why = NULL;
                if (m && get_strings(m, true, &rc.mirrors, &why) < 0) {
                        free(rc.host);
                        return bad_key(e, file, text, "mirrors", why);
                }
                if (ins && !json_is_boolean(ins)) {
                        free(rc.host);
                        strv_free(&rc.mirrors);
                        return bad_key(e, file, text, "insecure", "must be true or false");
                }
                rc.insecure = json_is_true(ins);
                c->registries = xrealloc(c->registries, (c->n_registries + 1) * sizeof *c->registries);
                c->registries[c->n_registries++] = rc;
        }
        return 0;
}

static int get_seconds(json_t *j, const char *key, const char *file, const char *text, long *out, struct err *e)
{
        json_t *v = json_object_get(j, key);
        if (!v)
                return 0;
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 3600)
                return bad_key(e, file, text, key, "must be a number of seconds between 1 and 3600");
        *out = (long)(json_number_value(v) + 0.999);
        return 0;
}

static int parse_strata(json_t *j, const char *file, const char *text, struct config *c, struct err *e)
{
        static const char *const known[] = { "registry-mirrors", "insecure-registries", "registries",
                                              "mirror-connect-timeout", "mirror-stall-timeout", "mirror-min-speed", "certs-dirs",
                                              "search-index", "mount-driver" };
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
                bool ok = false;
                for (size_t i = 0; i < ARRAY_SIZE(known); i++)
                        ok |= !strcmp(key, known[i]);
                if (!ok)
                        return bad_key(e, file, text, key, "is not a strata configuration key");
        }
        const char *why = NULL;
        if ((v = json_object_get(j, "registry-mirrors"))) {
                if (get_strings(v, true, &c->mirrors, &why) < 0)
                        return bad_key(e, file, text, "registry-mirrors", why);
                c->mirrors_from = c->file;
        }
        if ((v = json_object_get(j, "insecure-registries"))) {
                if (get_strings(v, false, &c->insecure, &why) < 0)
                        return bad_key(e, file, text, "insecure-registries", why);
                c->insecure_from = c->file;
        }
        if ((v = json_object_get(j, "certs-dirs"))) {
                if (get_strings(v, false, &c->certs_dirs, &why) < 0)
                        return bad_key(e, file, text, "certs-dirs", why);
        }
        if ((v = json_object_get(j, "registries"))) {
                int r = parse_registries(v, file, text, c, e);
                if (r < 0)
                        return r;
        }
        if ((v = json_object_get(j, "search-index"))) {
                if (!json_is_string(v) || !url_ok(json_string_value(v)))
                        return bad_key(e, file, text, "search-index", "must be an http:// or https:// URL");
                c->search_index = xstrdup(json_string_value(v));
        }
        if ((v = json_object_get(j, "mount-driver"))) {
                const char *d = json_string_value(v);
                if (!d || (strcmp(d, "fuse") && strcmp(d, "kernel")))
                        return bad_key(e, file, text, "mount-driver", "must be \"fuse\" or \"kernel\"");
                c->mount_driver = xstrdup(d);
        }
        int r = get_seconds(j, "mirror-connect-timeout", file, text, &c->connect_timeout_s, e);
        if (r == 0)
                r = get_seconds(j, "mirror-stall-timeout", file, text, &c->stall_timeout_s, e);
        if (r == 0 && (v = json_object_get(j, "mirror-min-speed"))) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1ll << 30))
                        return bad_key(e, file, text, "mirror-min-speed", "must be a whole number of bytes per second (0 turns the rule off)");
                c->min_speed = (long)json_integer_value(v);
        }
        return r;
}

/* daemon.json: only the keys strata shares with dockerd, only where strata's
 * own file left them unset; dockerd's other keys are none of our business. */
static int parse_docker(json_t *j, const char *file, const char *text, struct config *c, struct err *e)
{
        const char *why = NULL;
        json_t *v;
        if (!c->mirrors_from && (v = json_object_get(j, "registry-mirrors"))) {
                if (get_strings(v, true, &c->mirrors, &why) < 0)
                        return bad_key(e, file, text, "registry-mirrors", why);
                c->mirrors_from = c->docker_file;
        }
        if (!c->insecure_from && (v = json_object_get(j, "insecure-registries"))) {
                if (get_strings(v, false, &c->insecure, &why) < 0)
                        return bad_key(e, file, text, "insecure-registries", why);
                c->insecure_from = c->docker_file;
        }
        return 0;
}

static int load_all(const char *path, struct config *c, struct err *e)
{
        c->connect_timeout_s = 3;
        c->stall_timeout_s = 5;
        c->min_speed = 10240;
        const char *env = getenv("STRATA_CONFIG");
        bool explicit = path || (env && *env);
        const char *file = path ? path : (env && *env) ? env : DEFAULT_CONFIG;
        json_t *j = NULL;
        _cleanup_free_ char *text = NULL;
        int r = load_json(file, explicit, true, &j, &text, e);
        if (r < 0)
                return r;
        if (r > 0) {
                c->file = xstrdup(file);
                r = parse_strata(j, file, text, c, e);
                json_decref(j);
                if (r < 0)
                        return r;
        }
        const char *dj = getenv("STRATA_DOCKER_DAEMON_JSON");
        const char *dfile = dj ? dj : DEFAULT_DAEMON_JSON;
        _cleanup_free_ char *dtext = NULL;
        if (*dfile) {
                r = load_json(dfile, false, false, &j, &dtext, e);
                if (r < 0)
                        return r;
                if (r > 0) {
                        c->docker_file = xstrdup(dfile);
                        r = parse_docker(j, dfile, dtext, c, e);
                        json_decref(j);
                        if (r < 0)
                                return r;
                }
        }
        const char *em = getenv("STRATA_REGISTRY_MIRRORS");
        if (em && *em) {
                strv_free(&c->mirrors);
                _cleanup_free_ char *list = xstrdup(em);
                char *save = NULL;
                for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
                        if (!url_ok(u))
                                return err_setx(e, EINVAL, "STRATA_REGISTRY_MIRRORS: \"%s\" is not an http:// or https:// URL", u);
                        strv_push(&c->mirrors, u);
                }
                c->mirrors_from = "STRATA_REGISTRY_MIRRORS";
        }
        if (c->certs_dirs.n == 0) {
                strv_push(&c->certs_dirs, "/etc/strata/certs.d");
                strv_push(&c->certs_dirs, "/etc/docker/certs.d");
        }
        if (!c->search_index)
                c->search_index = xstrdup("https://index.docker.io");
        return 0;
}

int cfg_load(const char *path, struct config *c, struct err *e)
{
        memset(c, 0, sizeof *c);
        int r = load_all(path, c, e);
        if (r < 0)
                cfg_free(c);   /* on failure nothing is left to free */
        return r;
}

void cfg_set_cli_mirrors(struct config *c, const struct strv *urls)
{
        if (!urls->n)
                return;
        strv_free(&c->mirrors);
        for (size_t i = 0; i < urls->n; i++)
                strv_push(&c->mirrors, urls->v[i]);
        c->mirrors_from = "--registry-mirror";
}

void cfg_free(struct config *c)
{
        free(c->file);
        free(c->docker_file);
        strv_free(&c->mirrors);
        strv_free(&c->insecure);
        for (size_t i = 0; i < c->n_registries; i++) {
                free(c->registries[i].host);
                strv_free(&c->registries[i].mirrors);
        }
        free(c->registries);
        strv_free(&c->certs_dirs);
        free(c->search_index);
        free(c->mount_driver);
        memset(c, 0, sizeof *c);
}

const struct registry_conf *cfg_registry(const struct config *c, const char *host)
{
        for (size_t i = 0; i < c->n_registries; i++)
                if (!strcmp(c->registries[i].host, host))
                        return &c->registries[i];
        return NULL;
}
