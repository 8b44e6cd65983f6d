/* Bounded growable buffers (see struct buf in util.h). */
#include "util.h"

#include <stdio.h>
#include <string.h>

int buf_append(struct buf *b, const void *p, size_t n)
{
        if (n > b->max - b->len)
                return -EFBIG;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                b->data = xrealloc(b->data, cap);
                b->cap = cap;
        }
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = NULL;
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return buf_append(b, s, (size_t)n);
}

void buf_reset(struct buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

char *buf_steal(struct buf *b)
{
        char *p = b->data ? b->data : xstrdup("");
        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}
