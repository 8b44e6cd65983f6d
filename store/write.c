/* Blobs and layers made on this machine (commit, load, import): written
 * under tmp/ while their digest is computed, then renamed in (invariants
 * (1), (2) and (5) of store.h). */
#include "store-internal.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int store_tmp_create(struct store *s, const char *what, bool dir, char **path, int *fd, struct err *e)
{
        static atomic_uint counter;
        /* what is made here is listed by no record yet: hold gc.lock shared
         * until the process ends (invariant (4)), as a pull does */
        int r = store_writable(s, e);
        if (r >= 0)
                r = store_gc_hold(s, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *rel = xasprintf("tmp/%s-%d-%u", what, (int)getpid(), atomic_fetch_add(&counter, 1));
        int f;
        if (dir) {
                if (mkdirat(s->root_fd, rel, 0700) < 0)
                        return err_set(e, errno, "create %s/%s", s->root, rel);
                f = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
                f = openat(s->root_fd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        }
        if (f < 0)
                return err_set(e, errno, "create %s/%s", s->root, rel);
        *fd = f;
        *path = store_path(s, "%s", rel);
        return 0;
}

int store_commit_blob_file(struct store *s, const char *digest, const char *path, int fd, struct err *e)
{
        _cleanup_close_ int f = fd;
        if (!digest_valid(digest))
                return err_setx(e, EINVAL, "invalid digest '%s'", digest);
        if (store_has_blob(s, digest)) {
                unlink(path);
                return 0;
        }
        if (fsync(f) < 0)
                return err_set(e, errno, "fsync blob %s", digest);
        _cleanup_free_ char *to = store_blob_path(s, digest);
        if (rename(path, to) < 0)
                return err_set(e, errno, "store blob %s", digest);
        return store_fsync_dir(s, "blobs/sha256", e);
}
