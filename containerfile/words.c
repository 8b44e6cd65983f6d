/* docker's shell lexer (containerfile.h, invariant 3): quotes, the escape character
 * and ${...} expansion, for the instructions docker expands (ADD, COPY, ENV,
 * EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG). */
#include "containerfile.h"

#include <ctype.h>
#include <string.h>

#define WORD_MAX (1u << 20)

struct lex {
        const char *p;            /* next character */
        char esc;
        bf_lookup_fn lookup;
        void *ctx;
        struct err *e;
        int depth;
};

static bool name_char(char c)
{
        return isalnum((unsigned char)c) || c == '_';
}

static int word_until(struct lex *x, struct buf *out, int stop);

/* After '$': a name or ${...}; the result appended to @out. */
static int dollar(struct lex *x, struct buf *out)
{
        if (*x->p != '{') {
                const char *s = x->p;
                while (name_char(*x->p))
                        x->p++;
                if (x->p == s)
                        return buf_append(out, "$", 1);
                _cleanup_free_ char *name = xstrndup(s, (size_t)(x->p - s));
                const char *v = x->lookup(x->ctx, name);
                return v ? buf_append(out, v, strlen(v)) : 0;
        }
        x->p++;
        const char *s = x->p;
        while (name_char(*x->p))
                x->p++;
        if (x->p == s)
                return err_setx(x->e, EINVAL, "bad substitution: missing a variable name after ${");
        _cleanup_free_ char *name = xstrndup(s, (size_t)(x->p - s));
        const char *v = x->lookup(x->ctx, name);
        if (*x->p == '}') {
                x->p++;
                return v ? buf_append(out, v, strlen(v)) : 0;
        }
        bool colon = *x->p == ':';
        if (colon)
                x->p++;
        char op = *x->p;
        if (!op)
                return err_setx(x->e, EINVAL, "bad substitution: missing '}' after ${%s", name);
        if (op != '-' && op != '+' && op != '?')
                return err_setx(x->e, EINVAL, "bad substitution: unsupported modifier in ${%s%s%c...}", name,
                                colon ? ":" : "", op ? op : ' ');
        x->p++;
        if (++x->depth > 64)
                return err_setx(x->e, EINVAL, "bad substitution: nested too deep");
        struct buf w = BUF_INIT(WORD_MAX);
        int r = word_until(x, &w, '}');
        x->depth--;
        if (r >= 0 && *x->p != '}')
                r = err_setx(x->e, EINVAL, "bad substitution: missing '}' after ${%s", name);
        if (r < 0) {
                buf_free(&w);
                return r;
        }
        x->p++;
        bool set = colon ? v && *v : v != NULL;
        const char *word = w.data ? w.data : "";
        if (op == '-')
                r = buf_append(out, set ? v : word, strlen(set ? v : word));
        else if (op == '+')
                r = set ? buf_append(out, word, strlen(word)) : 0;
        else if (set)
                r = buf_append(out, v, strlen(v));
        else
                r = err_setx(x->e, EINVAL, "%s: %s", name, *word ? word : "is not allowed to be unset");
        buf_free(&w);
        return r;
}

/* Text up to @stop (not consumed; 0: a blank or the end; -1: the end) with
 * quotes and escapes processed and variables expanded. */
static int word_until(struct lex *x, struct buf *out, int stop)
{
        int r = 0;
        while (r >= 0 && *x->p && (unsigned char)*x->p != stop && !(stop == 0 && (*x->p == ' ' || *x->p == '\t'))) {
                char c = *x->p++;
                if (c == x->esc) {
                        if (*x->p)
                                r = buf_append(out, x->p++, 1);
                        else
                                r = buf_append(out, &c, 1);
                } else if (c == '\'') {
                        const char *end = strchr(x->p, '\'');
                        if (!end)
                                return err_setx(x->e, EINVAL, "unexpected end of statement while looking for matching '");
                        r = buf_append(out, x->p, (size_t)(end - x->p));
                        x->p = end + 1;
                } else if (c == '"') {
                        while (r >= 0 && *x->p && *x->p != '"') {
                                char d = *x->p++;
                                if (d == x->esc && (*x->p == '"' || *x->p == '$' || *x->p == x->esc))
                                        r = buf_append(out, x->p++, 1);
                                else if (d == '$' && x->lookup)
                                        r = dollar(x, out);
                                else
                                        r = buf_append(out, &d, 1);
                        }
                        if (r >= 0 && *x->p != '"')
                                return err_setx(x->e, EINVAL, "unexpected end of statement while looking for matching \"");
                        x->p++;
                } else if (c == '$' && x->lookup) {
                        r = dollar(x, out);
                } else {
                        r = buf_append(out, &c, 1);
                }
        }
        return r < 0 && !x->e->msg[0] ? err_setx(x->e, -r, "a word is too long") : r;
}

int bf_words(const char *in, char esc, bf_lookup_fn lookup, void *ctx, bool split, char ***words, size_t *n,
             struct err *e)
{
        struct lex x = { .p = in, .esc = esc, .lookup = lookup, .ctx = ctx, .e = e };
        char **v = xcalloc(1, sizeof *v);
        size_t cnt = 0;
        int r = 0;
        for (;;) {
                if (split)
                        while (*x.p == ' ' || *x.p == '\t')
                                x.p++;
                if (!*x.p && (split || cnt))
                        break;
                struct buf w = BUF_INIT(WORD_MAX);
                buf_append(&w, "", 0);
                r = word_until(&x, &w, split ? 0 : -1);
                if (r < 0) {
                        buf_free(&w);
                        break;
                }
                v = xrealloc(v, (cnt + 2) * sizeof *v);
                v[cnt++] = buf_steal(&w);
                v[cnt] = NULL;
                if (!split)
                        break;
        }
        if (r < 0) {
                bf_strv_free(v);
                return r;
        }
        *words = v;
        *n = cnt;
        return 0;
}

int bf_pairs(const char *in, char esc, bool old_form, char ***words, size_t *n, struct err *e)
{
        char **v = xcalloc(1, sizeof *v);
        size_t cnt = 0;
        const char *p = in;
        while (*p == ' ' || *p == '\t')
                p++;
        if (old_form) {
                size_t kl = strcspn(p, " \t");
                if (!memchr(p, '=', kl) && p[kl]) {
                        const char *val = p + kl;
                        while (*val == ' ' || *val == '\t')
                                val++;
                        v = xrealloc(v, 2 * sizeof *v);
                        v[0] = xasprintf("%.*s=%s", (int)kl, p, val);
                        v[1] = NULL;
                        *words = v;
                        *n = 1;
                        return 0;
                }
        }
        while (*p) {
                const char *s = p;
                char q = 0;
                for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
                        if (*p == esc && p[1] && q != '\'')
                                p++;
                        else if (!q && (*p == '"' || *p == '\''))
                                q = *p;
                        else if (q && *p == q)
                                q = 0;
                }
                if (q) {
                        bf_strv_free(v);
                        return err_setx(e, EINVAL, "unexpected end of statement while looking for matching %c", q);
                }
                v = xrealloc(v, (cnt + 2) * sizeof *v);
                v[cnt++] = xstrndup(s, (size_t)(p - s));
                v[cnt] = NULL;
                while (*p == ' ' || *p == '\t')
                        p++;
        }
        *words = v;
        *n = cnt;
        return 0;
}

int bf_heredoc_expand(const char *body, bf_lookup_fn lookup, void *ctx, char **out, struct err *e)
{
        struct lex x = { .p = body, .esc = '\\', .lookup = lookup, .ctx = ctx, .e = e };
        struct buf w = BUF_INIT(WORD_MAX);
        int r = buf_append(&w, "", 0);
        while (r >= 0 && *x.p) {
                char c = *x.p++;
                if (c == '\\' && (*x.p == '$' || *x.p == '\\' || *x.p == '`')) {
                        r = buf_append(&w, x.p++, 1);
                } else if (c == '\\' && *x.p == '\n') {
                        x.p++;   /* a line continued */
                } else if (c == '$') {
                        r = dollar(&x, &w);
                } else {
                        const char *s = x.p - 1;
                        size_t k = strcspn(s, "\\$");
                        r = buf_append(&w, s, k ? k : 1);
                        x.p = s + (k ? k : 1);
                }
        }
        if (r < 0) {
                buf_free(&w);
                return e->msg[0] ? r : err_setx(e, -r, "a heredoc is too long");
        }
        *out = buf_steal(&w);
        return 0;
}
