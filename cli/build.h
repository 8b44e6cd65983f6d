/* cli/build — `strata build` without argv: the Containerfile parsed
 * (containerfile/containerfile.h), every instruction a step over the previous step's image:
 * RUN in the run sandbox over a mount of it, COPY into such a mount, the
 * writable layer committed as commit does (no tar unpacked again), the
 * others changing the config only; each step's image recorded unnamed in
 * the store and found again through the cache.
 *
 * BUILD EXECUTOR INVARIANTS
 * (1) Nothing runs before the whole file is parsed and every instruction,
 *     flag and stage reference of the stages to build is known to be
 *     supported: otherwise one line names it and its line number.
 * (2) Names (-t) are given only once the last step succeeded: a failed
 *     build moves no tag.
 * (3) A step's cache entry (ROOT/build-cache/<key hex>, holding the image
 *     ID) is written only after its image is recorded, and it is used only
 *     when that image is still in the store: a prune that removed the
 *     unnamed step images has emptied the cache.
 * (4) COPY sources are resolved beneath the context (openat2
 *     RESOLVE_BENEATH): a '..' or a symlink leading out is refused; the
 *     destination is resolved inside the mounted image (RESOLVE_IN_ROOT). */
#ifndef STRATA_CLI_BUILD_H
#define STRATA_CLI_BUILD_H

#include "pack/pack.h"
#include "store/store.h"

struct build_opts {
        const char *context;       /* directory, or "-" (Containerfile on stdin, no context) */
        const char *file;          /* -f, or NULL */
        char **tags;               /* -t, in order */
        size_t n_tags;
        char **build_args;         /* --build-arg K=V or K */
        size_t n_build_args;
        char **labels;             /* --label K=V */
        size_t n_labels;
        const char *target;        /* --target */
        const char *platform;      /* --platform (pulls) */
        const char *iidfile;
        bool no_cache, pull, quiet;
        struct pack_tar_opts tar;  /* --compress; SOURCE_DATE_EPOCH */
};

/* build_run() - build; the final image ID into @id.  *@status is the exit
 * status to give: 0, the failing RUN's status, or 1 for other failures
 * (then -errno with @e set). */
int build_run(struct store *s, const struct build_opts *o, char id[DIGEST_STR_LEN + 1], int *status,
              struct err *e);

#endif
