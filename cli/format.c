/* Output helpers shared by the commands (see format.h). */
#include "format.h"
#include "template.h"

#include <stdarg.h>
#include <jansson.h>
#include <string.h>

void table_init(struct table *t, size_t n_cols, ...)
{
        memset(t, 0, sizeof *t);
        t->n_cols = n_cols;
        t->cells = xcalloc(n_cols, sizeof *t->cells);
        va_list ap;
        va_start(ap, n_cols);
        for (size_t i = 0; i < n_cols; i++)
                t->cells[i] = xstrdup(va_arg(ap, const char *));
        va_end(ap);
        t->n_rows = 1;
}

void table_add(struct table *t, ...)
{
        t->cells = xrealloc(t->cells, (t->n_rows + 1) * t->n_cols * sizeof *t->cells);
        va_list ap;
        va_start(ap, t);
        for (size_t i = 0; i < t->n_cols; i++) {
                const char *c = va_arg(ap, const char *);
                t->cells[t->n_rows * t->n_cols + i] = xstrdup(c ? c : "");
        }
        va_end(ap);
        t->n_rows++;
}

/* display width: count UTF-8 lead bytes, not bytes */
static size_t width(const char *s)
{
        size_t w = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        w++;
        return w;
}

void table_print(const struct table *t, FILE *f)
{
        size_t *w = xcalloc(t->n_cols, sizeof *w);
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_cols; c++) {
                        size_t x = width(t->cells[r * t->n_cols + c]);
                        if (x > w[c])
                                w[c] = x;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_cols; c++) {
                        const char *cell = t->cells[r * t->n_cols + c];
                        if (c + 1 == t->n_cols)
                                fprintf(f, "%s\n", cell);
                        else
                                fprintf(f, "%s%*s", cell, (int)(w[c] - width(cell) + 3), "");
                }
        }
        free(w);
}

void table_free(struct table *t)
{
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
                free(t->cells[i]);
        free(t->cells);
        memset(t, 0, sizeof *t);
}

void human_ago(time_t when, time_t now, char *out, size_t outlen)
{
        long long s = (long long)(now - when);
        long long m = s / 60, h = s / 3600;
        if (when <= 0) {
                snprintf(out, outlen, "N/A");
                return;
        }
        if (s < 1)
                snprintf(out, outlen, "Less than a second ago");
        else if (s == 1)
                snprintf(out, outlen, "1 second ago");
        else if (s < 60)
                snprintf(out, outlen, "%lld seconds ago", s);
        else if (m == 1)
                snprintf(out, outlen, "About a minute ago");
        else if (m < 60)
                snprintf(out, outlen, "%lld minutes ago", m);
        else if (h == 1)
                snprintf(out, outlen, "About an hour ago");
        else if (h < 48)
                snprintf(out, outlen, "%lld hours ago", h);
        else if (h < 24 * 7 * 2)
                snprintf(out, outlen, "%lld days ago", h / 24);
        else if (h < 24 * 30 * 2)
                snprintf(out, outlen, "%lld weeks ago", h / 24 / 7);
        else if (h < 24 * 365 * 2)
                snprintf(out, outlen, "%lld months ago", h / 24 / 30);
        else
                snprintf(out, outlen, "%lld years ago", h / 24 / 365);
}

void time_rfc3339(time_t when, char *out, size_t outlen)
{
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t parse_rfc3339(const char *s)
{
        struct tm tm = { 0 };
        if (!s)
                return 0;
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return 0;
        if (*p == '.')
                while (*++p >= '0' && *p <= '9')
                        ;
        time_t t = timegm(&tm);
        int sign = 0, hh = 0, mm = 0;
        if (*p == '+' || *p == '-') {
                sign = *p == '+' ? 1 : -1;
                if (sscanf(p + 1, "%d:%d", &hh, &mm) == 2)
                        t -= sign * (hh * 3600 + mm * 60);
        }
        return t;
}

void split_store_name(const char *name, char **repo, char **tag, char **digest)
{
        const char *at = strchr(name, '@');
        const char *slash = strrchr(name, '/');
        const char *colon = strrchr(slash ? slash : name, ':');
        size_t rlen;
        if (at) {
                rlen = (size_t)(at - name);
                *tag = xstrdup("<none>");
                *digest = xstrdup(at + 1);
        } else if (colon) {
                rlen = (size_t)(colon - name);
                *tag = xstrdup(colon + 1);
                *digest = NULL;
        } else {
                rlen = strlen(name);
                *tag = xstrdup("<none>");
                *digest = NULL;
        }
        _cleanup_free_ char *full = xstrndup(name, rlen);
        const char *r = full;
        if (!strncmp(r, "docker.io/", 10)) {
                r += 10;
                if (!strncmp(r, "library/", 8) && !strchr(r + 8, '/'))
                        r += 8;
        }
        *repo = xstrdup(r);
}

char *truncate_ellipsis(const char *s, size_t max)
{
        if (width(s) <= max)
                return xstrdup(s);
        size_t chars = 0, i = 0;
        for (; s[i]; i++) {
                if (((unsigned char)s[i] & 0xC0) != 0x80) {
                        if (chars == max - 1)
                                break;
                        chars++;
                }
        }
        return xasprintf("%.*s…", (int)i, s);
}

/* ------------------------------------------------------------- --format */

struct twline {
        char **cells;
        size_t n;
};

struct tw {
        struct twline *lines;
        size_t n_lines;
        size_t widths[256];
        size_t n_widths;
        size_t minwidth, padding;
        FILE *f;
};

static void tw_write_lines(struct tw *w, size_t line0, size_t line1)
{
        for (size_t i = line0; i < line1; i++) {
                const struct twline *l = &w->lines[i];
                for (size_t j = 0; j < l->n; j++) {
                        fputs(l->cells[j], w->f);
                        if (j < w->n_widths)
                                fprintf(w->f, "%*s", (int)(w->widths[j] - width(l->cells[j])), "");
                }
                fputc('\n', w->f);
        }
}

/* Go's tabwriter.format(): a column block is a run of lines that have a
 * tab-terminated cell in that column; its width is the widest cell there. */
static void tw_format(struct tw *w, size_t line0, size_t line1)
{
        size_t column = w->n_widths;
        for (size_t this = line0; this < line1; this++) {
                if (column + 1 >= w->lines[this].n)
                        continue;
                tw_write_lines(w, line0, this);
                line0 = this;
                size_t wd = w->minwidth;
                for (; this < line1 && column + 1 < w->lines[this].n; this++) {
                        size_t cw = width(w->lines[this].cells[column]) + w->padding;
                        if (cw > wd)
                                wd = cw;
                }
                if (w->n_widths < ARRAY_SIZE(w->widths)) {
                        w->widths[w->n_widths++] = wd;
                        tw_format(w, line0, this);
                        w->n_widths--;
                } else {
                        tw_write_lines(w, line0, this);
                }
                line0 = this;
        }
        tw_write_lines(w, line0, line1);
}

void tabwrite(const char *text, size_t minwidth, size_t padding, FILE *f)
{
        struct tw w = { .minwidth = minwidth, .padding = padding, .f = f };
        _cleanup_free_ char *copy = xstrdup(text);
        size_t len = strlen(copy);
        if (len && copy[len - 1] == '\n')
                copy[--len] = '\0';
        char *save = NULL;
        for (char *line = len ? copy : NULL; line; line = save) {
                char *nl = strchr(line, '\n');
                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                w.lines = xrealloc(w.lines, (w.n_lines + 1) * sizeof *w.lines);
                struct twline *l = &w.lines[w.n_lines++];
                memset(l, 0, sizeof *l);
                for (char *cell = line;;) {
                        char *tab = strchr(cell, '\t');
                        l->cells = xrealloc(l->cells, (l->n + 1) * sizeof *l->cells);
                        l->cells[l->n++] = cell;
                        if (!tab)
                                break;
                        *tab = '\0';
                        cell = tab + 1;
                }
        }
        tw_format(&w, 0, w.n_lines);
        for (size_t i = 0; i < w.n_lines; i++)
                free(w.lines[i].cells);
        free(w.lines);
}

/* docker's preFormat: "table" off, spaces trimmed, \t and \n as typed become tab and newline */
static char *format_text(const char *format, const char *table_default, bool *table)
{
        *table = !strncmp(format, "table", 5);
        if (!strcmp(format, "json"))
                format = "{{json .}}";
        else if (*table) {
                format += 5;
                while (*format == ' ')
                        format++;
                if (!*format)
                        format = table_default;
        }
        while (*format == ' ')
                format++;
        char *t = xstrdup(format), *d = t;
        for (const char *s = t; *s; s++) {
                if (s[0] == '\\' && (s[1] == 't' || s[1] == 'n')) {
                        *d++ = s[1] == 't' ? '\t' : '\n';
                        s++;
                } else {
                        *d++ = *s;
                }
        }
        while (d > t && d[-1] == ' ')
                d--;
        *d = '\0';
        return t;
}

int fmt_open(struct fmt_out *o, const char *format, const char *table_default, json_t *header, bool strict,
             FILE *f, struct err *e)
{
        memset(o, 0, sizeof *o);
        _cleanup_free_ char *text = format_text(format, table_default, &o->table);
        o->mode = strict ? TMPL_STRICT : TMPL_LENIENT;
        o->header = header;
        o->f = f;
        o->rows = (struct buf)BUF_INIT(256u << 20);
        int r = tmpl_parse(text, &o->t, e);
        return r < 0 ? err_wrap(e, "--format") : 0;
}

int fmt_item(struct fmt_out *o, json_t *item, struct err *e)
{
        struct buf b = BUF_INIT(TMPL_MAX_OUTPUT);
        int r = tmpl_exec(o->t, item, (enum tmpl_mode)o->mode, &b, e);
        if (r >= 0 && o->table) {
                r = buf_append(&o->rows, b.data, b.len);
                if (r >= 0)
                        r = buf_append(&o->rows, "\n", 1);
                if (r < 0)
                        err_setx(e, -r, "output larger than %zu bytes", o->rows.max);
        } else if (r >= 0) {
                fwrite(b.data, 1, b.len, o->f);
                fputc('\n', o->f);
        }
        buf_free(&b);
        json_decref(item);
        return r < 0 ? err_wrap(e, "--format") : 0;
}

int fmt_close(struct fmt_out *o, int r, struct err *e)
{
        if (r >= 0 && o->t && o->table) {
                struct buf h = BUF_INIT(TMPL_MAX_OUTPUT);
                r = tmpl_exec(o->t, o->header, TMPL_HEADER, &h, e);
                if (r >= 0)
                        r = buf_append(&h, "\n", 1);
                if (r >= 0 && o->rows.len)
                        r = buf_append(&h, o->rows.data, o->rows.len);
                if (r >= 0)
                        tabwrite(h.data, 10, 3, o->f);
                else
                        err_wrap(e, "--format");
                buf_free(&h);
        }
        tmpl_free(o->t);
        buf_free(&o->rows);
        memset(o, 0, sizeof *o);
        return r;
}
