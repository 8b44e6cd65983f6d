/* The store handle, its lock, and blobs (invariants (1) and (5) of store.h). */
#include "store-internal.h"
#include "util/userns.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

char *store_path(const struct store *s, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *rel = NULL;
        va_start(ap, fmt);
        if (vasprintf(&rel, fmt, ap) < 0)
                abort();
        va_end(ap);
        return xasprintf("%s/%s", s->root, rel);
}

/* Work dirs under tmp/ end in -<pid>-<n>: extraction dirs
 * (layer-<hex>-<pid>-<n>) and trees being removed (gone-...-<pid>-<n>).
 * The pid of such a name, else 0. */
int store_tmp_owner(const char *name)
{
        const char *last = strrchr(name, '-');
        if (!last || last == name || !last[1] || strspn(last + 1, "0123456789") != strlen(last + 1))
                return 0;
        const char *p = last - 1;
        while (p > name && *p != '-')
                p--;
        if (*p != '-' || p + 1 == last || strspn(p + 1, "0123456789") != (size_t)(last - p - 1))
                return 0;
        return atoi(p + 1);
}

int store_open(const char *root, struct store **out, struct err *e)
{
        static const char *const dirs[] = { "blobs", "blobs/sha256", "layers", "tmp", "mounts" };
        int r = mkdir_p(root, 0700, e);
        if (r < 0)
                return err_wrap(e, "store %s", root);
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return err_set(e, errno, "open store %s", root);
        /* A store on a read-only filesystem (a bind mount remounted ro,
         * read-only media) is opened for reading: nothing can change it, so
         * readers need no lock, and every call that would write says so. */
        bool ro = false;
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                if (mkdirat(rfd, dirs[i], 0700) == 0 || errno == EEXIST)
                        continue;
                if (errno != EROFS)
                        return err_set(e, errno, "store %s: mkdir %s", root, dirs[i]);
                ro = true;
        }
        int lfd = openat(rfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 && errno == EROFS) {
                ro = true;
                lfd = openat(rfd, "lock", O_RDONLY | O_CLOEXEC);
                if (lfd < 0 && errno == ENOENT)
                        lfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (lfd < 0)
                return err_set(e, errno, "store %s: open lock", root);
        struct store *s = xcalloc(1, sizeof *s);
        s->read_only = ro;
        s->ovl_prefix = userns_ovl_prefix();
        /* absolute: paths handed out (layer dirs, a mount's upper) must stay
         * right for a daemon that leaves the working directory */
        s->root = realpath(root, NULL);
        if (!s->root)
                s->root = xstrdup(root);
        s->root_fd = TAKE_FD(rfd);
        s->lock_fd = lfd;
        s->gc_fd = -1;
        store_reclaim_leftovers(s, STORE_PARTIAL_MAX_AGE, NULL, NULL, NULL);
        *out = s;
        return 0;
}

const char *store_ovl_prefix(const struct store *s)
{
        return s->ovl_prefix;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        store_gc_release(s);
        close(s->root_fd);
        close(s->lock_fd);
        free(s->root);
        free(s);
}

int store_fsync_dir(const struct store *s, const char *rel, struct err *e)
{
        _cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return err_set(e, errno, "fsync %s/%s", s->root, rel);
        return 0;
}

const char *store_root(const struct store *s)
{
        return s->root;
}

bool store_read_only(const struct store *s)
{
        return s->read_only;
}

int store_writable(const struct store *s, struct err *e)
{
        return s->read_only ? err_setx(e, EROFS, "store %s is read-only", s->root) : 0;
}

int store_lock(struct store *s, struct err *e)
{
        int r = store_writable(s, e);
        if (r < 0)
                return r;
        if (s->lock_depth++ > 0)
                return 0;
        while (flock(s->lock_fd, LOCK_EX) < 0) {
                if (errno == EINTR)
                        continue;
                s->lock_depth--;
                return err_set(e, errno, "lock store %s", s->root);
        }
        return 0;
}

void store_unlock(struct store *s)
{
        if (s->lock_depth > 0 && --s->lock_depth == 0)
                flock(s->lock_fd, LOCK_UN);
}

int store_gc_hold(struct store *s, struct err *e)
{
        if (s->gc_fd >= 0)
                return 0;
        _cleanup_close_ int fd = openat(s->root_fd, "tmp/gc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return err_set(e, errno, "open %s/tmp/gc.lock", s->root);
        while (flock(fd, LOCK_SH) < 0)
                if (errno != EINTR)
                        return err_set(e, errno, "lock %s/tmp/gc.lock", s->root);
        s->gc_fd = TAKE_FD(fd);
        return 0;
}

void store_gc_release(struct store *s)
{
        if (s->gc_fd < 0)
                return;
        flock(s->gc_fd, LOCK_UN);     /* for a child that inherited the fd too */
        close(s->gc_fd);
        s->gc_fd = -1;
}

int store_gc_exclusive(struct store *s)
{
        if (s->read_only)
                return -1;
        _cleanup_close_ int fd = openat(s->root_fd, "tmp/gc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                return -1;
        return TAKE_FD(fd);
}

/* ---------------------------------------------------------------- blobs */

static char *blob_rel(const char *digest)
{
        return xasprintf("blobs/sha256/%s", digest_hex(digest));
}

bool store_has_blob(struct store *s, const char *digest)
{
        if (!digest_valid(digest))
                return false;
        _cleanup_free_ char *rel = blob_rel(digest);
        return faccessat(s->root_fd, rel, F_OK, 0) == 0;
}

char *store_blob_path(struct store *s, const char *digest)
{
        return store_path(s, "blobs/sha256/%s", digest_hex(digest));
}

int store_read_blob(struct store *s, const char *digest, size_t max, struct buf *out, struct err *e)
{
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        _cleanup_free_ char *path = store_blob_path(s, digest);
        int r = read_file_bounded(path, max, out, e);
        if (r < 0)
                return err_wrap(e, "blob %s", digest);
        return 0;
}

int store_put_blob(struct store *s, const char *digest, const void *p, size_t n, struct err *e)
{
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        char got[DIGEST_STR_LEN + 1];
        sha256_digest(p, n, got);
        if (strcmp(got, digest) != 0)
                return err_setx(e, EBADMSG, "blob %s: content has digest %s", digest, got);
        if (store_has_blob(s, digest))
                return 0;
        int r = store_writable(s, e);
        if (r >= 0)
                r = store_gc_hold(s, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = store_blob_path(s, digest);
        return write_file_atomic(path, p, n, 0600, e);
}

int store_blob_lock(struct store *s, const char *digest, int *lockfd, struct err *e)
{
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        int r = store_writable(s, e);
        if (r >= 0)
                r = store_gc_hold(s, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *rel = xasprintf("tmp/%s.lock", digest_hex(digest));
        _cleanup_close_ int fd = openat(s->root_fd, rel, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return err_set(e, errno, "open lock for %s", digest);
        while (flock(fd, LOCK_EX) < 0) {
                if (errno != EINTR)
                        return err_set(e, errno, "lock %s", digest);
        }
        /* the lock file may have been reclaimed (store_reclaim_leftovers)
         * while we waited: a lock on a file no longer there is no lock */
        struct stat a, b;
        if (fstat(fd, &a) < 0)
                return err_set(e, errno, "lock %s", digest);
        if (fstatat(s->root_fd, rel, &b, 0) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
                return store_blob_lock(s, digest, lockfd, e);
        *lockfd = TAKE_FD(fd);
        return 0;
}

void store_blob_unlock(int lockfd)
{
        if (lockfd >= 0)
                close(lockfd);   /* closing drops the flock */
}

int store_open_partial(struct store *s, const char *digest, int *fd, uint64_t *have, struct err *e)
{
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        int r = store_writable(s, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *rel = xasprintf("tmp/%s.partial", digest_hex(digest));
        _cleanup_close_ int f = openat(s->root_fd, rel, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (f < 0)
                return err_set(e, errno, "open partial download of %s", digest);
        struct stat st;
        if (fstat(f, &st) < 0)
                return err_set(e, errno, "stat partial download of %s", digest);
        *have = (uint64_t)st.st_size;
        *fd = TAKE_FD(f);
        return 0;
}

int store_commit_partial(struct store *s, const char *digest, int fd, struct err *e)
{
        _cleanup_close_ int f = fd;
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        if (fsync(f) < 0)
                return err_set(e, errno, "fsync download of %s", digest);
        _cleanup_free_ char *from = xasprintf("tmp/%s.partial", digest_hex(digest));
        _cleanup_free_ char *to = blob_rel(digest);
        if (renameat(s->root_fd, from, s->root_fd, to) < 0)
                return err_set(e, errno, "store blob %s", digest);
        return store_fsync_dir(s, "blobs/sha256", e);
}

void store_discard_partial(struct store *s, const char *digest)
{
        if (!digest_valid(digest))
                return;
        _cleanup_free_ char *rel = xasprintf("tmp/%s.partial", digest_hex(digest));
        unlinkat(s->root_fd, rel, 0);
}

int store_tmpfile(struct store *s, int *fd, struct err *e)
{
        *fd = openat(s->root_fd, "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (*fd < 0)
                return err_set(e, errno, "create a temporary file in %s/tmp", s->root);
        return 0;
}
