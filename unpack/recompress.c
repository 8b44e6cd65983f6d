/* Writing a layer anew in another compression (`strata push --compress`):
 * the decompressing source of source.c in, zlib or libzstd out, the bytes
 * hashed as they are written.  Nothing is held but one chunk. */
#include "unpack-internal.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_CHUNK (256u << 10)
#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3

struct sink {
        int fd;
        struct sha256 h;
        uint64_t size;
        unsigned char *buf;
};

static int emit(struct sink *k, const void *p, size_t n, struct err *e)
{
        if (!n)
                return 0;
        ssize_t w = write_all(k->fd, p, n);
        if (w < 0)
                return err_set(e, (int)-w, "write the recompressed layer");
        sha256_update(&k->h, p, n);
        k->size += n;
        return 0;
}

/* Compress @n bytes at @p (@last: the end of the stream) with zlib. */
static int gz_feed(z_stream *z, struct sink *k, const void *p, size_t n, bool last, struct err *e)
{
        z->next_in = (Bytef *)p;
        z->avail_in = (uInt)n;
        for (;;) {
                z->next_out = k->buf;
                z->avail_out = OUT_CHUNK;
                int zr = deflate(z, last ? Z_FINISH : Z_NO_FLUSH);
                if (zr == Z_STREAM_ERROR)
                        return err_setx(e, EIO, "gzip: deflate failed");
                int r = emit(k, k->buf, OUT_CHUNK - z->avail_out, e);
                if (r < 0)
                        return r;
                if (last ? zr == Z_STREAM_END : z->avail_out != 0)
                        return 0;
        }
}

static int zs_feed(ZSTD_CCtx *c, struct sink *k, const void *p, size_t n, bool last, struct err *e)
{
        ZSTD_inBuffer in = { p, n, 0 };
        for (;;) {
                ZSTD_outBuffer out = { k->buf, OUT_CHUNK, 0 };
                size_t left = ZSTD_compressStream2(c, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(left))
                        return err_setx(e, EIO, "zstd: %s", ZSTD_getErrorName(left));
                int r = emit(k, k->buf, out.pos, e);
                if (r < 0)
                        return r;
                if (last ? left == 0 : in.pos == in.size)
                        return 0;
        }
}

int unpack_recompress(unpack_read_fn rd, void *ctx, const char *media_type, enum unpack_compression to,
                      int out_fd, struct unpack_recompressed *res, struct err *e)
{
        memset(res, 0, sizeof *res);
        int comp = unpack_media_comp(media_type);
        if (comp < 0)
                return err_setx(e, EMEDIUMTYPE, "unsupported layer media type \"%.100s\"", media_type);
        struct unpack_source *src = NULL;
        int r = unpack_source_new(rd, ctx, comp, unpack_max_expanded(NULL), true, &src, e);
        if (r < 0)
                return r;
        struct sink k = { .fd = out_fd, .buf = xmalloc(OUT_CHUNK) };
        sha256_init(&k.h);
        z_stream z = { 0 };
        ZSTD_CCtx *zc = NULL;
        if (to == UNPACK_TO_GZIP) {
                /* windowBits 15 + 16: a gzip wrapper; zlib writes no name and time 0 */
                if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                        r = err_setx(e, ENOMEM, "gzip: deflateInit2 failed");
        } else {
                zc = ZSTD_createCCtx();
                if (!zc || ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)))
                        r = err_setx(e, ENOMEM, "zstd: cannot set up a compressor");
        }
        for (bool end = false; r >= 0 && !end;) {
                const void *p = NULL;
                ssize_t n = unpack_source_read(src, &p);
                if (n < 0) {
                        const char *why = unpack_source_error(src);
                        r = err_setx(e, (int)-n, "%s", why ? why : "read the layer");
                        break;
                }
                /* the zeros source.c adds to complete a tar block are not the layer's */
                if (n > 0 && unpack_source_real_end(src) != UINT64_MAX)
                        n = 0;
                end = n == 0;
                r = to == UNPACK_TO_GZIP ? gz_feed(&z, &k, p, (size_t)n, end, e)
                                         : zs_feed(zc, &k, p, (size_t)n, end, e);
        }
        if (to == UNPACK_TO_GZIP)
                deflateEnd(&z);
        ZSTD_freeCCtx(zc);
        if (r >= 0) {
                unpack_source_finish(src, res->diff_id);
                sha256_final(&k.h, res->digest);
                res->size = k.size;
        } else {
                sha256_free(&k.h);
        }
        unpack_source_free(src);
        free(k.buf);
        return r;
}
