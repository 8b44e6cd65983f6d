/* Progress rows the way `docker pull` draws them. */
#include "progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#define ROW_TEXT_MAX 160
#define REDRAW_NS (100ull * 1000 * 1000)

struct row {
        char id[24];
        char text[ROW_TEXT_MAX];
        uint64_t last_draw;
};

struct progress {
        pthread_mutex_t lock;     /* guards everything below and the output */
        FILE *out;
        bool tty, quiet;
        size_t n, cap;
        struct row *rows;
};

struct progress *progress_new(FILE *out, bool tty, bool quiet)
{
        struct progress *p = xcalloc(1, sizeof *p);
        pthread_mutex_init(&p->lock, NULL);
        p->out = out;
        p->tty = tty;
        p->quiet = quiet;
        return p;
}

void progress_free(struct progress *p)
{
        if (!p)
                return;
        /* The cursor rests on the line under the rows; what the terminal
         * echoed there (^C when the pull is interrupted) is cleared, so the
         * line printed next starts on a clean line. */
        if (p->tty && !p->quiet && p->n)
                fputs("\r\033[K", p->out);
        fflush(p->out);
        pthread_mutex_destroy(&p->lock);
        free(p->rows);
        free(p);
}

static struct row *find_row(struct progress *p, const char *id, size_t *idx, bool *added)
{
        *added = false;
        for (size_t i = 0; i < p->n; i++)
                if (!strcmp(p->rows[i].id, id)) {
                        *idx = i;
                        return &p->rows[i];
                }
        if (p->n == p->cap) {
                p->cap = p->cap ? 2 * p->cap : 8;
                p->rows = xrealloc(p->rows, p->cap * sizeof *p->rows);
        }
        struct row *r = &p->rows[p->n];
        memset(r, 0, sizeof *r);
        snprintf(r->id, sizeof r->id, "%s", id);
        *idx = p->n++;
        *added = true;
        return r;
}

/* Rewrite row @idx in place: up (n - idx) lines, clear, print, back down. */
static void draw(struct progress *p, size_t idx, bool added)
{
        struct row *r = &p->rows[idx];
        if (added) {
                fprintf(p->out, "%s: %s\n", r->id, r->text);
        } else {
                size_t up = p->n - idx;
                fprintf(p->out, "\033[%zuA\r\033[2K%s: %s\r\033[%zuB", up, r->id, r->text, up);
        }
        fflush(p->out);
}

void progress_status(struct progress *p, const char *id, const char *status)
{
        if (p->quiet)
                return;
        pthread_mutex_lock(&p->lock);
        size_t idx;
        bool added;
        struct row *r = find_row(p, id, &idx, &added);
        bool changed = added || strcmp(r->text, status);
        snprintf(r->text, sizeof r->text, "%s", status);
        if (p->tty)
                draw(p, idx, added);
        else if (changed) {
                fprintf(p->out, "%s: %s\n", id, status);
                fflush(p->out);
        }
        pthread_mutex_unlock(&p->lock);
}

void progress_bytes(struct progress *p, const char *id, const char *action, uint64_t cur, uint64_t total)
{
        if (p->quiet)
                return;
        if (!p->tty) {
                /* plain mode: the action once, as a status change */
                pthread_mutex_lock(&p->lock);
                size_t idx;
                bool added;
                struct row *r = find_row(p, id, &idx, &added);
                if (added || strcmp(r->text, action)) {
                        snprintf(r->text, sizeof r->text, "%s", action);
                        fprintf(p->out, "%s: %s\n", id, action);
                        fflush(p->out);
                }
                pthread_mutex_unlock(&p->lock);
                return;
        }
        uint64_t now = now_ns();
        pthread_mutex_lock(&p->lock);
        size_t idx;
        bool added;
        struct row *r = find_row(p, id, &idx, &added);
        if (!added && cur < total && now - r->last_draw < REDRAW_NS) {
                pthread_mutex_unlock(&p->lock);
                return;
        }
        r->last_draw = now;
        char bar[51], a[32], b[32];
        int width = 50, fill = total ? (int)((double)cur / (double)total * width) : 0;
        if (fill > width)
                fill = width;
        for (int i = 0; i < width; i++)
                bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[width] = '\0';
        human_size(cur, a, sizeof a);
        human_size(total, b, sizeof b);
        snprintf(r->text, sizeof r->text, "%s [%s] %s/%s", action, bar, a, b);
        draw(p, idx, added);
        pthread_mutex_unlock(&p->lock);
}

void progress_line(struct progress *p, bool always, const char *fmt, ...)
{
        if (p->quiet && !always)
                return;
        pthread_mutex_lock(&p->lock);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(p->out, fmt, ap);
        va_end(ap);
        fputc('\n', p->out);
        fflush(p->out);
        /* rows above this line are no longer redrawn */
        p->n = 0;
        pthread_mutex_unlock(&p->lock);
}

void progress_notice(struct progress *p, const char *fmt, ...)
{
        if (p->quiet)
                return;
        pthread_mutex_lock(&p->lock);
        if (p->tty && p->n)
                fprintf(p->out, "\033[%zuA\r\033[J", p->n);   /* up over the rows, clear below */
        va_list ap;
        va_start(ap, fmt);
        vfprintf(p->out, fmt, ap);
        va_end(ap);
        fputc('\n', p->out);
        if (p->tty)
                for (size_t i = 0; i < p->n; i++)
                        fprintf(p->out, "%s: %s\n", p->rows[i].id, p->rows[i].text);
        fflush(p->out);
        pthread_mutex_unlock(&p->lock);
}
