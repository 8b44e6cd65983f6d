/* Private to pack/: the shared walkers and helpers. */
#ifndef STRATA_PACK_INTERNAL_H
#define STRATA_PACK_INTERNAL_H

#include "pack.h"

#include <sys/stat.h>

/* ---- (dev, ino) -> path, for hard links (open addressing, grows) */
struct inomap {
        size_t cap, n;
        struct inoent { dev_t dev; ino_t ino; char *path; } *v;
};
void inomap_init(struct inomap *m);
void inomap_free(struct inomap *m);
const char *inomap_get(const struct inomap *m, dev_t dev, ino_t ino);
void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *path);   /* copies @path */

/* ---- directories */
/* pack_list_dir() - the names in @rel below @dirfd but "." and "..", sorted
 * bytewise; free with pack_names_free(). */
int pack_list_dir(int dirfd, const char *rel, char ***names, size_t *n, struct err *e);
void pack_names_free(char **names, size_t n);
/* pack_join() - "@dir/@name", or @name when @dir is "."; caller frees. */
char *pack_join(const char *dir, const char *name);

/* ---- the merged walk */
struct pack_entry {
        const char *path;          /* relative, no "./": "etc/passwd" */
        struct stat st;
        size_t layer;              /* index into the walk's fds: 0 = topmost */
        int layer_fd;
        bool whiteout;             /* raw walks only: a 0/0 char device */
        bool opaque;               /* raw walks only: a directory marked opaque */
};
typedef int (*pack_walk_fn)(const struct pack_entry *en, void *ctx);
/* pack_walk_merged() - the visible entries of the layers @fds (topmost
 * first) merged as overlayfs does (whiteouts hide, opaque directories and
 * non-directories stop the merge below them), sorted bytewise depth first, a
 * directory before its contents; the root is not visited.  A callback's
 * negative return stops the walk and is returned. */
int pack_walk_merged(const int *fds, size_t n, pack_walk_fn fn, void *ctx, struct err *e);
/* pack_walk_raw() - every entry of the one layer @fd in the same order,
 * whiteouts and opaque marks reported as they are. */
int pack_walk_raw(int fd, pack_walk_fn fn, void *ctx, struct err *e);

/* ---- xattrs through "/proc/self/fd/N" (O_PATH descriptors do) */
void pack_fd_path(int fd, char out[32]);
bool pack_xattr_private(const char *name);      /* trusted.overlay.* / user.overlay.* */
int pack_xattr_list(int fd, struct buf *names, struct err *e);
int pack_xattr_get(int fd, const char *name, struct buf *val, struct err *e);
bool pack_has_xattr(int fd, const char *name, const char *want);   /* @want NULL: any value */
bool pack_is_opaque(int fd);

/* pack_copy_data() - all of @in (from its offset) to @out. */
int pack_copy_data(int in, int out, struct err *e);

#endif
