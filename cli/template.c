/* docker's Go-template subset over JSON (see template.h and its invariants).
 * Three steps: lex() cuts the text into tokens, the parser builds a tree of
 * nodes (text, action, if, range, with), exec walks it with jansson values. */
#include "template.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TMPL_MAX_STEPS 2000000u   /* nodes and commands run by one execution */
#define PRINTF_MAX_WIDTH 4096

/* ------------------------------------------------------------------ lexer */

enum tok_kind {
        T_EOF, T_TEXT, T_LEFT, T_RIGHT, T_FIELD, T_DOT, T_VAR, T_IDENT, T_STRING, T_NUMBER,
        T_PIPE, T_LPAREN, T_RPAREN, T_DECLARE, T_ASSIGN, T_COMMA,
};

struct tok {
        enum tok_kind kind;
        char *s;          /* text, field name (no dot), "$name", identifier, string value, number text */
        size_t col;       /* 1-based byte column in the template */
        bool spaced;      /* white space right before it (inside an action) */
};

struct toks {
        struct tok *v;
        size_t n, cap;
};

static void tok_push(struct toks *t, enum tok_kind k, char *s, size_t col, bool spaced)
{
        if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 32;
                t->v = xrealloc(t->v, t->cap * sizeof *t->v);
        }
        t->v[t->n++] = (struct tok){ k, s, col, spaced };
}

static void toks_free(struct toks *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].s);
        free(t->v);
}

static bool is_ident(int c)
{
        return isalnum(c) || c == '_';
}

static int lex_error(struct err *e, size_t col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_error(struct err *e, size_t col, const char *fmt, ...)
{
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return err_setx(e, EINVAL, "template: column %zu: %s", col, msg);
}

/* A quoted string starting at s[0] == '"'; *len receives the bytes consumed. */
static int lex_quoted(const char *s, size_t col, char **out, size_t *len, struct err *e)
{
        struct buf b = BUF_INIT(TMPL_MAX_LEN);
        size_t i = 1;
        for (;; i++) {
                char c = s[i];
                if (c == '\0' || c == '\n') {
                        buf_free(&b);
                        return lex_error(e, col, "unterminated quoted string");
                }
                if (c == '"')
                        break;
                if (c == '\\') {
                        char n = s[++i];
                        switch (n) {
                        case 'n': c = '\n'; break;
                        case 't': c = '\t'; break;
                        case 'r': c = '\r'; break;
                        case '\\': case '"': case '\'': c = n; break;
                        case 'x':
                                if (isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
                                        char hex[3] = { s[i + 1], s[i + 2], 0 };
                                        c = (char)strtol(hex, NULL, 16);
                                        i += 2;
                                        break;
                                }
                                /* fall through */
                        default:
                                buf_free(&b);
                                return lex_error(e, col + i, "unknown escape sequence in a quoted string");
                        }
                }
                buf_append(&b, &c, 1);
        }
        *len = i + 1;
        *out = buf_steal(&b);
        return 0;
}

/* Text after "-}}" or before "{{-" loses its white space on that side. */
static char *trimmed_text(const char *s, size_t n, bool trim_left, bool trim_right)
{
        while (trim_left && n && isspace((unsigned char)*s))
                s++, n--;
        while (trim_right && n && isspace((unsigned char)s[n - 1]))
                n--;
        return n ? xstrndup(s, n) : NULL;
}

static int lex_action(const char *src, size_t *pos, size_t left_col, struct toks *t, bool *trim_next, struct err *e)
{
        size_t p = *pos;
        for (;;) {
                bool spaced = false;
                while (isspace((unsigned char)src[p])) {
                        if (!strncmp(src + p + 1, "-}}", 3)) {
                                *trim_next = true;
                                tok_push(t, T_RIGHT, NULL, p + 2, true);
                                *pos = p + 4;
                                return 0;
                        }
                        spaced = true;
                        p++;
                }
                const char *s = src + p;
                size_t col = p + 1;
                if (!*s)
                        return lex_error(e, left_col, "unclosed action");
                if (s[0] == '}' && s[1] == '}') {
                        tok_push(t, T_RIGHT, NULL, col, spaced);
                        *pos = p + 2;
                        return 0;
                }
                size_t n = 1;
                char *val = NULL;
                enum tok_kind k;
                if (*s == '|') {
                        k = T_PIPE;
                } else if (*s == '(') {
                        k = T_LPAREN;
                } else if (*s == ')') {
                        k = T_RPAREN;
                } else if (*s == ',') {
                        k = T_COMMA;
                } else if (s[0] == ':' && s[1] == '=') {
                        k = T_DECLARE, n = 2;
                } else if (*s == '=') {
                        k = T_ASSIGN;
                } else if (*s == '"') {
                        k = T_STRING;
                        if (lex_quoted(s, col, &val, &n, e) < 0)
                                return -EINVAL;
                } else if (*s == '`') {
                        const char *end = strchr(s + 1, '`');
                        if (!end)
                                return lex_error(e, col, "unterminated raw quoted string");
                        k = T_STRING;
                        val = xstrndup(s + 1, (size_t)(end - s - 1));
                        n = (size_t)(end - s) + 1;
                } else if (*s == '.' && (isalpha((unsigned char)s[1]) || s[1] == '_')) {
                        while (is_ident((unsigned char)s[n]))
                                n++;
                        k = T_FIELD;
                        val = xstrndup(s + 1, n - 1);
                } else if (*s == '.' && !isdigit((unsigned char)s[1])) {
                        k = T_DOT;
                } else if (*s == '$') {
                        while (is_ident((unsigned char)s[n]))
                                n++;
                        k = T_VAR;
                        val = xstrndup(s, n);
                } else if (isdigit((unsigned char)*s) || ((*s == '-' || *s == '+' || *s == '.') && isdigit((unsigned char)s[1]))) {
                        n = 1;
                        while (isalnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '_' ||
                               ((s[n] == '-' || s[n] == '+') && (s[n - 1] == 'e' || s[n - 1] == 'E')))
                                n++;
                        k = T_NUMBER;
                        val = xstrndup(s, n);
                } else if (isalpha((unsigned char)*s) || *s == '_') {
                        while (is_ident((unsigned char)s[n]))
                                n++;
                        k = T_IDENT;
                        val = xstrndup(s, n);
                } else {
                        return lex_error(e, col, "unexpected character '%c' in an action", isprint((unsigned char)*s) ? *s : '?');
                }
                tok_push(t, k, val, col, spaced);
                p += n;
        }
}

static int lex(const char *src, struct toks *t, struct err *e)
{
        size_t pos = 0;
        bool trim_left = false;
        for (;;) {
                const char *open = strstr(src + pos, "{{");
                size_t end = open ? (size_t)(open - src) : strlen(src);
                bool trim_right = open && open[2] == '-' && isspace((unsigned char)open[3]);
                char *text = trimmed_text(src + pos, end - pos, trim_left, trim_right);
                if (text)
                        tok_push(t, T_TEXT, text, pos + 1, false);
                trim_left = false;
                if (!open)
                        break;
                size_t left_col = end + 1;
                pos = end + 2 + (trim_right ? 2 : 0);
                if (!strncmp(src + pos, "/*", 2)) {
                        const char *close = strstr(src + pos + 2, "*/");
                        if (!close)
                                return lex_error(e, left_col, "unclosed comment");
                        pos = (size_t)(close - src) + 2;
                        if (!strncmp(src + pos, " -}}", 4)) {
                                trim_left = true;
                                pos += 4;
                        } else if (!strncmp(src + pos, "}}", 2)) {
                                pos += 2;
                        } else {
                                return lex_error(e, left_col, "comment ends before closing delimiter");
                        }
                        continue;
                }
                tok_push(t, T_LEFT, NULL, left_col, false);
                if (lex_action(src, &pos, left_col, t, &trim_left, e) < 0)
                        return -EINVAL;
        }
        tok_push(t, T_EOF, NULL, strlen(src) + 1, false);
        return 0;
}

/* ------------------------------------------------------------------- tree */

enum arg_kind { A_DOT, A_VAR, A_PAREN, A_STRING, A_NUMBER, A_BOOL, A_NIL, A_FUNC };

struct pipe;
struct arg {
        enum arg_kind kind;
        char *name;             /* $var, function name, string value */
        json_t *num;            /* A_NUMBER */
        bool b;                 /* A_BOOL */
        struct pipe *paren;     /* A_PAREN */
        char **chain;           /* .A.B after the operand */
        size_t n_chain;
        size_t col;
};

struct cmd {
        struct arg *args;
        size_t n;
};

struct pipe {
        char *decl[2];          /* "$k", "$v" */
        size_t n_decl;
        struct cmd *cmds;
        size_t n_cmds;
};

enum node_kind { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH };

struct node;
struct list {
        struct node **v;
        size_t n;
};

struct node {
        enum node_kind kind;
        char *text;
        struct pipe *pipe;
        struct list body, els;
};

struct tmpl {
        struct list root;
};

static void pipe_free(struct pipe *p);

static void arg_free(struct arg *a)
{
        free(a->name);
        json_decref(a->num);
        pipe_free(a->paren);
        for (size_t i = 0; i < a->n_chain; i++)
                free(a->chain[i]);
        free(a->chain);
}

static void pipe_free(struct pipe *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_decl; i++)
                free(p->decl[i]);
        for (size_t i = 0; i < p->n_cmds; i++) {
                for (size_t k = 0; k < p->cmds[i].n; k++)
                        arg_free(&p->cmds[i].args[k]);
                free(p->cmds[i].args);
        }
        free(p->cmds);
        free(p);
}

static void list_free(struct list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                struct node *n = l->v[i];
                free(n->text);
                pipe_free(n->pipe);
                list_free(&n->body);
                list_free(&n->els);
                free(n);
        }
        free(l->v);
}

void tmpl_free(struct tmpl *t)
{
        if (!t)
                return;
        list_free(&t->root);
        free(t);
}

static struct node *list_add(struct list *l, enum node_kind k)
{
        l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
        struct node *n = xcalloc(1, sizeof *n);
        n->kind = k;
        l->v[l->n++] = n;
        return n;
}

/* ----------------------------------------------------------------- parser */

struct parser {
        struct toks t;
        size_t i;
        char **vars;            /* declared variables in scope, for "undefined variable" */
        size_t n_vars;
        struct err *e;
};

static const char *const FUNCS[] = {
        "json", "index", "len", "join", "split", "lower", "upper", "title", "pad", "truncate",
        "print", "println", "printf", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or", NULL,
};

static bool is_func(const char *name)
{
        for (const char *const *f = FUNCS; *f; f++)
                if (!strcmp(*f, name))
                        return true;
        return false;
}

static struct tok *peek(struct parser *p)
{
        return &p->t.v[p->i];
}

static struct tok *next(struct parser *p)
{
        struct tok *t = &p->t.v[p->i];
        if (t->kind != T_EOF)
                p->i++;
        return t;
}

static const char *tok_desc(const struct tok *t)
{
        switch (t->kind) {
        case T_EOF: return "end of template";
        case T_TEXT: return "text";
        case T_LEFT: return "\"{{\"";
        case T_RIGHT: return "\"}}\"";
        case T_PIPE: return "\"|\"";
        case T_LPAREN: return "\"(\"";
        case T_RPAREN: return "\")\"";
        case T_COMMA: return "\",\"";
        case T_DECLARE: return "\":=\"";
        case T_ASSIGN: return "\"=\"";
        default: return t->s ? t->s : ".";
        }
}

static int parse_error(struct parser *p, const struct tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int parse_error(struct parser *p, const struct tok *t, const char *fmt, ...)
{
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return err_setx(p->e, EINVAL, "template: column %zu: %s", t->col, msg);
}

static void declare(struct parser *p, const char *name)
{
        p->vars = xrealloc(p->vars, (p->n_vars + 1) * sizeof *p->vars);
        p->vars[p->n_vars++] = xstrdup(name);
}

static void undeclare_to(struct parser *p, size_t n)
{
        while (p->n_vars > n)
                free(p->vars[--p->n_vars]);
}

static bool declared(struct parser *p, const char *name)
{
        if (!strcmp(name, "$"))
                return true;
        for (size_t i = 0; i < p->n_vars; i++)
                if (!strcmp(p->vars[i], name))
                        return true;
        return false;
}

static int parse_pipeline(struct parser *p, size_t max_decl, int depth, struct pipe **out);

/* .A.B right after an operand (no space between) */
static void parse_chain(struct parser *p, struct arg *a)
{
        while (peek(p)->kind == T_FIELD && !peek(p)->spaced) {
                a->chain = xrealloc(a->chain, (a->n_chain + 1) * sizeof *a->chain);
                a->chain[a->n_chain++] = xstrdup(next(p)->s);
        }
}

static int parse_operand(struct parser *p, int depth, struct arg *a)
{
        struct tok *t = next(p);
        memset(a, 0, sizeof *a);
        a->col = t->col;
        switch (t->kind) {
        case T_DOT:
                a->kind = A_DOT;
                break;
        case T_FIELD:
                a->kind = A_DOT;
                p->i--;   /* the chain starts with this field */
                t->spaced = false;
                break;
        case T_VAR:
                if (!declared(p, t->s))
                        return parse_error(p, t, "undefined variable \"%s\"", t->s);
                a->kind = A_VAR;
                a->name = xstrdup(t->s);
                break;
        case T_STRING:
                a->kind = A_STRING;
                a->name = xstrdup(t->s);
                return 0;
        case T_NUMBER: {
                char *end;
                errno = 0;
                long long v = strtoll(t->s, &end, 0);
                if (!*end && !errno) {
                        a->num = json_integer(v);
                } else {
                        double d = strtod(t->s, &end);
                        if (*end || errno)
                                return parse_error(p, t, "bad number syntax: \"%s\"", t->s);
                        a->num = json_real(d);
                }
                a->kind = A_NUMBER;
                if (!a->num)
                        return parse_error(p, t, "bad number: \"%s\"", t->s);
                return 0;
        }
        case T_IDENT:
                if (!strcmp(t->s, "true") || !strcmp(t->s, "false")) {
                        a->kind = A_BOOL;
                        a->b = t->s[0] == 't';
                        return 0;
                }
                if (!strcmp(t->s, "nil")) {
                        a->kind = A_NIL;
                        return 0;
                }
                if (!is_func(t->s))
                        return parse_error(p, t, "function \"%s\" not defined", t->s);
                a->kind = A_FUNC;
                a->name = xstrdup(t->s);
                return 0;
        case T_LPAREN:
                if (depth >= TMPL_MAX_DEPTH)
                        return parse_error(p, t, "nested more than %d deep", TMPL_MAX_DEPTH);
                a->kind = A_PAREN;
                if (parse_pipeline(p, 0, depth + 1, &a->paren) < 0)
                        return -EINVAL;
                if (peek(p)->kind != T_RPAREN)
                        return parse_error(p, peek(p), "unclosed left paren");
                next(p);
                break;
        default:
                return parse_error(p, t, "unexpected %s in operand", tok_desc(t));
        }
        parse_chain(p, a);
        return 0;
}

static bool ends_command(enum tok_kind k)
{
        return k == T_PIPE || k == T_RIGHT || k == T_RPAREN || k == T_EOF;
}

static int parse_pipeline(struct parser *p, size_t max_decl, int depth, struct pipe **out)
{
        struct pipe *pp = xcalloc(1, sizeof *pp);
        *out = pp;
        /* $x := ... or $k, $v := ... */
        struct tok *t0 = peek(p);
        if (t0->kind == T_VAR) {
                size_t i = p->i;
                struct toks *t = &p->t;
                size_t n = 0;
                if (t->v[i + 1].kind == T_DECLARE || t->v[i + 1].kind == T_ASSIGN)
                        n = 1;
                else if (t->v[i + 1].kind == T_COMMA && t->v[i + 2].kind == T_VAR &&
                         (t->v[i + 3].kind == T_DECLARE || t->v[i + 3].kind == T_ASSIGN))
                        n = 2;
                if (n > max_decl)
                        return parse_error(p, t0, n == 2 ? "too many declarations" : "declaration not allowed here");
                for (size_t k = 0; k < n; k++) {
                        if (t->v[i].kind == T_VAR && !strcmp(t->v[i].s, "$"))
                                return parse_error(p, &t->v[i], "cannot declare \"$\"");
                        pp->decl[pp->n_decl++] = xstrdup(t->v[i].s);
                        i += 2;
                }
                p->i = i;
        }
        for (;;) {
                struct cmd *c;
                pp->cmds = xrealloc(pp->cmds, (pp->n_cmds + 1) * sizeof *pp->cmds);
                c = &pp->cmds[pp->n_cmds++];
                memset(c, 0, sizeof *c);
                while (!ends_command(peek(p)->kind)) {
                        if (c->n && !peek(p)->spaced && peek(p)->kind != T_LPAREN)
                                return parse_error(p, peek(p), "missing space before %s", tok_desc(peek(p)));
                        c->args = xrealloc(c->args, (c->n + 1) * sizeof *c->args);
                        if (parse_operand(p, depth, &c->args[c->n]) < 0) {
                                arg_free(&c->args[c->n]);
                                return -EINVAL;
                        }
                        c->n++;
                }
                if (!c->n)
                        return parse_error(p, peek(p), "missing value for command");
                if (peek(p)->kind != T_PIPE)
                        break;
                next(p);
        }
        /* declared after the pipeline: "$x := $x" refers to an outer $x */
        for (size_t k = 0; k < pp->n_decl; k++)
                declare(p, pp->decl[k]);
        return 0;
}

enum term { TERM_EOF, TERM_END, TERM_ELSE };

static int parse_list(struct parser *p, struct list *l, int depth, enum term *term);

static int expect_right(struct parser *p)
{
        struct tok *t = next(p);
        if (t->kind != T_RIGHT)
                return parse_error(p, t, "unexpected %s in action (a missing \"}}\"?)", tok_desc(t));
        return 0;
}

static int parse_block(struct parser *p, struct list *l, enum node_kind kind, struct tok *kw, int depth)
{
        static const char *const names[] = { [N_IF] = "if", [N_RANGE] = "range", [N_WITH] = "with" };
        if (depth >= TMPL_MAX_DEPTH)
                return parse_error(p, kw, "nested more than %d deep", TMPL_MAX_DEPTH);
        size_t scope = p->n_vars;
        struct node *n = list_add(l, kind);
        int r = parse_pipeline(p, kind == N_RANGE ? 2 : 1, depth + 1, &n->pipe);
        if (r >= 0)
                r = expect_right(p);
        enum term term;
        if (r >= 0)
                r = parse_list(p, &n->body, depth + 1, &term);
        if (r >= 0 && term == TERM_EOF)
                r = parse_error(p, peek(p), "unexpected end: {{%s}} without {{end}}", names[kind]);
        if (r >= 0 && term == TERM_ELSE) {
                /* variables of the pipeline stay visible in {{else}}, as Go's */
                struct tok *t = peek(p);
                if (kind == N_IF && t->kind == T_IDENT && !strcmp(t->s, "if")) {
                        next(p);
                        r = parse_block(p, &n->els, N_IF, t, depth + 1);   /* takes the one {{end}} */
                } else {
                        r = expect_right(p);
                        if (r >= 0)
                                r = parse_list(p, &n->els, depth + 1, &term);
                        if (r >= 0 && term != TERM_END)
                                r = parse_error(p, peek(p), term == TERM_ELSE ? "{{else}} after {{else}}"
                                                : "unexpected end: {{%s}} without {{end}}", names[kind]);
                }
        }
        undeclare_to(p, scope);
        return r;
}

static int parse_list(struct parser *p, struct list *l, int depth, enum term *term)
{
        for (;;) {
                struct tok *t = next(p);
                if (t->kind == T_EOF) {
                        *term = TERM_EOF;
                        return 0;
                }
                if (t->kind == T_TEXT) {
                        list_add(l, N_TEXT)->text = xstrdup(t->s);
                        continue;
                }
                /* T_LEFT: a keyword or a pipeline */
                struct tok *k = peek(p);
                if (k->kind == T_IDENT && !strcmp(k->s, "end")) {
                        next(p);
                        *term = TERM_END;
                        return expect_right(p);
                }
                if (k->kind == T_IDENT && !strcmp(k->s, "else")) {
                        next(p);
                        *term = TERM_ELSE;
                        return 0;
                }
                int r;
                if (k->kind == T_IDENT && (!strcmp(k->s, "if") || !strcmp(k->s, "range") || !strcmp(k->s, "with"))) {
                        next(p);
                        r = parse_block(p, l, k->s[0] == 'i' ? N_IF : k->s[0] == 'r' ? N_RANGE : N_WITH, k, depth);
                } else {
                        struct node *n = list_add(l, N_ACTION);
                        r = parse_pipeline(p, 1, depth, &n->pipe);
                        if (r >= 0)
                                r = expect_right(p);
                }
                if (r < 0)
                        return r;
        }
}

int tmpl_parse(const char *text, struct tmpl **out, struct err *e)
{
        if (strlen(text) > TMPL_MAX_LEN)
                return err_setx(e, EINVAL, "template: longer than %u bytes", TMPL_MAX_LEN);
        struct parser p = { .e = e };
        int r = lex(text, &p.t, e);
        struct tmpl *t = xcalloc(1, sizeof *t);
        enum term term = TERM_EOF;
        if (r >= 0)
                r = parse_list(&p, &t->root, 0, &term);
        if (r >= 0 && term != TERM_EOF)
                r = parse_error(&p, &p.t.v[p.i ? p.i - 1 : 0], "unexpected {{%s}}", term == TERM_END ? "end" : "else");
        undeclare_to(&p, 0);
        free(p.vars);
        toks_free(&p.t);
        if (r < 0) {
                tmpl_free(t);
                return r;
        }
        *out = t;
        return 0;
}

/* ------------------------------------------------------------- execution */

struct var {
        const char *name;
        json_t *v;              /* a reference, or NULL: missing */
};

struct exec {
        enum tmpl_mode mode;
        json_t *root;
        struct buf *out;
        struct err *e;
        struct var *vars;
        size_t n_vars, cap;
        size_t steps;
};

static json_t *ref(json_t *v)
{
        return v ? json_incref(v) : NULL;
}

static int exec_error(struct exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int exec_error(struct exec *x, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return err_setx(x->e, EINVAL, "template: %s", msg);
}

static int out_append(struct exec *x, const char *s, size_t n)
{
        if (buf_append(x->out, s, n) < 0)
                return err_setx(x->e, EFBIG, "template: output larger than %zu bytes", x->out->max);
        return 0;
}

static void var_push(struct exec *x, const char *name, json_t *v)
{
        if (x->n_vars == x->cap) {
                x->cap = x->cap ? x->cap * 2 : 8;
                x->vars = xrealloc(x->vars, x->cap * sizeof *x->vars);
        }
        x->vars[x->n_vars++] = (struct var){ name, ref(v) };
}

static void var_pop_to(struct exec *x, size_t n)
{
        while (x->n_vars > n)
                json_decref(x->vars[--x->n_vars].v);
}

static const char *type_name(json_t *v)
{
        switch (v ? json_typeof(v) : JSON_NULL) {
        case JSON_OBJECT: return "map";
        case JSON_ARRAY: return "slice";
        case JSON_STRING: return "string";
        case JSON_INTEGER: return "int";
        case JSON_REAL: return "float64";
        case JSON_TRUE: case JSON_FALSE: return "bool";
        default: return "nil";
        }
}

static bool truth(json_t *v)
{
        if (!v)
                return false;
        switch (json_typeof(v)) {
        case JSON_OBJECT: return json_object_size(v) > 0;
        case JSON_ARRAY: return json_array_size(v) > 0;
        case JSON_STRING: return json_string_length(v) > 0;
        case JSON_INTEGER: return json_integer_value(v) != 0;
        case JSON_REAL: return json_real_value(v) != 0;
        case JSON_TRUE: return true;
        default: return false;
        }
}

static int cmp_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of @o, sorted (Go ranges over and prints maps in key order). */
static const char **sorted_keys(json_t *o, size_t *n)
{
        const char **keys = xcalloc(json_object_size(o) + 1, sizeof *keys);
        const char *k;
        json_t *v;
        *n = 0;
        json_object_foreach(o, k, v)
                keys[(*n)++] = k;
        qsort(keys, *n, sizeof *keys, cmp_keys);
        return keys;
}

static int print_real(double d, struct buf *out)
{
        char s[64];
        snprintf(s, sizeof s, "%.15g", d);
        if (strtod(s, NULL) != d)
                snprintf(s, sizeof s, "%.17g", d);
        return buf_append(out, s, strlen(s));
}

int tmpl_print_value(json_t *v, struct buf *out)
{
        if (!v)
                return buf_append(out, "<no value>", 10);
        switch (json_typeof(v)) {
        case JSON_STRING: return buf_append(out, json_string_value(v), json_string_length(v));
        case JSON_INTEGER: return buf_printf(out, "%lld", (long long)json_integer_value(v));
        case JSON_REAL: return print_real(json_real_value(v), out);
        case JSON_TRUE: return buf_append(out, "true", 4);
        case JSON_FALSE: return buf_append(out, "false", 5);
        case JSON_NULL: return buf_append(out, "<nil>", 5);
        case JSON_ARRAY: {
                int r = buf_append(out, "[", 1);
                for (size_t i = 0; r >= 0 && i < json_array_size(v); i++) {
                        if (i)
                                r = buf_append(out, " ", 1);
                        if (r >= 0)
                                r = tmpl_print_value(json_array_get(v, i), out);
                }
                return r < 0 ? r : buf_append(out, "]", 1);
        }
        case JSON_OBJECT: {
                size_t n;
                const char **keys = sorted_keys(v, &n);
                int r = buf_append(out, "map[", 4);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        r = buf_printf(out, "%s%s:", i ? " " : "", keys[i]);
                        if (r >= 0)
                                r = tmpl_print_value(json_object_get(v, keys[i]), out);
                }
                free(keys);
                return r < 0 ? r : buf_append(out, "]", 1);
        }
        }
        return 0;
}

/* @v as {{.}} prints it, as a new string */
static char *to_str(json_t *v)
{
        struct buf b = BUF_INIT(TMPL_MAX_OUTPUT);
        if (tmpl_print_value(v, &b) < 0 || !b.data)
                buf_append(&b, "", 0);
        return buf_steal(&b);
}

static json_t *str_new(char *s)   /* takes @s */
{
        json_t *j = json_stringn_nocheck(s, strlen(s));
        free(s);
        return j;
}

static char *upper_name(const char *s)
{
        char *u = xstrdup(s);
        for (char *c = u; *c; c++)
                *c = (char)toupper((unsigned char)*c);
        return u;
}

static int field(struct exec *x, json_t *v, const char *name, json_t **out)
{
        *out = NULL;
        if (x->mode == TMPL_HEADER) {
                if (json_is_object(v)) {
                        json_t *m = json_object_get(v, name);
                        *out = m ? json_incref(m) : str_new(upper_name(name));
                } else {
                        *out = ref(v);   /* "HEADER".Field: the header stands */
                }
                return 0;
        }
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return exec_error(x, "can't evaluate field %s in type %s", name, type_name(v));
        json_t *m = json_object_get(v, name);
        if (!m && x->mode == TMPL_STRICT && v == x->root) {
                size_t n;
                const char **keys = sorted_keys(v, &n);
                struct buf b = BUF_INIT(ERR_MSG_MAX);
                for (size_t i = 0; i < n; i++)
                        buf_printf(&b, "%s%s", i ? ", " : "", keys[i]);
                free(keys);
                int r = exec_error(x, "can't evaluate field %s (the fields are: %s)", name, b.data ? b.data : "none");
                buf_free(&b);
                return r;
        }
        *out = ref(m);
        return 0;
}

static int eval_pipe(struct exec *x, const struct pipe *p, json_t *dot, bool bind, json_t **out);

static int eval_arg(struct exec *x, const struct arg *a, json_t *dot, json_t **out)
{
        json_t *v = NULL;
        *out = NULL;
        switch (a->kind) {
        case A_DOT: v = ref(dot); break;
        case A_VAR:
                if (!strcmp(a->name, "$")) {
                        v = ref(x->root);
                        break;
                }
                for (size_t i = x->n_vars; i-- > 0;)
                        if (!strcmp(x->vars[i].name, a->name)) {
                                v = ref(x->vars[i].v);
                                break;
                        }
                break;
        case A_PAREN:
                if (eval_pipe(x, a->paren, dot, false, &v) < 0)
                        return -EINVAL;
                break;
        case A_STRING: *out = json_string_nocheck(a->name); return 0;
        case A_NUMBER: *out = json_incref(a->num); return 0;
        case A_BOOL: *out = json_boolean(a->b); return 0;
        case A_NIL: *out = json_null(); return 0;
        case A_FUNC: return exec_error(x, "%s is a function: give its arguments in parentheses", a->name);
        }
        for (size_t i = 0; i < a->n_chain; i++) {
                json_t *f;
                int r = field(x, v, a->chain[i], &f);
                json_decref(v);
                if (r < 0)
                        return r;
                v = f;
        }
        *out = v;
        return 0;
}

/* ------------------------------------------------------------- functions */

static bool number(json_t *v, double *d)
{
        if (json_is_integer(v))
                *d = (double)json_integer_value(v);
        else if (json_is_real(v))
                *d = json_real_value(v);
        else
                return false;
        return true;
}

/* -2, 0, 2: less, equal, greater; -1 incomparable */
static int compare(json_t *a, json_t *b, int *res)
{
        double x, y;
        if (number(a, &x) && number(b, &y)) {
                *res = x < y ? -2 : x > y ? 2 : 0;
                return 0;
        }
        if (json_is_string(a) && json_is_string(b)) {
                int c = strcmp(json_string_value(a), json_string_value(b));
                *res = c < 0 ? -2 : c > 0 ? 2 : 0;
                return 0;
        }
        if (json_is_boolean(a) && json_is_boolean(b)) {
                *res = json_is_true(a) == json_is_true(b) ? 0 : -1;
                return 0;
        }
        if ((!a || json_is_null(a)) && (!b || json_is_null(b))) {
                *res = 0;
                return 0;
        }
        return -1;
}

/* The C format built below holds only "%", the flags "-+# 0", digits, "."
 * and a verb chosen here for the value's type: a literal would need one
 * per combination. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int fn_printf(struct exec *x, json_t **a, size_t n, json_t **out)
{
        if (!json_is_string(a[0]))
                return exec_error(x, "printf: the format is not a string");
        const char *f = json_string_value(a[0]);
        struct buf b = BUF_INIT(TMPL_MAX_OUTPUT);
        size_t ai = 1;
        buf_append(&b, "", 0);
        for (const char *p = f; *p; p++) {
                if (*p != '%') {
                        buf_append(&b, p, 1);
                        continue;
                }
                const char *start = p++;
                while (*p && strchr("-+# 0", *p))
                        p++;
                long width = strtol(p, (char **)&p, 10);
                long prec = -1;
                if (*p == '.')
                        prec = strtol(p + 1, (char **)&p, 10);
                if (width > PRINTF_MAX_WIDTH || prec > PRINTF_MAX_WIDTH) {
                        buf_free(&b);
                        return exec_error(x, "printf: width or precision above %d", PRINTF_MAX_WIDTH);
                }
                char verb = *p;
                if (!verb)
                        break;
                if (verb == '%') {
                        buf_append(&b, "%", 1);
                        continue;
                }
                char spec[64];
                snprintf(spec, sizeof spec, "%.*s", (int)(p - start), start);
                if (ai >= n) {
                        buf_printf(&b, "%%!%c(MISSING)", verb);
                        continue;
                }
                json_t *v = a[ai++];
                char fmt[80];
                double d;
                if ((verb == 'd' || verb == 'x' || verb == 'X' || verb == 'o') && number(v, &d)) {
                        snprintf(fmt, sizeof fmt, "%sll%c", spec, verb);
                        buf_printf(&b, fmt, json_is_integer(v) ? (long long)json_integer_value(v) : (long long)d);
                } else if ((verb == 'f' || verb == 'e' || verb == 'g') && number(v, &d)) {
                        snprintf(fmt, sizeof fmt, "%s%c", spec, verb);
                        buf_printf(&b, fmt, d);
                } else if (verb == 'q' && json_is_string(v)) {
                        char *q = json_dumps(v, JSON_ENCODE_ANY);
                        snprintf(fmt, sizeof fmt, "%ss", spec);
                        buf_printf(&b, fmt, q ? q : "");
                        free(q);
                } else if (verb == 's' || verb == 'v' || verb == 't') {
                        char *s = to_str(v);
                        snprintf(fmt, sizeof fmt, "%ss", spec);
                        buf_printf(&b, fmt, s);
                        free(s);
                } else {
                        char *s = to_str(v);
                        buf_printf(&b, "%%!%c(%s=%s)", verb, type_name(v), s);
                        free(s);
                }
        }
        *out = str_new(buf_steal(&b));
        return 0;
}
#pragma GCC diagnostic pop

static int call(struct exec *x, const char *fn, json_t **a, size_t n, json_t **out)
{
        static const struct { const char *name; size_t min, max; } arity[] = {
                { "json", 1, 1 }, { "index", 1, 64 }, { "len", 1, 1 }, { "join", 2, 2 }, { "split", 2, 2 },
                { "lower", 1, 1 }, { "upper", 1, 1 }, { "title", 1, 1 }, { "pad", 3, 3 }, { "truncate", 2, 2 },
                { "print", 0, 64 }, { "println", 0, 64 }, { "printf", 1, 64 }, { "eq", 2, 64 }, { "ne", 2, 2 },
                { "lt", 2, 2 }, { "le", 2, 2 }, { "gt", 2, 2 }, { "ge", 2, 2 }, { "not", 1, 1 },
                { "and", 1, 64 }, { "or", 1, 64 },
        };
        for (size_t i = 0; i < ARRAY_SIZE(arity); i++)
                if (!strcmp(arity[i].name, fn) && (n < arity[i].min || n > arity[i].max))
                        return exec_error(x, "wrong number of args for %s: want %s%zu got %zu", fn,
                                          arity[i].max > arity[i].min ? "at least " : "", arity[i].min, n);
        *out = NULL;
        /* docker's header functions give the header back */
        static const char *const header_fns[] = { "json", "index", "split", "join", "title",
                                                  "lower", "upper", "pad", "truncate" };
        bool passes = false;
        for (size_t i = 0; i < ARRAY_SIZE(header_fns); i++)
                passes |= !strcmp(header_fns[i], fn);
        if (x->mode == TMPL_HEADER && passes) {
                *out = ref(a[0]);
                return 0;
        }
        if (!strcmp(fn, "json")) {
                char *s = a[0] ? json_dumps(a[0], JSON_ENCODE_ANY | JSON_COMPACT) : xstrdup("null");
                *out = str_new(s ? s : xstrdup("null"));
        } else if (!strcmp(fn, "index")) {
                json_t *v = ref(a[0]);
                for (size_t i = 1; i < n && v; i++) {
                        json_t *k = a[i], *m = NULL;
                        if (json_is_object(v) && json_is_string(k)) {
                                m = json_object_get(v, json_string_value(k));
                                if (!m && x->mode == TMPL_STRICT)
                                        m = json_string("");   /* a map[string]string's zero value */
                                else
                                        m = ref(m);
                        } else if (json_is_array(v) && json_is_integer(k)) {
                                json_int_t ix = json_integer_value(k);
                                if (ix < 0 || (size_t)ix >= json_array_size(v)) {
                                        json_decref(v);
                                        return exec_error(x, "index: index out of range: %lld", (long long)ix);
                                }
                                m = ref(json_array_get(v, (size_t)ix));
                        } else if (!json_is_null(v)) {
                                const char *tn = type_name(v);
                                json_decref(v);
                                return exec_error(x, "index: can't index item of type %s with %s", tn, type_name(k));
                        }
                        json_decref(v);
                        v = m;
                }
                *out = v;
        } else if (!strcmp(fn, "len")) {
                json_t *v = a[0];
                size_t l;
                if (json_is_string(v))
                        l = json_string_length(v);
                else if (json_is_array(v))
                        l = json_array_size(v);
                else if (json_is_object(v))
                        l = json_object_size(v);
                else
                        return exec_error(x, "len of type %s", type_name(v));
                *out = json_integer((json_int_t)l);
        } else if (!strcmp(fn, "join")) {
                if (!json_is_array(a[0]) && a[0] && !json_is_null(a[0]))
                        return exec_error(x, "join: not a list but %s", type_name(a[0]));
                _cleanup_free_ char *sep = to_str(a[1]);
                struct buf b = BUF_INIT(TMPL_MAX_OUTPUT);
                buf_append(&b, "", 0);
                for (size_t i = 0; i < json_array_size(a[0]); i++) {
                        char *s = to_str(json_array_get(a[0], i));
                        buf_printf(&b, "%s%s", i ? sep : "", s);
                        free(s);
                }
                *out = str_new(buf_steal(&b));
        } else if (!strcmp(fn, "split")) {
                _cleanup_free_ char *s = to_str(a[0]), *sep = to_str(a[1]);
                json_t *arr = json_array();
                size_t sl = strlen(sep);
                const char *p = s;
                if (!sl) {
                        while (*p) {
                                size_t k = 1;
                                while (((unsigned char)p[k] & 0xC0) == 0x80)
                                        k++;
                                json_array_append_new(arr, json_stringn_nocheck(p, k));
                                p += k;
                        }
                } else {
                        for (const char *q; (q = strstr(p, sep)); p = q + sl)
                                json_array_append_new(arr, json_stringn_nocheck(p, (size_t)(q - p)));
                        json_array_append_new(arr, json_string_nocheck(p));
                }
                *out = arr;
        } else if (!strcmp(fn, "lower") || !strcmp(fn, "upper") || !strcmp(fn, "title")) {
                char *s = to_str(a[0]);
                bool word_start = true;
                for (char *c = s; *c; c++) {
                        if (fn[0] == 'l')
                                *c = (char)tolower((unsigned char)*c);
                        else if (fn[0] == 'u' || word_start)
                                *c = (char)toupper((unsigned char)*c);
                        word_start = isspace((unsigned char)*c) || *c == '-' || *c == '_';
                }
                *out = str_new(s);
        } else if (!strcmp(fn, "pad") || !strcmp(fn, "truncate")) {
                double d1 = 0, d2 = 0;
                if (!number(a[1], &d1) || (n > 2 && !number(a[2], &d2)) || d1 < 0 || d2 < 0 ||
                    d1 > PRINTF_MAX_WIDTH || d2 > PRINTF_MAX_WIDTH)
                        return exec_error(x, "%s: the lengths must be numbers from 0 to %d", fn, PRINTF_MAX_WIDTH);
                _cleanup_free_ char *s = to_str(a[0]);
                if (fn[0] == 'p') {
                        *out = str_new(xasprintf("%*s%s%*s", (int)d1, "", s, (int)d2, ""));
                } else {
                        size_t cut = (size_t)d1;
                        if (cut < strlen(s)) {
                                while (cut && ((unsigned char)s[cut] & 0xC0) == 0x80)
                                        cut--;   /* never half a UTF-8 character */
                                s[cut] = '\0';
                        }
                        *out = json_string_nocheck(s);
                }
        } else if (!strcmp(fn, "print") || !strcmp(fn, "println")) {
                struct buf b = BUF_INIT(TMPL_MAX_OUTPUT);
                buf_append(&b, "", 0);
                for (size_t i = 0; i < n; i++) {
                        /* Sprint: a space between operands when neither is a string; Sprintln: always */
                        if (i && (fn[5] == 'l' || (!json_is_string(a[i - 1]) && !json_is_string(a[i]))))
                                buf_append(&b, " ", 1);
                        tmpl_print_value(a[i], &b);
                }
                if (fn[5] == 'l')
                        buf_append(&b, "\n", 1);
                *out = str_new(buf_steal(&b));
        } else if (!strcmp(fn, "printf")) {
                return fn_printf(x, a, n, out);
        } else if (!strcmp(fn, "not")) {
                *out = json_boolean(!truth(a[0]));
        } else if (!strcmp(fn, "and") || !strcmp(fn, "or")) {
                size_t i = 0;
                while (i + 1 < n && truth(a[i]) == (fn[0] == 'a'))
                        i++;
                *out = ref(a[i]);
        } else {
                /* eq ne lt le gt ge */
                bool res = false;
                for (size_t i = 1; i < n; i++) {
                        int c;
                        if (compare(a[0], a[i], &c) < 0) {
                                if (strcmp(fn, "eq") && strcmp(fn, "ne"))
                                        return exec_error(x, "%s: incompatible types for comparison (%s and %s)", fn,
                                                          type_name(a[0]), type_name(a[i]));
                                c = -1;
                        }
                        bool r = !strcmp(fn, "eq") ? c == 0 : !strcmp(fn, "ne") ? c != 0 : !strcmp(fn, "lt") ? c == -2
                                 : !strcmp(fn, "le") ? (c == -2 || c == 0) : !strcmp(fn, "gt") ? c == 2 : (c == 2 || c == 0);
                        if (r && !strcmp(fn, "eq")) {
                                res = true;
                                break;
                        }
                        res = r;
                }
                *out = json_boolean(res);
        }
        return 0;
}

static int eval_cmd(struct exec *x, const struct cmd *c, json_t *dot, bool piped, json_t *in, json_t **out)
{
        if (++x->steps > TMPL_MAX_STEPS)
                return exec_error(x, "more than %u steps", TMPL_MAX_STEPS);
        const struct arg *a0 = &c->args[0];
        if (a0->kind != A_FUNC) {
                if (c->n > 1 || piped)
                        return exec_error(x, "can't give argument to non-function (column %zu)", a0->col);
                return eval_arg(x, a0, dot, out);
        }
        size_t n = c->n - 1 + (piped ? 1 : 0);
        json_t **args = xcalloc(n + 1, sizeof *args);
        int r = 0;
        for (size_t i = 1; i < c->n && r >= 0; i++)
                r = eval_arg(x, &c->args[i], dot, &args[i - 1]);
        if (piped)
                args[n - 1] = ref(in);
        if (r >= 0)
                r = call(x, a0->name, args, n, out);
        for (size_t i = 0; i < n; i++)
                json_decref(args[i]);
        free(args);
        return r;
}

/* @bind: declare the pipeline's variables to its value (not for range) */
static int eval_pipe(struct exec *x, const struct pipe *p, json_t *dot, bool bind, json_t **out)
{
        json_t *v = NULL;
        for (size_t i = 0; i < p->n_cmds; i++) {
                json_t *nv = NULL;
                int r = eval_cmd(x, &p->cmds[i], dot, i > 0, v, &nv);
                json_decref(v);
                if (r < 0)
                        return r;
                v = nv;
        }
        if (bind && p->n_decl)
                var_push(x, p->decl[0], v);
        *out = v;
        return 0;
}

static int exec_list(struct exec *x, const struct list *l, json_t *dot);

static int exec_range(struct exec *x, const struct node *n, json_t *dot, json_t *v)
{
        const struct pipe *p = n->pipe;
        size_t scope = x->n_vars;
        int r = 0;
        if (json_is_array(v) && json_array_size(v)) {
                for (size_t i = 0; i < json_array_size(v) && r >= 0; i++) {
                        json_t *el = json_array_get(v, i);
                        if (p->n_decl == 2) {
                                json_t *ix = json_integer((json_int_t)i);
                                var_push(x, p->decl[0], ix);
                                json_decref(ix);
                        }
                        if (p->n_decl)
                                var_push(x, p->decl[p->n_decl - 1], el);
                        r = exec_list(x, &n->body, el);
                        var_pop_to(x, scope);
                }
                return r;
        }
        if (json_is_object(v) && json_object_size(v)) {
                size_t nk;
                const char **keys = sorted_keys(v, &nk);
                for (size_t i = 0; i < nk && r >= 0; i++) {
                        json_t *el = json_object_get(v, keys[i]);
                        if (p->n_decl == 2) {
                                json_t *k = json_string_nocheck(keys[i]);
                                var_push(x, p->decl[0], k);
                                json_decref(k);
                        }
                        if (p->n_decl)
                                var_push(x, p->decl[p->n_decl - 1], el);
                        r = exec_list(x, &n->body, el);
                        var_pop_to(x, scope);
                }
                free(keys);
                return r;
        }
        if (v && !json_is_null(v) && !json_is_array(v) && !json_is_object(v)) {
                if (x->mode == TMPL_HEADER)   /* a header string: one pass over the header */
                        return exec_list(x, &n->body, v);
                return exec_error(x, "range can't iterate over %s", type_name(v));
        }
        return exec_list(x, &n->els, dot);
}

static int exec_list(struct exec *x, const struct list *l, json_t *dot)
{
        for (size_t i = 0; i < l->n; i++) {
                const struct node *n = l->v[i];
                if (++x->steps > TMPL_MAX_STEPS)
                        return exec_error(x, "more than %u steps", TMPL_MAX_STEPS);
                if (n->kind == N_TEXT) {
                        if (out_append(x, n->text, strlen(n->text)) < 0)
                                return -EFBIG;
                        continue;
                }
                size_t scope = x->n_vars;
                json_t *v = NULL;
                int r = eval_pipe(x, n->pipe, dot, n->kind != N_RANGE, &v);
                if (r < 0)
                        return r;
                switch (n->kind) {
                case N_ACTION:
                        if (!n->pipe->n_decl) {
                                struct buf *b = x->out;
                                r = tmpl_print_value(v, b);
                                if (r < 0)
                                        r = err_setx(x->e, EFBIG, "template: output larger than %zu bytes", b->max);
                        }
                        scope = x->n_vars;   /* {{$x := ...}} lives to the end of the block */
                        break;
                case N_IF: r = exec_list(x, truth(v) ? &n->body : &n->els, dot); break;
                case N_WITH: r = truth(v) ? exec_list(x, &n->body, v) : exec_list(x, &n->els, dot); break;
                case N_RANGE: r = exec_range(x, n, dot, v); break;
                default: break;
                }
                json_decref(v);
                var_pop_to(x, scope);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tmpl_exec(const struct tmpl *t, json_t *data, enum tmpl_mode mode, struct buf *out, struct err *e)
{
        struct exec x = { .mode = mode, .root = data, .out = out, .e = e };
        int r = out_append(&x, "", 0);
        if (r >= 0)
                r = exec_list(&x, &t->root, data);
        var_pop_to(&x, 0);
        free(x.vars);
        return r;
}
