/* A layer blob written anew in another compression (`strata push
 * --compress`): unpack/ decompresses it, pack/'s compressor writes it. */
#ifndef STRATA_CLI_RECOMPRESS_H
#define STRATA_CLI_RECOMPRESS_H

#include "pack/pack.h"
#include "util/util.h"

struct recompressed {
        char digest[DIGEST_STR_LEN + 1];    /* of the bytes written */
        uint64_t size;
        char diff_id[DIGEST_STR_LEN + 1];   /* of the uncompressed stream */
};

/* layer_recompress() - read the blob at @in_fd (from its offset; gzip, zstd
 * or a plain tar as @media_type says and its magic confirms, NULL: the magic
 * decides) and write it compressed with @c to @out_fd (from its offset): the
 * same input gives the same bytes.  The unpacker's expansion ceiling
 * applies.  @res: the new blob's digest and size, and the diff_id for the
 * caller to check. */
int layer_recompress(int in_fd, const char *media_type, enum pack_compression c, int out_fd,
                     struct recompressed *res, struct err *e);

#endif
