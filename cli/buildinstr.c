/* strata build: the instructions that change the config, and docker's
 * expansion of their arguments (build-internal.h). */
#include "build-internal.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------- instructions */

/* The words of @in expanded: the exec form's elements one by one, the
 * shell form split (docker's ProcessWords). */
int expand_words(struct bstate *b, const struct bf_instr *in, char ***w, size_t *n, struct err *e)
{
        if (!in->json)
                return bf_words(in->args[0], b->f->escape, lookup_var, b, true, w, n, e);
        char **v = xcalloc(in->n_args + 1, sizeof *v);
        for (size_t i = 0; i < in->n_args; i++) {
                char **x;
                size_t xn;
                int r = bf_words(in->args[i], b->f->escape, lookup_var, b, false, &x, &xn, e);
                if (r < 0) {
                        bf_strv_free(v);
                        return r;
                }
                v[i] = xstrdup(xn ? x[0] : "");
                bf_strv_free(x);
        }
        *w = v;
        *n = in->n_args;
        return 0;
}

/* One word, the whole argument expanded (WORKDIR, USER, STOPSIGNAL). */
int expand_one(struct bstate *b, const char *s, char **out, struct err *e)
{
        char **w;
        size_t n;
        int r = bf_words(s, b->f->escape, lookup_var, b, false, &w, &n, e);
        if (r < 0)
                return r;
        *out = xstrdup(n ? w[0] : "");
        bf_strv_free(w);
        return 0;
}

/* ENV and LABEL: K=V pairs, values expanded against the state before the
 * instruction; applied in order.  @text gets "K=V K2=V2". */
int do_pairs(struct bstate *b, const struct bf_instr *in, struct buf *text, struct err *e)
{
        char **w;
        size_t n;
        int r = bf_pairs(in->args[0], b->f->escape, true, &w, &n, e);
        if (r < 0)
                return r;
        char **keys = xcalloc(n + 1, sizeof *keys), **vals = xcalloc(n + 1, sizeof *vals);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *eq = strchr(w[i], '=');
                if (!eq || eq == w[i]) {
                        r = err_setx(e, EINVAL, "%s: '%s' is not KEY=VALUE", in->keyword, w[i]);
                        break;
                }
                *eq = '\0';
                r = expand_one(b, w[i], &keys[i], e);
                if (r >= 0)
                        r = expand_one(b, eq + 1, &vals[i], e);
        }
        json_t *c = cfg_of(b);
        for (size_t i = 0; i < n && r >= 0; i++) {
                buf_printf(text, "%s%s=%s", i ? " " : "", keys[i], vals[i]);
                if (in->kind == BF_LABEL) {
                        json_t *l = json_object_get(c, "Labels");
                        if (!json_is_object(l)) {
                                l = json_object();
                                json_object_set_new(c, "Labels", l);
                        }
                        json_object_set_new(l, keys[i], json_string(vals[i]));
                        continue;
                }
                json_t *env = json_object_get(c, "Env");
                if (!json_is_array(env)) {
                        env = json_array();
                        json_object_set_new(c, "Env", env);
                }
                _cleanup_free_ char *kv = xasprintf("%s=%s", keys[i], vals[i]);
                size_t k, kl = strlen(keys[i]);
                json_t *x;
                bool done = false;
                json_array_foreach(env, k, x) {
                        const char *s = json_string_value(x);
                        if (s && !strncmp(s, keys[i], kl) && s[kl] == '=') {
                                json_array_set_new(env, k, json_string(kv));
                                done = true;
                                break;
                        }
                }
                if (!done)
                        json_array_append_new(env, json_string(kv));
        }
        bf_strv_free(w);
        bf_strv_free(keys);
        bf_strv_free(vals);
        return r;
}

/* @p cleaned: no "//", no "." components, ".." folded, no trailing '/'. */
static char *clean_path(const char *p)
{
        char **parts = NULL;
        size_t n = 0;
        _cleanup_free_ char *copy = xstrdup(p);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..")) {
                        if (n)
                                free(parts[--n]);
                        continue;
                }
                parts = xrealloc(parts, (n + 1) * sizeof *parts);
                parts[n++] = xstrdup(c);
        }
        struct buf b = BUF_INIT(SIZE_MAX);
        for (size_t i = 0; i < n; i++) {
                buf_printf(&b, "/%s", parts[i]);
                free(parts[i]);
        }
        free(parts);
        if (!b.len)
                buf_printf(&b, "/");
        return buf_steal(&b);
}

/* A path of the image: absolute, or relative to WorkingDir. */
char *image_path(struct bstate *b, const char *p)
{
        if (p[0] == '/')
                return clean_path(p);
        const char *wd = json_string_value(json_object_get(cfg_of(b), "WorkingDir"));
        _cleanup_free_ char *j = xasprintf("%s/%s", wd && *wd ? wd : "/", p);
        return clean_path(j);
}

int set_exposed(struct bstate *b, char **w, size_t n, struct buf *text, struct err *e)
{
        json_t *set = json_object_get(cfg_of(b), "ExposedPorts");
        if (!json_is_object(set)) {
                set = json_object();
                json_object_set_new(cfg_of(b), "ExposedPorts", set);
        }
        for (size_t i = 0; i < n; i++) {
                const char *proto = strchr(w[i], '/');
                _cleanup_free_ char *port = proto ? xstrndup(w[i], (size_t)(proto - w[i])) : xstrdup(w[i]);
                proto = proto ? proto + 1 : "tcp";
                char *end;
                unsigned long lo = strtoul(port, &end, 10), hi = lo;
                if (*end == '-')
                        hi = strtoul(end + 1, &end, 10);
                if (!*port || *end || lo == 0 || hi > 65535 || hi < lo || (strcmp(proto, "tcp") && strcmp(proto, "udp") &&
                                                                           strcmp(proto, "sctp")))
                        return err_setx(e, EINVAL, "EXPOSE: invalid port '%s'", w[i]);
                for (unsigned long p = lo; p <= hi; p++) {
                        _cleanup_free_ char *k = xasprintf("%lu/%s", p, proto);
                        json_object_set_new(set, k, json_object());
                }
                buf_printf(text, "%s%s", i ? " " : "", w[i]);
        }
        return 0;
}

json_t *args_array(const struct bf_instr *in)
{
        json_t *a = json_array();
        for (size_t i = 0; i < in->n_args; i++)
                json_array_append_new(a, json_string(in->args[i]));
        return a;
}

/* CMD/ENTRYPOINT/RUN's argv: the exec form's, or SHELL + the text. */
json_t *exec_array(struct bstate *b, const struct bf_instr *in)
{
        return in->json ? args_array(in) : shell_form(b, in->args[0]);
}

int set_exec(struct bstate *b, const struct bf_instr *in, const char *key, struct buf *text)
{
        json_t *a = exec_array(b, in);
        char *j = json_dumps(a, JSON_COMPACT);
        buf_printf(text, "%s", j);
        free(j);
        json_object_set_new(cfg_of(b), key, a);
        return 0;
}

static int cmp_strp(const void *a, const void *c)
{
        return strcmp(*(char *const *)a, *(char *const *)c);
}

/* "|2 A=1 B=2 " before a RUN's command when build args are in scope, as
 * docker writes it; sorted. */
void args_prefix(struct bstate *b, struct buf *t)
{
        if (!b->n_args)
                return;
        char **v = xcalloc(b->n_args, sizeof *v);
        memcpy(v, b->args, b->n_args * sizeof *v);
        qsort(v, b->n_args, sizeof *v, cmp_strp);
        buf_printf(t, "|%zu", b->n_args);
        for (size_t i = 0; i < b->n_args; i++)
                buf_printf(t, " %s", v[i]);
        buf_printf(t, " ");
        free(v);
}

/* A Go duration ("30s", "1m30s", "500ms", "1.5h") in nanoseconds. */
static int go_duration(const char *s, long long *ns, struct err *e)
{
        static const struct { const char *u; double mul; } units[] = {
                { "ns", 1 }, { "us", 1e3 }, { "µs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
        };
        double total = 0;
        const char *p = s;
        if (!strcmp(s, "0")) {
                *ns = 0;
                return 0;
        }
        while (*p) {
                char *end;
                double v = strtod(p, &end);
                if (end == p || v < 0)
                        return err_setx(e, EINVAL, "invalid duration '%s'", s);
                p = end;
                size_t best = 0, bl = 0;
                for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                        size_t l = strlen(units[i].u);
                        if (!strncmp(p, units[i].u, l) && l > bl && !(l == 1 && p[0] == 'm' && p[1] == 's')) {
                                best = i;
                                bl = l;
                        }
                }
                if (!bl)
                        return err_setx(e, EINVAL, "invalid duration '%s': a unit (ns, us, ms, s, m, h) is needed", s);
                total += v * units[best].mul;
                p += bl;
        }
        if (total > 9e18)
                return err_setx(e, EINVAL, "invalid duration '%s': too long", s);
        *ns = (long long)total;
        return 0;
}

/* HEALTHCHECK [--interval= --timeout= --start-period= --start-interval=
 * --retries=] CMD ... | NONE, into Healthcheck as docker records it. */
int do_healthcheck(struct bstate *b, const struct bf_instr *in, struct buf *t, struct err *e)
{
        const char *a = in->args[0];
        size_t kl = strcspn(a, " \t");
        const char *rest = a + kl + strspn(a + kl, " \t");
        json_t *hc = json_object(), *test;
        if (kl == 4 && !strncasecmp(a, "NONE", 4)) {
                if (*rest || in->n_flags) {
                        json_decref(hc);
                        return err_setx(e, EINVAL, "HEALTHCHECK NONE takes no other arguments");
                }
                test = json_pack("[s]", "NONE");
        } else if (kl == 3 && !strncasecmp(a, "CMD", 3) && *rest) {
                json_t *arr = *rest == '[' ? json_loads(rest, 0, NULL) : NULL;
                size_t i;
                json_t *x;
                bool good = json_is_array(arr);
                json_array_foreach(arr, i, x) good = good && json_is_string(x);
                if (good) {
                        test = json_pack("[s]", "CMD");
                        json_array_extend(test, arr);
                } else {
                        test = json_pack("[s, s]", "CMD-SHELL", rest);
                }
                json_decref(arr);
        } else {
                json_decref(hc);
                return err_setx(e, EINVAL, "HEALTHCHECK: expected CMD COMMAND or NONE");
        }
        json_object_set_new(hc, "Test", test);
        static const struct { const char *flag, *key; } durs[] = {
                { "interval", "Interval" }, { "timeout", "Timeout" }, { "start-period", "StartPeriod" },
                { "start-interval", "StartInterval" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(durs); i++) {
                const char *v = bf_flag(in, durs[i].flag);
                long long ns = 0;
                if (!v)
                        continue;
                if (go_duration(v, &ns, e) < 0) {
                        json_decref(hc);
                        return err_wrap(e, "--%s", durs[i].flag);
                }
                if (ns)
                        json_object_set_new(hc, durs[i].key, json_integer(ns));
        }
        const char *rv = bf_flag(in, "retries");
        if (rv) {
                char *end;
                long n = strtol(rv, &end, 10);
                if (!*rv || *end || n < 0 || n > 1000000) {
                        json_decref(hc);
                        return err_setx(e, EINVAL, "--retries=%s: not a number", rv);
                }
                if (n)
                        json_object_set_new(hc, "Retries", json_integer(n));
        }
        char *j = json_dumps(test, JSON_COMPACT);
        buf_printf(t, "/bin/sh -c #(nop) HEALTHCHECK %s", j);
        free(j);
        json_object_set_new(cfg_of(b), "Healthcheck", hc);
        return 0;
}

/* RUN <<EOF with nothing else on the line. */
bool bare_heredoc(const struct bf_instr *in)
{
        if (in->n_heredocs != 1)
                return false;
        const char *name = in->heredoc_names[0];
        bool dash = name[0] == '-';
        name += dash;
        for (int q = 0; q < 3; q++) {
                const char *qs = q == 0 ? "" : q == 1 ? "\"" : "'";
                _cleanup_free_ char *w = xasprintf("<<%s%s%s%s", dash ? "-" : "", qs, name, qs);
                if (!strcmp(in->args[0], w))
                        return true;
        }
        return false;
}

