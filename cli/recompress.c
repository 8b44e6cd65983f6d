/* push --compress: one decompressor (unpack/) into one compressor (pack/),
 * the same ones pull and commit use; nothing held but their chunks. */
#include "recompress.h"

#include "unpack/unpack.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
        ssize_t k;
        do
                k = read(*(int *)ctx, buf, n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

static int fd_write(void *ctx, const void *p, size_t n, struct err *e)
{
        ssize_t w = write_all(*(int *)ctx, p, n);
        return w < 0 ? err_set(e, (int)-w, "write the recompressed layer") : 0;
}

static int to_zsink(void *ctx, const void *p, size_t n, struct err *e)
{
        return pack_zsink_write(ctx, p, n, e);
}

int layer_recompress(int in_fd, const char *media_type, enum pack_compression c, int out_fd,
                     struct recompressed *res, struct err *e)
{
        memset(res, 0, sizeof *res);
        struct pack_zsink *z = NULL;
        int r = pack_zsink_new(c, fd_write, &out_fd, &z, e);
        if (r < 0)
                return r;
        r = unpack_decompress(fd_read, &in_fd, media_type, to_zsink, z, res->diff_id, e);
        if (r < 0) {
                pack_zsink_free(z);
                return r;
        }
        struct pack_tar_result t;
        r = pack_zsink_finish(z, &t, e);
        if (r < 0)
                return r;
        memcpy(res->digest, t.digest, sizeof res->digest);
        res->size = t.blob_bytes;
        return 0;
}
