/* The Containerfile parser: containerfile.h, invariants 1 and 2.  Follows docker's
 * (buildkit's) parser: directives first, comments anywhere a line starts
 * with '#', continuations with the escape character (comment and blank
 * lines inside one are skipped), the keyword, leading --flags, then the JSON
 * or the shell form. */
#include "containerfile.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const names[] = {
        [BF_FROM] = "FROM", [BF_RUN] = "RUN", [BF_CMD] = "CMD", [BF_LABEL] = "LABEL",
        [BF_MAINTAINER] = "MAINTAINER", [BF_EXPOSE] = "EXPOSE", [BF_ENV] = "ENV", [BF_ADD] = "ADD",
        [BF_COPY] = "COPY", [BF_ENTRYPOINT] = "ENTRYPOINT", [BF_VOLUME] = "VOLUME", [BF_USER] = "USER",
        [BF_WORKDIR] = "WORKDIR", [BF_ARG] = "ARG", [BF_ONBUILD] = "ONBUILD", [BF_STOPSIGNAL] = "STOPSIGNAL",
        [BF_HEALTHCHECK] = "HEALTHCHECK", [BF_SHELL] = "SHELL",
};

const char *bf_kind_name(enum bf_kind k)
{
        return (size_t)k < ARRAY_SIZE(names) ? names[k] : "?";
}

static bool blank(char c)
{
        return c == ' ' || c == '\t';
}

void bf_strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void strv_push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

static void instr_free(struct bf_instr *in)
{
        bf_strv_free(in->flags);
        bf_strv_free(in->args);
        bf_strv_free(in->heredoc_names);
        bf_strv_free(in->heredoc_bodies);
        free(in->heredoc_raw);
        free(in->heredoc_quoted);
}

void bf_file_free(struct bf_file *f)
{
        for (size_t i = 0; i < f->n; i++)
                instr_free(&f->v[i]);
        free(f->v);
        f->v = NULL;
        f->n = 0;
}

/* One physical line: [p, p+len) without its newline (nor a \r before it). */
struct pline {
        const char *p;
        size_t len;
};

static size_t split_lines(const char *text, size_t len, struct pline **out)
{
        size_t n = 0, cap = 0;
        struct pline *v = NULL;
        size_t i = 0;
        while (i < len) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        v = xrealloc(v, cap * sizeof *v);
                }
                v[n].p = text + i;
                v[n].len = l && text[i + l - 1] == '\r' ? l - 1 : l;
                n++;
                i += l + 1;
        }
        *out = v;
        return n;
}

static bool is_comment(const struct pline *l)
{
        size_t i = 0;
        while (i < l->len && blank(l->p[i]))
                i++;
        return i < l->len && l->p[i] == '#';
}

static bool is_empty(const struct pline *l)
{
        for (size_t i = 0; i < l->len; i++)
                if (!blank(l->p[i]))
                        return false;
        return true;
}

/* A parser directive "# key=value": true with the key lowercased. */
static bool directive(const struct pline *l, char key[32], char val[64])
{
        size_t i = 0;
        if (!l->len || l->p[0] != '#')
                return false;
        for (i = 1; i < l->len && blank(l->p[i]); i++)
                ;
        size_t k = 0;
        while (i < l->len && isalnum((unsigned char)l->p[i]) && k < 31)
                key[k++] = (char)tolower((unsigned char)l->p[i++]);
        key[k] = '\0';
        while (i < l->len && blank(l->p[i]))
                i++;
        if (!k || i >= l->len || l->p[i] != '=')
                return false;
        for (i++; i < l->len && blank(l->p[i]); i++)
                ;
        size_t end = l->len;
        while (end > i && blank(l->p[end - 1]))
                end--;
        size_t vl = end - i < 63 ? end - i : 63;
        memcpy(val, l->p + i, vl);
        val[vl] = '\0';
        return true;
}

/* @s ends with the escape character and blanks: true with it cut off. */
static bool cut_continuation(struct buf *s, char esc)
{
        size_t n = s->len;
        while (n && blank(s->data[n - 1]))
                n--;
        if (!n || s->data[n - 1] != esc)
                return false;
        s->len = n - 1;
        s->data[s->len] = '\0';
        return true;
}

/* The heredoc words of @s (<<NAME, <<-NAME, <<"NAME", <<'NAME'), in order:
 * their names into @in (a leading '-' kept: tabs are stripped), whether
 * quoted into in->heredoc_quoted.  @file (COPY, ADD): a name is a file
 * name (any characters but blanks, quotes and '<'), else a shell word. */
static bool find_heredocs(const char *s, bool file, struct bf_instr *in)
{
        for (const char *p = strstr(s, "<<"); p; p = strstr(p, "<<")) {
                const char *q = p + 2;
                bool dash = *q == '-';
                if (dash)
                        q++;
                char quote = (*q == '"' || *q == '\'') ? *q++ : 0;
                const char *n = q;
                if (file)
                        while (*q && !blank(*q) && *q != '"' && *q != '\'' && *q != '<')
                                q++;
                else
                        while (isalnum((unsigned char)*q) || *q == '_')
                                q++;
                if (q == n || (!file && !isalpha((unsigned char)*n) && *n != '_') || (quote && *q != quote)) {
                        p += 2;
                        continue;
                }
                if (!in)
                        return true;
                strv_push(&in->heredoc_names, &in->n_heredocs, xasprintf("%s%.*s", dash ? "-" : "", (int)(q - n), n));
                in->heredoc_quoted = xrealloc(in->heredoc_quoted, in->n_heredocs * sizeof *in->heredoc_quoted);
                in->heredoc_quoted[in->n_heredocs - 1] = quote != 0;
                p = quote ? q + 1 : q;
        }
        return in && in->n_heredocs;
}

/* The exec form: a JSON array of strings (else the shell form, as docker). */
static bool json_form(const char *s, char ***args, size_t *n)
{
        if (*s != '[')
                return false;
        json_t *a = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
        size_t i;
        json_t *x;
        bool good = json_is_array(a);
        json_array_foreach(a, i, x) good = good && json_is_string(x);
        if (good)
                json_array_foreach(a, i, x) strv_push(args, n, xstrdup(json_string_value(x)));
        json_decref(a);
        return good;
}

static bool takes_json(enum bf_kind k)
{
        return k == BF_RUN || k == BF_CMD || k == BF_ENTRYPOINT || k == BF_COPY || k == BF_ADD || k == BF_VOLUME ||
               k == BF_SHELL || k == BF_HEALTHCHECK;
}

/* One logical line into @in: keyword, flags, arguments. */
static int parse_instr(const char *s, int line, struct bf_instr *in, struct err *e)
{
        size_t kl = 0;
        while (s[kl] && !blank(s[kl]))
                kl++;
        size_t k;
        for (k = 0; k < ARRAY_SIZE(names); k++)
                if (strlen(names[k]) == kl && !strncasecmp(names[k], s, kl))
                        break;
        if (k == ARRAY_SIZE(names))
                return err_setx(e, EINVAL, "line %d: unknown instruction: %.*s", line, (int)(kl > 64 ? 64 : kl), s);
        in->line = line;
        in->kind = (enum bf_kind)k;
        in->keyword = names[k];
        const char *p = s + kl;
        while (blank(*p))
                p++;
        while (p[0] == '-' && p[1] == '-' && p[2] && !blank(p[2])) {
                size_t fl = strcspn(p, " \t");
                strv_push(&in->flags, &in->n_flags, xstrndup(p, fl));
                p += fl;
                while (blank(*p))
                        p++;
        }
        size_t rl = strlen(p);
        while (rl && blank(p[rl - 1]))
                rl--;
        _cleanup_free_ char *rest = xstrndup(p, rl);
        if (!*rest)
                return err_setx(e, EINVAL, "line %d: %s requires at least one argument", line, names[k]);
        if ((k == BF_RUN || k == BF_COPY || k == BF_ADD) && rest[0] != '[')
                find_heredocs(rest, k != BF_RUN, in);
        if (k == BF_ONBUILD) {
                struct bf_instr sub = { 0 };
                int r = parse_instr(rest, line, &sub, e);
                enum bf_kind sk = sub.kind;
                instr_free(&sub);
                if (r < 0)
                        return r;
                if (sk == BF_ONBUILD || sk == BF_FROM || sk == BF_MAINTAINER)
                        return err_setx(e, EINVAL, "line %d: ONBUILD %s is not allowed", line, names[sk]);
        }
        if (takes_json(in->kind) && json_form(rest, &in->args, &in->n_args)) {
                in->json = true;
                return 0;
        }
        strv_push(&in->args, &in->n_args, TAKE_PTR(rest));
        return 0;
}

/* The body of heredoc @h of @in: the lines after *@i up to its name alone
 * on a line (tabs before both stripped for <<-).  The raw lines, the
 * terminator too, go to in->heredoc_raw (for the shell); the body to
 * in->heredoc_bodies. */
static int read_heredoc(const struct pline *lines, size_t n, size_t *i, struct bf_instr *in, size_t h, struct err *e)
{
        const char *name = in->heredoc_names[h];
        bool dash = name[0] == '-';
        if (dash)
                name++;
        struct buf raw = BUF_INIT(SIZE_MAX), body = BUF_INIT(SIZE_MAX);
        if (in->heredoc_raw)
                buf_printf(&raw, "%s", in->heredoc_raw);
        buf_append(&body, "", 0);
        int start = (int)*i;
        for (; *i < n; (*i)++) {
                const char *p = lines[*i].p;
                size_t l = lines[*i].len;
                buf_printf(&raw, "\n%.*s", (int)l, p);
                if (dash)
                        while (l && *p == '\t')
                                p++, l--;
                if (l == strlen(name) && !memcmp(p, name, l)) {
                        (*i)++;
                        free(in->heredoc_raw);
                        in->heredoc_raw = buf_steal(&raw);
                        strv_push(&in->heredoc_bodies, &in->n_bodies, buf_steal(&body));
                        return 0;
                }
                buf_append(&body, p, l);
                buf_append(&body, "\n", 1);
        }
        buf_free(&raw);
        buf_free(&body);
        return err_setx(e, EINVAL, "line %d: the heredoc <<%s has no line %s ending it", start, in->heredoc_names[h],
                        name);
}

int bf_parse(const char *text, size_t len, struct bf_file *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        out->escape = '\\';
        if (memchr(text, '\0', len))
                return err_setx(e, EINVAL, "not a text file (it holds a NUL byte)");
        struct pline *lines = NULL;
        size_t n = split_lines(text, len, &lines), i = 0;
        /* directives: only at the very top, before any other line */
        bool seen[2] = { false, false };
        for (; i < n; i++) {
                char key[32], val[64];
                if (!directive(&lines[i], key, val))
                        break;
                int which = !strcmp(key, "escape") ? 0 : !strcmp(key, "syntax") ? 1 : -1;
                if (which < 0)
                        break;   /* an unknown directive is a comment, and directives end */
                if (seen[which]) {
                        free(lines);
                        return err_setx(e, EINVAL, "line %zu: only one %s directive may be used", i + 1, key);
                }
                seen[which] = true;
                if (which == 0) {
                        if (strcmp(val, "\\") && strcmp(val, "`")) {
                                free(lines);
                                return err_setx(e, EINVAL, "line %zu: invalid escape token '%s' does not match ` or \\",
                                                i + 1, val);
                        }
                        out->escape = val[0];
                }
        }
        int r = 0;
        size_t cap = 0;
        while (i < n && r >= 0) {
                if (is_empty(&lines[i]) || is_comment(&lines[i])) {
                        i++;
                        continue;
                }
                int start = (int)i + 1;
                struct buf s = BUF_INIT(SIZE_MAX);
                const char *p = lines[i].p;
                size_t l = lines[i].len;
                while (l && blank(*p))
                        p++, l--;
                buf_append(&s, p, l);
                buf_append(&s, "", 0);
                i++;
                while (cut_continuation(&s, out->escape) && i < n) {
                        /* comment lines and blank lines inside a continuation vanish */
                        while (i < n && (is_comment(&lines[i]) || is_empty(&lines[i])))
                                i++;
                        if (i == n)
                                break;
                        buf_append(&s, lines[i].p, lines[i].len);
                        i++;
                }
                if (out->n == cap) {
                        cap = cap ? cap * 2 : 16;
                        out->v = xrealloc(out->v, cap * sizeof *out->v);
                }
                struct bf_instr *in = &out->v[out->n];
                memset(in, 0, sizeof *in);
                r = parse_instr(s.data ? s.data : "", start, in, e);
                for (size_t h = 0; r >= 0 && h < in->n_heredocs; h++)
                        r = read_heredoc(lines, n, &i, in, h, e);
                if (r < 0)
                        instr_free(in);
                else
                        out->n++;
                buf_free(&s);
        }
        free(lines);
        if (r < 0) {
                bf_file_free(out);
                return r;
        }
        if (!out->n)
                return err_setx(e, EINVAL, "the file has no instructions");
        return 0;
}

const char *bf_flag(const struct bf_instr *in, const char *name)
{
        const char *v = NULL;
        size_t nl = strlen(name);
        for (size_t i = 0; i < in->n_flags; i++) {
                const char *f = in->flags[i] + 2;
                if (!strncmp(f, name, nl) && (f[nl] == '=' || f[nl] == '\0'))
                        v = f[nl] == '=' ? f + nl + 1 : "";
        }
        return v;
}

void bf_cache_key(const char *parent, const char *created_by, const char *content, char out[DIGEST_STR_LEN + 1])
{
        struct sha256 h;
        sha256_init(&h);
        /* each part with its length: no two different triples read the same */
        const char *parts[3] = { parent ? parent : "", created_by ? created_by : "", content ? content : "" };
        for (int i = 0; i < 3; i++) {
                char len[32];
                int ll = snprintf(len, sizeof len, "%zu:", strlen(parts[i]));
                sha256_update(&h, len, (size_t)ll);
                sha256_update(&h, parts[i], strlen(parts[i]));
        }
        sha256_final(&h, out);
}
