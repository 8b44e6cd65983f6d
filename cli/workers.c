/* The thread pool under pull and push (workers.h). */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct workers {
        worker_fn fn;
        void *ctx;
        const volatile sig_atomic_t *stop;
        pthread_mutex_t lock;      /* guards next and failed */
        size_t next, n;
        bool failed;
        int *r;                    /* each job's result */
        struct err *e;             /* and its message */
};

static void *worker(void *arg)
{
        struct workers *w = arg;
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        for (;;) {
                pthread_mutex_lock(&w->lock);
                if (w->failed || (w->stop && *w->stop) || w->next >= w->n) {
                        pthread_mutex_unlock(&w->lock);
                        return NULL;
                }
                size_t i = w->next++;
                pthread_mutex_unlock(&w->lock);
                w->r[i] = w->fn(w->ctx, i, c, &w->e[i]);
                if (w->r[i] < 0) {
                        pthread_mutex_lock(&w->lock);
                        w->failed = true;
                        pthread_mutex_unlock(&w->lock);
                }
        }
}

int workers_run(size_t n, int threads, worker_fn fn, void *ctx, const volatile sig_atomic_t *stop,
                const char *what, struct err *e)
{
        if (!n)
                return 0;
        struct workers w = { .fn = fn, .ctx = ctx, .stop = stop, .n = n,
                             .r = xcalloc(n, sizeof *w.r), .e = xcalloc(n, sizeof *w.e) };
        pthread_mutex_init(&w.lock, NULL);
        if (threads < 1)
                threads = 1;
        if ((size_t)threads > n)
                threads = (int)n;
        if (threads > WORKERS_MAX)
                threads = WORKERS_MAX;
        pthread_t th[WORKERS_MAX];
        int started = 0;
        for (; started < threads; started++)
                if (pthread_create(&th[started], NULL, worker, &w) != 0)
                        break;
        int r = started ? 0 : err_set(e, EAGAIN, "start %s threads", what);
        for (int i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (w.r[i] < 0) {
                        *e = w.e[i];
                        r = w.r[i];
                }
        pthread_mutex_destroy(&w.lock);
        free(w.r);
        free(w.e);
        return r;
}

bool workers_parse(const char *s, int *out)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > WORKERS_MAX)
                return false;
        *out = (int)v;
        return true;
}
