/* cli/buildcopy — COPY's filesystem work for `strata build` (build.h,
 * invariant 4): sources matched and resolved beneath the context, their
 * digest for the cache, and the copy into a mounted image. */
#ifndef STRATA_CLI_BUILDCOPY_H
#define STRATA_CLI_BUILDCOPY_H

#include "containerfile/containerfile.h"
#include "util/util.h"

#include <sys/types.h>

/* Where COPY reads: the build context (paths resolved beneath it), or a
 * mounted image's root (--from; resolved inside it). */
struct copy_src {
        int fd;
        bool image;
        const struct bf_ignore *ignore;   /* .dockerignore of the context, or NULL */
};

/* copy_expand_sources() - each of @srcs (relative to the context; globs
 * allowed in any component) matched in the context @ctxfd: *@out the
 * matches, context-relative, sorted per source; NULL-terminated. */
int copy_expand_sources(const struct copy_src *ctxfd, char *const *srcs, size_t n, char ***out, size_t *n_out, struct err *e);

/* copy_sources_digest() - sha256 over the sources' names, types, modes,
 * contents and link targets (not times, not owners). */
int copy_sources_digest(const struct copy_src *ctxfd, char *const *srcs, size_t n, char out[DIGEST_STR_LEN + 1], struct err *e);

struct copy_spec {
        const struct bf_ignore *ignore;   /* set by copy_into() from the source */
        uid_t uid;
        gid_t gid;
        bool chmod_set;
        mode_t chmod;
};

/* copy_into() - docker's COPY of the matched @srcs (context-relative) to
 * @dest (absolute inside the root @rootfd; a trailing '/' says a
 * directory): a directory's contents, a file to dest or into it. */
int copy_into(const struct copy_src *ctxfd, char *const *srcs, size_t n, int rootfd, const char *dest, const struct copy_spec *cs,
              struct err *e);

/* add_into() - ADD: as copy_into(), but a source that is a tar archive
 * (plain, gzip or zstd) is extracted into @dest (a directory) with the
 * unpacker's safety (unpack.h invariant 1); bzip2 and xz are refused. */
int add_into(const struct copy_src *ctxfd, char *const *srcs, size_t n, int rootfd, const char *dest,
             const struct copy_spec *cs, struct err *e);

/* copy_dest_dir() - @dest (absolute inside @rootfd) names a directory: it
 * ends with '/' or is one. */
bool copy_dest_dir(int rootfd, const char *dest);

#define COPY_MANY_NEED_DIR "when using COPY with more than one source file, the destination must be a directory " \
                           "and end with a /"

/* copy_direct_prepare() - can COPY write its @n targets (absolute paths in
 * the image; @is_dir: the source is a directory) straight into the
 * writable layer once the union @rootfd is unmounted, native speed, no
 * FUSE?  Yes when each target's parent is a real directory in the union
 * (no symlink on the way; missing ones are made as COPY makes them, owned
 * @uid:@gid) and a directory's target is missing or an empty directory, a
 * file's target missing or not a directory: nothing below can then differ
 * from what the writable layer alone shows.  Each parent (an existing
 * target directory itself) is then copied up through the union (a probe
 * file made and removed in it), so that the writable layer holds it with
 * its metadata.  1: ready; 0: not (use the union); -errno. */
int copy_direct_prepare(int rootfd, char *const *targets, const bool *is_dir, size_t n, uid_t uid, gid_t gid,
                        struct err *e);

/* copy_mkdir_p() - @path (absolute) made inside @rootfd, missing parts
 * 0755 owned by @uid:@gid. */
int copy_mkdir_p(int rootfd, const char *path, uid_t uid, gid_t gid, struct err *e);

#endif
