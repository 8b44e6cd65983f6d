/* Read-ahead for walks over a cold cache.  When a directory's listing is
 * read from the layers, a thread of its own reads ahead what a walk asks
 * next: each lower subdirectory's entries and their inodes, so that the
 * lower filesystem has them cached by the time the walk comes down, and
 * the disk reads overlap the FUSE round trips instead of adding to them.
 * When a first file of a directory is opened, the disk also reads the data
 * of the directory's other small files (an archiver or a copy reads them
 * next; posix_fadvise returns at once, the reads go on in the kernel).
 * Best effort: a bounded queue (full: dropped), nothing reported, nothing
 * changed - it only reads layers, which never change. */
#include "fs-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#define PREFETCH_QUEUE 1024
#define PREFETCH_DATA_MAX (128 * 1024)

struct prefetch_job {
        int layer;
        bool data;              /* the small files' data too, not only the inodes */
        char *path;
};

struct prefetch {
        struct worker w;
        struct prefetch_job q[PREFETCH_QUEUE];
        size_t head, n;
};

static void read_ahead(struct ovl *o, const struct prefetch_job *j)
{
        _cleanup_at_ struct at a = AT_INIT;
        if (at_get(o, j->layer, j->path, &a) < 0)
                return;
        DIR *d = opendir_at(a.fd, a.rel);
        if (!d)
                return;
        struct dirent *de;
        struct stat st;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !j->data ||
                    !S_ISREG(st.st_mode) || st.st_size > PREFETCH_DATA_MAX)
                        continue;
                /* asks the disk and returns: the reads come in the background */
                int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
                if (fd < 0)
                        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0) {
                        (void)posix_fadvise(fd, 0, st.st_size, POSIX_FADV_WILLNEED);
                        close(fd);
                }
        }
        closedir(d);
}

static void *prefetch_thread(void *arg)
{
        struct ovl *o = arg;
        struct prefetch *p = o->prefetch;
        pthread_mutex_lock(&p->w.lock);
        while (worker_wait(&p->w, &p->n)) {
                struct prefetch_job j = p->q[p->head];
                p->head = (p->head + 1) % PREFETCH_QUEUE;
                p->n--;
                pthread_mutex_unlock(&p->w.lock);
                read_ahead(o, &j);
                free(j.path);
                pthread_mutex_lock(&p->w.lock);
        }
        pthread_mutex_unlock(&p->w.lock);
        return NULL;
}

int worker_start(struct worker *w, void *(*fn)(void *), void *arg)
{
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->work, NULL);
        w->stop = false;
        int r = pthread_create(&w->thread, NULL, fn, arg);
        if (r != 0) {
                worker_destroy(w);
                return -r;
        }
        return 0;
}

void worker_stop(struct worker *w)
{
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
}

bool worker_wait(struct worker *w, const size_t *n)
{
        while (!*n && !w->stop)
                pthread_cond_wait(&w->work, &w->lock);
        return !w->stop;
}

void worker_destroy(struct worker *w)
{
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->lock);
}

int ovl_prefetch_start(struct ovl *o)
{
        struct prefetch *p = xcalloc(1, sizeof(*p));
        o->prefetch = p;
        int r = worker_start(&p->w, prefetch_thread, o);
        if (r < 0) {
                o->prefetch = NULL;
                free(p);
        }
        return r;
}

void ovl_prefetch_stop(struct ovl *o)
{
        struct prefetch *p = o->prefetch;
        if (!p)
                return;
        worker_stop(&p->w);
        for (; p->n; p->n--, p->head = (p->head + 1) % PREFETCH_QUEUE)
                free(p->q[p->head].path);
        worker_destroy(&p->w);
        free(p);
        o->prefetch = NULL;
}

bool ovl_prefetch_siblings(struct ovl *o, struct node *n)
{
        if (!o->prefetch)
                return false;
        pthread_mutex_lock(&o->tree_lock);
        struct node *dir = n->parent;
        bool first = dir && !dir->data_ahead;
        if (first) {
                dir->data_ahead = true;
                dir->refs++;
        }
        pthread_mutex_unlock(&o->tree_lock);
        if (!first)
                return false;
        _cleanup_free_ char *path = node_path(o, dir);
        ovl_prefetch_dir(o, node_layer(n), path, true);
        node_release(o, dir);
        return true;
}

void ovl_prefetch_dir(struct ovl *o, int layer, const char *path, bool data)
{
        struct prefetch *p = o->prefetch;
        if (!p || ovl_is_upper(o, layer))
                return;
        pthread_mutex_lock(&p->w.lock);
        if (p->n < PREFETCH_QUEUE) {
                p->q[(p->head + p->n) % PREFETCH_QUEUE] = (struct prefetch_job){ layer, data, xstrdup(path) };
                p->n++;
                pthread_cond_signal(&p->w.work);
        }
        pthread_mutex_unlock(&p->w.lock);
}
