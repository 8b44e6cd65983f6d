/* Storing small lower files' data in the kernel's page cache ahead of the
 * reads (FUSE_NOTIFY_STORE), so that a cold read costs no READ round trip,
 * nor the GETATTR that follows every READ on a writable mount (the kernel
 * forgets the atime).
 *
 * The kernel overwrites whatever page it is told to store into, dirty or
 * not (fs/fuse/dev.c fuse_notify_store: filemap_grab_folio, copy, mark
 * uptodate), so a store is only ever made where no page of the file can
 * have been written (FS invariant 10):
 *
 * - With handles (-o no_open=0) a file's first OPEN stores its own data
 *   before the reply (fuse-ops.c: push_lower), under the node's lock, which
 *   every later OPEN takes: no descriptor of the file is open in the kernel
 *   yet, and an OPEN for writing copies the file up first (no store then).
 *
 * - Without OPEN (the default) the first READ in a directory (an archiver
 *   or a copy starting on it) has this thread store the directory's other
 *   small lower files the kernel knows -- on a read-only mount only (the
 *   kernel refuses every write there, so no page can be dirtied; nor does a
 *   READ make it forget the atime).  On a writable mount there is no moment
 *   the daemon can see at which a page of a sibling cannot be written: the
 *   kernel sends no request for an open(O_RDWR) nor for an mmap, and a write
 *   through a MAP_SHARED mapping (or a whole-page write(2) under the
 *   writeback cache, which sends nothing at all) dirties a page with no
 *   request until writeback.  node->io_seen (set by a READ or WRITE before
 *   it is served) is asked when deciding and again just before the store,
 *   but a first READ of the sibling, its reply, a mapping and a write
 *   through it can all come between that look and the store, and the store
 *   then overwrites the write with the lower data.  Closing that window
 *   from here cannot be done: a READ of the file in flight keeps its pages
 *   locked in the kernel and the store waits for those locks, so the READ
 *   can neither wait for the store (deadlock) nor reply before it (the
 *   window); storing from the READ itself waits for its own pages.  So the
 *   thread runs only on a read-only mount, never on a writable one (nor
 *   with the writeback cache, where a store overwrites a written page
 *   without any race; test_fs_push).
 *
 * No node lock is held while storing: a READ in flight keeps its pages
 * locked and the store waits for it, and a WRITE in flight keeps its pages
 * locked while its copy-up may wait for the node's lock.  A file copied up
 * while its lower data was being stored drops the pages again.  Best
 * effort: a bounded queue, nothing reported. */
#define FUSE_USE_VERSION 312
#include "fs-ops.h"

#include <dirent.h>
#include <fcntl.h>

int fs_store_data(struct fs_session *s, fuse_ino_t ino, int fd, off_t size)
{
        if (size <= 0 || size > FS_PUSH_MAX)
                return 0;
        struct fuse_bufvec b = FUSE_BUFVEC_INIT((size_t)size);
        /* libfuse splices from a descriptor, but copies less than two pages
         * through a fresh aligned allocation each time (which fragments the
         * heap): those come from the stack */
        char small[2 * 4096];
        if ((size_t)size < sizeof(small)) {
                b.buf[0].mem = small;
                if (pread(fd, small, (size_t)size, 0) != size)
                        return -EIO;
        } else {
                b.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
                b.buf[0].fd = fd;
                b.buf[0].pos = 0;
        }
        return fuse_lowlevel_notify_store(s->se, ino, 0, &b, FUSE_BUF_SPLICE_MOVE);
}

/* Store @n's data if it is a small lower file not stored before. */
static void push_node(struct fs_session *s, struct node *n)
{
        struct ovl *o = s->o;
        if (!S_ISREG(n->type) || n->lower_links || ovl_is_upper(o, ovl_data_layer(n)))
                return;
        pthread_mutex_lock(&n->lock);
        bool first = !n->pushed;
        n->pushed = true;
        pthread_mutex_unlock(&n->lock);
        int fd;
        if (!first || atomic_load(&n->io_seen) || ovl_open(o, n, O_RDONLY, &fd) < 0)
                return;
        struct stat st;
        /* asked again as late as can be: once a READ came, the pages may be
         * mapped and written, and a store would overwrite that */
        if (fstat(fd, &st) == 0 && !atomic_load(&n->io_seen))
                (void)fs_store_data(s, fs_node_id(s, n), fd, st.st_size);
        close(fd);
        if (ovl_is_upper(o, ovl_data_layer(n)) && o->inval)
                o->inval(o->inval_ctx, n, true);        /* copied up meanwhile: the write may be older */
}

static void push_dir(struct fs_session *s, struct node *dir)
{
        struct ovl *o = s->o;
        pthread_mutex_lock(&dir->lock);
        bool cached = dir->snap != NULL;
        pthread_mutex_unlock(&dir->lock);
        struct dir_snap *d;
        if (ovl_dir_read(o, dir, &d) < 0)
                return;
        for (size_t i = 2; i < d->n; i++) {
                if (d->ents[i].type != DT_REG)
                        continue;
                struct node *n = node_find_hold(o, dir, d->ents[i].name);
                if (!n)
                        continue;       /* the kernel does not know it: nowhere to store */
                push_node(s, n);
                node_release(o, n);
        }
        if (!cached)
                ovl_dir_listed(o, dir, d);      /* the listing was only ours */
        dir_snap_put(d);
}

static void *push_thread(void *arg)
{
        struct fs_session *s = arg;
        struct fs_push *p = &s->push;
        pthread_mutex_lock(&p->w.lock);
        while (worker_wait(&p->w, &p->n)) {
                struct node *dir = p->q[p->head];
                p->head = (p->head + 1) % FS_PUSH_QUEUE;
                p->n--;
                pthread_mutex_unlock(&p->w.lock);
                push_dir(s, dir);
                node_release(s->o, dir);
                pthread_mutex_lock(&p->w.lock);
        }
        pthread_mutex_unlock(&p->w.lock);
        return NULL;
}

int fs_push_start(struct fs_session *s)
{
        int r = worker_start(&s->push.w, push_thread, s);
        s->push.started = r == 0;
        return r;
}

void fs_push_stop(struct fs_session *s)
{
        struct fs_push *p = &s->push;
        if (!p->started)
                return;
        worker_stop(&p->w);
        for (; p->n; p->n--, p->head = (p->head + 1) % FS_PUSH_QUEUE)
                node_release(s->o, p->q[p->head]);
        worker_destroy(&p->w);
        p->started = false;
}

void fs_push_dir(struct fs_session *s, struct node *dir)
{
        struct fs_push *p = &s->push;
        if (!p->started)
                return;
        node_hold(s->o, dir);
        pthread_mutex_lock(&p->w.lock);
        bool queued = p->n < FS_PUSH_QUEUE;
        if (queued) {
                p->q[(p->head + p->n) % FS_PUSH_QUEUE] = dir;
                p->n++;
                pthread_cond_signal(&p->w.work);
        }
        pthread_mutex_unlock(&p->w.lock);
        if (!queued)
                node_release(s->o, dir);
}
