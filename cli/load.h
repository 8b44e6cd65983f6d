/* cli/load — `strata load` without argv.
 *
 * LOAD INVARIANTS
 * (1) Every member of the archive is read (and hashed) into the store's
 *     tmp/ before anything is trusted; a member named blobs/sha256/<hex>
 *     must hash to <hex>, a docker config named <hex>.json too, every
 *     manifest and config the archive points at must match its digest, and
 *     every layer must unpack to its config's diff_id.
 * (2) A member path that is absolute or has a ".." component, and a link in
 *     the archive that points out of it, refuse the whole archive.
 * (3) Nothing reaches blobs/, layers/ or images.json before every image of
 *     the archive passed (1): a refused archive leaves the store as it was
 *     (tmp/ is cleaned up).
 * (4) Layers unpack in parallel through unpack/ (as a pull does), into tmp
 *     dirs committed only once all of them succeeded. */
#ifndef STRATA_CLI_LOAD_H
#define STRATA_CLI_LOAD_H

#include "store/store.h"

struct load_opts {
        bool quiet;
        int jobs;                  /* layers unpacked at once; 0 = 3 */
};

/* load_norm_path() - a member path of the archive normalized (LOAD 2): no
 * "." or empty components; NULL when it is absolute or has a "..".  With
 * @base_dir (a link's directory inside the archive, "" for the top) @p is a
 * link target: ".." may go up inside the archive, never past its top, and
 * an absolute target is NULL.  Caller frees. */
char *load_norm_path(const char *base_dir, const char *p);

/* load_archive() - load the docker or OCI archive (tar, maybe gzip or zstd
 * compressed) read from @fd.  Prints "Loaded image: NAME" lines. */
int load_archive(struct store *s, int fd, const struct load_opts *o, struct err *e);

#endif
