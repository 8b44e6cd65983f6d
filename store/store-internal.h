/* Private to store/: the store handle shared by the store's files. */
#ifndef STRATA_STORE_INTERNAL_H
#define STRATA_STORE_INTERNAL_H

#include "store.h"

struct store {
        char *root;
        int root_fd;       /* O_DIRECTORY fd of ROOT */
        int lock_fd;       /* ROOT/lock, flock()ed by store_lock() */
        int lock_depth;    /* store_lock() nests within one process */
        bool read_only;    /* ROOT is on a read-only filesystem (store_open) */
};

/* store_writable() - 0, or -EROFS with "store ROOT is read-only" in @e: the
 * first check of every call that would write to the store. */
int store_writable(const struct store *s, struct err *e);

/* "<ROOT>/<fmt...>", caller frees. */
char *store_path(const struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* store_fsync_dir() - fsync ROOT/@rel, so a rename into it is durable. */
int store_fsync_dir(const struct store *s, const char *rel, struct err *e);

#endif
