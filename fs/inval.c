/* Telling the kernel that another name's cached data is stale, without
 * tying up the workers.
 *
 * The names of one file are separate nodes, so separate kernel inodes with
 * their own page caches: a write through one name must drop the others'
 * pages (ovl_data_changed).  The kernel waits for every locked page of that
 * inode while dropping them, and a page stays locked while its READ waits
 * for a worker, and a written page while its WRITE waits for the reply:
 * workers that invalidated themselves could all wait on requests that none
 * of them is free to answer, or on each other's writes.  So one thread of
 * its own does the data invalidations.  The writer waits for its job (so
 * that the next read through another open name sees the write) only when
 * the thread was idle, and never longer than INVAL_WAIT_MS; with writes
 * through several names at once the invalidations follow the replies. */
#define FUSE_USE_VERSION 312
#include "fs-ops.h"

#include <time.h>

#define INVAL_WAIT_MS 50

struct inval_job {
        struct inval_job *next;
        struct node *n;
        uint64_t seq;
};

static void *inval_thread(void *arg)
{
        struct fs_session *s = arg;
        struct fs_inval *q = &s->inval;
        pthread_mutex_lock(&q->lock);
        for (;;) {
                while (!q->head && !q->stop)
                        pthread_cond_wait(&q->work, &q->lock);
                if (!q->head)
                        break;
                struct inval_job *j = q->head;
                q->head = j->next;
                if (!q->head)
                        q->tail = NULL;
                pthread_mutex_unlock(&q->lock);
                if (!q->stop)
                        fuse_lowlevel_notify_inval_inode(s->se, fs_node_id(s, j->n), 0, 0);
                node_release(s->o, j->n);
                pthread_mutex_lock(&q->lock);
                q->finished = j->seq;
                free(j);
                pthread_cond_broadcast(&q->done);
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

int fs_inval_start(struct fs_session *s)
{
        struct fs_inval *q = &s->inval;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->work, NULL);
        pthread_cond_init(&q->done, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&q->thread, NULL, inval_thread, s);
        q->started = r == 0;
        return -r;
}

void fs_inval_stop(struct fs_session *s)
{
        struct fs_inval *q = &s->inval;
        if (!q->started)
                return;
        pthread_mutex_lock(&q->lock);
        q->stop = true;
        pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
        q->started = false;
        pthread_cond_destroy(&q->work);
        pthread_cond_destroy(&q->done);
        pthread_mutex_destroy(&q->lock);
}

void fs_inval_node(void *ctx, struct node *n, bool data)
{
        struct fs_session *s = ctx;
        if (!s->se)
                return;
        if (!data || !s->inval.started) {
                fuse_lowlevel_notify_inval_inode(s->se, fs_node_id(s, n), data ? 0 : -1, 0);
                return;
        }
        struct fs_inval *q = &s->inval;
        struct inval_job *j = xcalloc(1, sizeof(*j));
        node_hold(s->o, n);
        j->n = n;
        pthread_mutex_lock(&q->lock);
        bool idle = q->finished == q->queued;
        uint64_t seq = j->seq = ++q->queued;
        if (q->tail)
                q->tail->next = j;
        else
                q->head = j;
        q->tail = j;
        pthread_cond_signal(&q->work);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += INVAL_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (idle && q->finished < seq)
                if (pthread_cond_timedwait(&q->done, &q->lock, &until) != 0)
                        break;
        pthread_mutex_unlock(&q->lock);
}
