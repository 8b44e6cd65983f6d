/* cli/commit — `strata commit` without argv.
 *
 * COMMIT INVARIANTS
 * (1) The committed layer is a copy of the writable layer made while the
 *     mount's daemon is stopped (SIGSTOP after a syncfs of the mount, and
 *     every thread of it seen stopped in /proc before the copy starts), so
 *     it is the layer as it was between two filesystem requests; the mount
 *     goes on afterwards, and later writes never reach the committed layer.
 * (2) The layer directory stored is that copy (pack invariant 1), not the
 *     tar unpacked again; the tar is made from it, so the two agree.
 * (3) A failed commit leaves layers/, blobs/ and images.json as they were
 *     (newimage.h). */
#ifndef STRATA_CLI_COMMIT_H
#define STRATA_CLI_COMMIT_H

#include "pack/pack.h"
#include "store/store.h"

struct commit_opts {
        const char *message;       /* -m */
        const char *author;        /* -a */
        char **changes;            /* -c, in order */
        size_t n_changes;
        bool format_set;
        enum pack_format format;   /* --format; else the parent's */
        struct pack_tar_opts tar;  /* compression, clamp */
        const char *name;          /* NAME[:TAG], or NULL */
};

/* commit_mount() - commit the writable layer of the mount @target (mount
 * point or run ID) as a new image; its id into @id. */
int commit_mount(struct store *s, const char *target, const struct commit_opts *o, char id[DIGEST_STR_LEN + 1],
                 struct err *e);

/* commit_snapshot() - the writable layer of @m (over @im) copied into a new
 * tmp dir of the store (COMMIT 1): *@tmpdir (holding diff/; the caller
 * commits or discards it) and *@diff_fd (its diff/; caller closes). */
int commit_snapshot(struct store *s, const struct store_mount *m, const struct store_image *im, char **tmpdir,
                    int *diff_fd, struct pack_stats *st, struct err *e);
/* commit_snapshot_move() - commit_snapshot(); @move: the writable layer is
 * discarded afterwards and no daemon serves it: its files are moved, not
 * copied (pack_snapshot_move()). */
int commit_snapshot_move(struct store *s, const struct store_mount *m, const struct store_image *im, bool move,
                         char **tmpdir, int *diff_fd, struct pack_stats *st, struct err *e);

/* commit_like() - argv of commit and import (their shared options, then
 * SOURCE [NAME[:TAG]]), @make called, the new image's ID printed; returns
 * the exit status (cmd-commit.c). */
int commit_like(const char *verb, const char *operands, int argc, char **argv,
                int (*make)(struct store *s, const char *src, const struct commit_opts *o,
                            char id[DIGEST_STR_LEN + 1], struct err *e));

#endif
