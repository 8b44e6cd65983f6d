/* Image configs and manifests for a new image: docker commit's -c changes,
 * the config with a new layer and history entry, the manifest in either
 * format.  Pure: JSON in, JSON out. */
#include "pack-internal.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------- -c changes */

/* Split @s into words as a Dockerfile's shell form does for ENV/LABEL:
 * blanks separate, "..." and '...' group, a backslash escapes. */
static int split_words(const char *s, char ***out, size_t *n, struct err *e)
{
        char **v = NULL;
        size_t cnt = 0;
        const char *p = s;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                struct buf w = BUF_INIT(1u << 20);
                char q = 0;
                for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
                        if (!q && (*p == '"' || *p == '\'')) {
                                q = *p;
                        } else if (q && *p == q) {
                                q = 0;
                        } else if (*p == '\\' && q != '\'' && p[1]) {
                                buf_append(&w, ++p, 1);
                        } else {
                                buf_append(&w, p, 1);
                        }
                }
                if (q) {
                        buf_free(&w);
                        for (size_t i = 0; i < cnt; i++)
                                free(v[i]);
                        free(v);
                        return err_setx(e, EINVAL, "unterminated quote in '%s'", s);
                }
                v = xrealloc(v, (cnt + 1) * sizeof *v);
                v[cnt++] = buf_steal(&w);
        }
        *out = v;
        *n = cnt;
        return 0;
}

static void words_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* CMD/ENTRYPOINT: a JSON array of strings, or the shell form. */
static int exec_form(const char *arg, json_t **out, struct err *e)
{
        if (*arg == '[') {
                json_error_t je;
                json_t *a = json_loads(arg, 0, &je);
                size_t i;
                json_t *x;
                bool good = json_is_array(a);
                json_array_foreach(a, i, x) good = good && json_is_string(x);
                if (good) {
                        *out = a;
                        return 0;
                }
                json_decref(a);
                /* docker takes a malformed array as the shell form */
        }
        *out = json_pack("[s, s, s]", "/bin/sh", "-c", arg);
        return 0;
}

/* ENV/LABEL pairs: "K=V K2=V2" (quotes allowed) or the old "K V...". */
static int pairs(const char *kw, const char *arg, json_t *into_obj, json_t *into_env, struct err *e)
{
        char **w;
        size_t n;
        int r = split_words(arg, &w, &n, e);
        if (r < 0)
                return r;
        if (n == 0) {
                words_free(w, n);
                return err_setx(e, EINVAL, "%s needs at least one argument", kw);
        }
        if (!strchr(w[0], '=')) {
                /* the old form: KEY the rest of the line */
                const char *rest = arg + strspn(arg, " \t");
                rest += strcspn(rest, " \t");
                rest += strspn(rest, " \t");
                _cleanup_free_ char *key = xstrdup(w[0]);
                words_free(w, n);
                w = xcalloc(1, sizeof *w);
                w[0] = xasprintf("%s=%s", key, rest);
                n = 1;
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *eq = strchr(w[i], '=');
                if (!eq || eq == w[i]) {
                        r = err_setx(e, EINVAL, "%s: '%s' is not KEY=VALUE", kw, w[i]);
                        break;
                }
                *eq = '\0';
                if (into_obj) {
                        json_object_set_new(into_obj, w[i], json_string(eq + 1));
                        continue;
                }
                /* ENV: replace KEY=... in place, else append */
                size_t klen = strlen(w[i]), k;
                json_t *x;
                bool done = false;
                _cleanup_free_ char *kv = xasprintf("%s=%s", w[i], eq + 1);
                json_array_foreach(into_env, k, x) {
                        const char *s = json_string_value(x);
                        if (s && !strncmp(s, w[i], klen) && s[klen] == '=') {
                                json_array_set_new(into_env, k, json_string(kv));
                                done = true;
                                break;
                        }
                }
                if (!done)
                        json_array_append_new(into_env, json_string(kv));
        }
        words_free(w, n);
        return r;
}

static json_t *obj_get(json_t *cfg, const char *key)
{
        json_t *o = json_object_get(cfg, key);
        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(cfg, key, o);
        }
        return o;
}

int pack_apply_change(json_t *cfg, const char *instr, struct err *e)
{
        const char *p = instr + strspn(instr, " \t");
        size_t kl = strcspn(p, " \t");
        _cleanup_free_ char *kw = xstrndup(p, kl);
        const char *arg = p + kl;
        arg += strspn(arg, " \t");
        for (char *c = kw; *c; c++)
                *c = (char)toupper((unsigned char)*c);
        if (!*arg)
                return err_setx(e, EINVAL, "%s needs an argument", kw);
        if (!strcmp(kw, "CMD") || !strcmp(kw, "ENTRYPOINT")) {
                json_t *v;
                int r = exec_form(arg, &v, e);
                if (r < 0)
                        return r;
                json_object_set_new(cfg, !strcmp(kw, "CMD") ? "Cmd" : "Entrypoint", v);
                return 0;
        }
        if (!strcmp(kw, "ENV")) {
                json_t *env = json_object_get(cfg, "Env");
                if (!json_is_array(env)) {
                        env = json_array();
                        json_object_set_new(cfg, "Env", env);
                }
                return pairs(kw, arg, NULL, env, e);
        }
        if (!strcmp(kw, "LABEL"))
                return pairs(kw, arg, obj_get(cfg, "Labels"), NULL, e);
        if (!strcmp(kw, "USER") || !strcmp(kw, "WORKDIR") || !strcmp(kw, "STOPSIGNAL")) {
                const char *key = !strcmp(kw, "USER") ? "User" : !strcmp(kw, "WORKDIR") ? "WorkingDir" : "StopSignal";
                _cleanup_free_ char *v = xstrdup(arg);
                for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
                        v[n - 1] = '\0';
                if (!strcmp(kw, "WORKDIR") && v[0] != '/')
                        return err_setx(e, EINVAL, "WORKDIR %s: the path must be absolute", v);
                json_object_set_new(cfg, key, json_string(v));
                return 0;
        }
        if (!strcmp(kw, "EXPOSE") || !strcmp(kw, "VOLUME")) {
                bool expose = !strcmp(kw, "EXPOSE");
                json_t *set = obj_get(cfg, expose ? "ExposedPorts" : "Volumes");
                json_t *arr = NULL;
                if (!expose && *arg == '[')
                        arr = json_loads(arg, 0, NULL);
                char **w = NULL;
                size_t n = 0;
                if (json_is_array(arr)) {
                        size_t i;
                        json_t *x;
                        json_array_foreach(arr, i, x)
                                if (json_is_string(x))
                                        json_object_set_new(set, json_string_value(x), json_object());
                        json_decref(arr);
                        return 0;
                }
                json_decref(arr);
                int r = split_words(arg, &w, &n, e);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        if (!expose) {
                                json_object_set_new(set, w[i], json_object());
                                continue;
                        }
                        /* PORT[/PROTO]: a number and tcp, udp or sctp */
                        char *sl = strchr(w[i], '/');
                        const char *proto = sl ? sl + 1 : "tcp";
                        if (sl)
                                *sl = '\0';
                        char *end;
                        long port = strtol(w[i], &end, 10);
                        if (!*w[i] || *end || port < 1 || port > 65535 ||
                            (strcasecmp(proto, "tcp") && strcasecmp(proto, "udp") && strcasecmp(proto, "sctp"))) {
                                r = err_setx(e, EINVAL, "EXPOSE: invalid port '%s%s%s'", w[i], sl ? "/" : "",
                                             sl ? proto : "");
                                break;
                        }
                        _cleanup_free_ char *key = xasprintf("%ld/%s", port, proto);
                        for (char *c = key; *c; c++)
                                *c = (char)tolower((unsigned char)*c);
                        json_object_set_new(set, key, json_object());
                }
                words_free(w, n);
                return r;
        }
        return err_setx(e, EINVAL, "unsupported instruction '%s' (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, "
                                   "WORKDIR, VOLUME, STOPSIGNAL)", kw);
}

/* ---------------------------------------------------------------- config */

void pack_time_str(time_t t, char out[32])
{
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool pack_source_date_epoch(time_t *t)
{
        const char *s = getenv("SOURCE_DATE_EPOCH");
        if (!s || !*s)
                return false;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (*end || v < 0)
                return false;
        *t = (time_t)v;
        return true;
}

int pack_config_commit(json_t *parent, const char *const *changes, size_t n_changes, const char *diff_id,
                       const struct pack_commit_info *ci, json_t **out, struct err *e)
{
        json_t *c = parent ? json_deep_copy(parent) : json_object();
        if (!json_is_object(c)) {
                json_decref(c);
                return err_setx(e, EBADMSG, "the parent's config is not a JSON object");
        }
        if (!parent) {
                json_object_set_new(c, "architecture", json_string("amd64"));
                json_object_set_new(c, "os", json_string("linux"));
        }
        json_t *cfg = obj_get(c, "config");
        for (size_t i = 0; i < n_changes; i++) {
                int r = pack_apply_change(cfg, changes[i], e);
                if (r < 0) {
                        json_decref(c);
                        return err_wrap(e, "-c '%s'", changes[i]);
                }
        }
        json_t *rootfs = obj_get(c, "rootfs");
        json_object_set_new(rootfs, "type", json_string("layers"));
        json_t *ids = json_object_get(rootfs, "diff_ids");
        if (!json_is_array(ids)) {
                ids = json_array();
                json_object_set_new(rootfs, "diff_ids", ids);
        }
        if (diff_id)
                json_array_append_new(ids, json_string(diff_id));
        char when[32];
        pack_time_str(ci->created, when);
        json_object_set_new(c, "created", json_string(when));
        if (ci->author)
                json_object_set_new(c, "author", json_string(ci->author));
        else
                json_object_del(c, "author");
        json_t *hist = json_object_get(c, "history");
        if (!json_is_array(hist)) {
                hist = json_array();
                json_object_set_new(c, "history", hist);
        }
        json_t *h = json_pack("{s:s}", "created", when);
        if (ci->created_by)
                json_object_set_new(h, "created_by", json_string(ci->created_by));
        if (ci->author)
                json_object_set_new(h, "author", json_string(ci->author));
        if (ci->comment)
                json_object_set_new(h, "comment", json_string(ci->comment));
        if (ci->empty_layer || !diff_id)
                json_object_set_new(h, "empty_layer", json_true());
        json_array_append_new(hist, h);
        /* docker's container-time fields describe the parent's build, not this one */
        json_object_del(c, "container");
        json_object_del(c, "container_config");
        *out = c;
        return 0;
}

/* ---------------------------------------------------------------- manifest */

const char *pack_layer_media_type(enum pack_format f, enum pack_compression c)
{
        if (f == PACK_FORMAT_DOCKER)
                return c == PACK_GZIP ? MT_DOCKER_LAYER ".gzip" : c == PACK_NONE ? MT_DOCKER_LAYER : NULL;
        return c == PACK_GZIP ? MT_OCI_LAYER "+gzip" : c == PACK_ZSTD ? MT_OCI_LAYER "+zstd" : MT_OCI_LAYER;
}

const char *pack_convert_media_type(enum pack_format f, const char *mt)
{
        if (!mt)
                return NULL;
        enum pack_compression c;
        if (!strcmp(mt, MT_DOCKER_LAYER ".gzip") || !strcmp(mt, MT_OCI_LAYER "+gzip"))
                c = PACK_GZIP;
        else if (!strcmp(mt, MT_DOCKER_LAYER) || !strcmp(mt, MT_OCI_LAYER))
                c = PACK_NONE;
        else if (!strcmp(mt, MT_OCI_LAYER "+zstd"))
                c = PACK_ZSTD;
        else
                return NULL;
        return pack_layer_media_type(f, c);
}

char *pack_json_dump(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!s)
                abort();   /* only out of memory */
        return s;
}

int pack_manifest(enum pack_format f, const struct pack_desc *config, const struct pack_desc *layers, size_t n,
                  char **out, struct err *e)
{
        json_t *ls = json_array();
        for (size_t i = 0; i < n; i++) {
                const char *mt = pack_convert_media_type(f, layers[i].media_type);
                if (!mt) {
                        json_decref(ls);
                        return err_setx(e, EINVAL, "layer %zu (%s) has media type %s, which the %s format cannot say",
                                        i, layers[i].digest, layers[i].media_type ? layers[i].media_type : "(none)",
                                        f == PACK_FORMAT_DOCKER ? "docker" : "oci");
                }
                json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", layers[i].digest,
                                                    "size", (json_int_t)layers[i].size));
        }
        json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                              f == PACK_FORMAT_DOCKER ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST, "config", "mediaType",
                              f == PACK_FORMAT_DOCKER ? MT_DOCKER_CONFIG : MT_OCI_CONFIG, "digest", config->digest,
                              "size", (json_int_t)config->size, "layers", ls);
        *out = pack_json_dump(m);
        json_decref(m);
        return 0;
}
