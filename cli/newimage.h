/* cli/newimage — images made on this machine (commit, import, load): a layer
 * directory made under tmp/ becomes a stored layer and blob, a config and
 * manifest become blobs, and the record goes last.
 *
 * NEWIMAGE INVARIANTS
 * (1) Nothing is visible in layers/, blobs/ or images.json before it is
 *     complete: layer dirs and blobs are made under tmp/ and renamed in
 *     (store invariants 1, 2); the image record and its name come last.
 * (2) The blob lock of each new layer blob is held from before its commit
 *     to after the record, so rmi/prune never removes a layer between the two
 *     (store invariant 4). */
#ifndef STRATA_CLI_NEWIMAGE_H
#define STRATA_CLI_NEWIMAGE_H

#include "pack/pack.h"
#include "store/store.h"

/* A layer made here, ready to record. */
struct new_layer {
        char digest[DIGEST_STR_LEN + 1];
        char diff_id[DIGEST_STR_LEN + 1];
        const char *media_type;   /* static */
        uint64_t size;            /* blob bytes */
        uint64_t file_bytes;
        int lockfd;               /* the blob lock, held until new_layer_done() */
};

/* new_layer_commit() - tar the layer directory @tmpdir/diff (made under the
 * store's tmp/ by the caller) with @o, store the blob and move @tmpdir into
 * layers/ (or drop it when the same layer is there).  @st (may be NULL)
 * goes into layer.json.  On failure @tmpdir is removed. */
int new_layer_commit(struct store *s, const char *tmpdir, enum pack_format f, const struct pack_tar_opts *o,
                     const struct pack_stats *st, struct new_layer *out, struct err *e);
void new_layer_done(struct new_layer *l);   /* lets go of the lock; accepts a zeroed one (lockfd -1) */

/* new_image_record() - store @config as a blob, write a manifest in @f of
 * @parent's layers (may be NULL) plus @extra (may be NULL), record the image
 * with @name (normalized store name, may be NULL) and write its id (config
 * digest) to @id. */
int new_image_record(struct store *s, json_t *config, enum pack_format f, const struct store_image *parent,
                     const struct new_layer *extra, const char *name, char id[DIGEST_STR_LEN + 1], struct err *e);

/* new_image_record_step() - new_image_record(), the image marked
 * @intermediate (a build step's: hidden by strata images without -a). */
int new_image_record_step(struct store *s, json_t *config, enum pack_format f, const struct store_image *parent,
                          const struct new_layer *extra, const char *name, bool intermediate,
                          char id[DIGEST_STR_LEN + 1], struct err *e);

/* new_image_name() - the store name for what the user typed (NAME[:TAG],
 * docker's normalization); NULL @arg gives NULL.  -EINVAL for a digest. */
int new_image_name(const char *arg, char **out, struct err *e);

/* image_manifest_format() - the format of @im's stored manifest. */
enum pack_format image_manifest_format(struct store *s, const struct store_image *im);

/* pack_format_parse() - "oci" or "docker" (also "v2s2"). */
int pack_format_parse(const char *s, enum pack_format *f, struct err *e);

#endif
