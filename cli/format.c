/* Output helpers shared by the commands (see format.h). */
#include "format.h"

#include <stdarg.h>
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
