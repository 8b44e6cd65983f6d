/* Error objects and allocation helpers. */
#include "util.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int err_vset(struct err *e, int errnum, bool append, const char *fmt, va_list ap)
{
        int code = errnum > 0 ? errnum : EIO;
        if (!e)
                return -code;
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        if (n < 0)
                n = 0;
        if (append && errnum > 0 && (size_t)n < sizeof e->msg)
                snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errnum));
        e->code = code;
        return -code;
}

int err_set(struct err *e, int errnum, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = err_vset(e, errnum, true, fmt, ap);
        va_end(ap);
        return r;
}

int err_setx(struct err *e, int errnum, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = err_vset(e, errnum, false, fmt, ap);
        va_end(ap);
        return r;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
        if (!e)
                return -EIO;
        char prefix[ERR_MSG_MAX], old[ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, e->msg, sizeof old);
        size_t n = strlen(prefix);
        memcpy(e->msg, prefix, n + 1);
        if (old[0] && n + 2 < sizeof e->msg) {
                memcpy(e->msg + n, ": ", 3);
                size_t room = sizeof e->msg - n - 3;
                size_t olen = strnlen(old, room);
                memcpy(e->msg + n + 2, old, olen);
                e->msg[n + 2 + olen] = '\0';
        }
        if (!e->code)
                e->code = EIO;
        return -e->code;
}

void err_clear(struct err *e)
{
        if (!e)
                return;
        e->code = 0;
        e->msg[0] = '\0';
}

static void *oom(void)
{
        fputs("strata: out of memory\n", stderr);
        abort();
}

void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        return p ? p : oom();
}

void *xcalloc(size_t n, size_t m)
{
        void *p = calloc(n ? n : 1, m ? m : 1);
        return p ? p : oom();
}

void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);
        return q ? q : oom();
}

char *xstrdup(const char *s)
{
        char *p = strdup(s);
        return p ? p : oom();
}

char *xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        return p ? p : oom();
}

char *xasprintf(const char *fmt, ...)
{
        char *p;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&p, fmt, ap);
        va_end(ap);
        return r < 0 ? oom() : p;
}
