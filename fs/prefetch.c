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
        pthread_mutex_t lock;
        pthread_cond_t work;
        struct prefetch_job q[PREFETCH_QUEUE];
        size_t head, n;
        bool stop;
        pthread_t thread;
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
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->n && !p->stop)
                        pthread_cond_wait(&p->work, &p->lock);
                if (p->stop)
                        break;
                struct prefetch_job j = p->q[p->head];
                p->head = (p->head + 1) % PREFETCH_QUEUE;
                p->n--;
                pthread_mutex_unlock(&p->lock);
                read_ahead(o, &j);
                free(j.path);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int ovl_prefetch_start(struct ovl *o)
{
        struct prefetch *p = xcalloc(1, sizeof(*p));
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->work, NULL);
        o->prefetch = p;
        int r = pthread_create(&p->thread, NULL, prefetch_thread, o);
        if (r != 0) {
                o->prefetch = NULL;
                pthread_cond_destroy(&p->work);
                pthread_mutex_destroy(&p->lock);
                free(p);
                return -r;
        }
        return 0;
}

void ovl_prefetch_stop(struct ovl *o)
{
        struct prefetch *p = o->prefetch;
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        for (; p->n; p->n--, p->head = (p->head + 1) % PREFETCH_QUEUE)
                free(p->q[p->head].path);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->lock);
        free(p);
        o->prefetch = NULL;
}

void ovl_prefetch_siblings(struct ovl *o, struct node *n)
{
        if (!o->prefetch)
                return;
        pthread_mutex_lock(&o->tree_lock);
        struct node *dir = n->parent;
        bool first = dir && !dir->data_ahead;
        if (first) {
                dir->data_ahead = true;
                dir->refs++;
        }
        pthread_mutex_unlock(&o->tree_lock);
        if (!first)
                return;
        _cleanup_free_ char *path = node_path(o, dir);
        ovl_prefetch_dir(o, node_layer(n), path, true);
        node_release(o, dir);
}

void ovl_prefetch_dir(struct ovl *o, int layer, const char *path, bool data)
{
        struct prefetch *p = o->prefetch;
        if (!p || ovl_is_upper(o, layer))
                return;
        pthread_mutex_lock(&p->lock);
        if (p->n < PREFETCH_QUEUE) {
                p->q[(p->head + p->n) % PREFETCH_QUEUE] = (struct prefetch_job){ layer, data, xstrdup(path) };
                p->n++;
                pthread_cond_signal(&p->work);
        }
        pthread_mutex_unlock(&p->lock);
}
