/* cli/pull — `strata pull` without argv: the orchestration of fetch/,
 * unpack/ and store/.  Prints progress (cli/ is the only printer) but
 * returns errors to the caller, who prints them once.
 *
 * PULL INVARIANTS
 * (1) a layer blob is downloaded by one process at a time: the store's
 *     per-blob locks of all the image's layers are taken in digest order (no
 *     cycle between processes) and held until the image is recorded; the
 *     others wait and then find the layer there.  Locks of layers already
 *     present are let go at once, so pulls over a shared base run together.
 * (2) a blob reaches blobs/ only after its size and sha256 matched; a layer
 *     reaches layers/ only after its diff_id matched the config's.
 * (3) blobs, layers and the image record are committed only once every
 *     layer is downloaded, verified and extracted (into tmp/); the record and
 *     its names last.  A failed pull leaves blobs/, layers/ and images.json as
 *     they were; tmp/ may keep .partial files (complete ones are reused by
 *     the next run without network), never one whose bytes were found
 *     wrong (digest, size) nor one whose layer was refused (hostile or
 *     corrupt content, a diff_id mismatch): those are deleted at once.
 * (4) an interrupted download resumes from the .partial's length with a
 *     Range request, in this run (retries) or the next.
 * (5) Ctrl-C (SIGINT) during pull_image() stops every transfer and worker;
 *     the pull then fails as in (3) with -EINTR "interrupted" (the caller
 *     exits 130); a pull already committing finishes and stands. */
#ifndef STRATA_CLI_PULL_H
#define STRATA_CLI_PULL_H

#include "fetch/fetch.h"
#include "store/store.h"

struct pull_opts {
        const char *platform;            /* "os/arch[/variant]", NULL = the host's */
        bool quiet;                      /* -q: print only the image name */
        const struct fetch_config *cfg;  /* mirrors, insecure registries; may be NULL */
        struct fetch_opts fetch;         /* timeouts, retries, docker config path */
        int jobs;                        /* layers at once; 0 = 3 */
};

/* pull_image() - pull @ref into @s.  Returns 0, or -errno with @e set (its
 * message does not repeat the reference; the caller adds "pull REF"). */
int pull_image(struct store *s, const char *ref, const struct pull_opts *o, struct err *e);

#endif
