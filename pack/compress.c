/* The compressing sink under the tar writer: hashes the tar (diff_id),
 * compresses it (gzip through ISA-L's igzip, or zlib with
 * STRATA_DEFLATE=zlib; zstd through libzstd on PACK_ZSTD_WORKERS threads;
 * or nothing), hashes the result (digest) and hands it to the caller's sink.
 * Output is a function of the input (PACK invariant 2): the gzip header
 * carries no time nor name, zstd's thread count is fixed. */
#include "pack-internal.h"

#include <isa-l/igzip_lib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_CAP (1u << 20)
#define PACK_ZSTD_WORKERS 2
#define PACK_ZSTD_LEVEL 3

struct pack_zsink {
        enum pack_compression c;
        pack_write_fn wr;
        void *ctx;
        struct sha256 tar_h, blob_h;
        uint64_t tar_bytes, blob_bytes;
        uint8_t *out;
        bool use_isal;
        struct isal_zstream *iz;
        uint8_t *lvl_buf;
        z_stream z;
        bool z_live;
        ZSTD_CCtx *zc;
};

int pack_compression_parse(const char *s, enum pack_compression *out, struct err *e)
{
        if (!strcmp(s, "gzip"))
                *out = PACK_GZIP;
        else if (!strcmp(s, "zstd"))
                *out = PACK_ZSTD;
        else if (!strcmp(s, "none") || !strcmp(s, "uncompressed"))
                *out = PACK_NONE;
        else
                return err_setx(e, EINVAL, "unknown compression '%s' (gzip, zstd or none)", s);
        return 0;
}

const char *pack_compression_name(enum pack_compression c)
{
        return c == PACK_GZIP ? "gzip" : c == PACK_ZSTD ? "zstd" : "none";
}

static int emit(struct pack_zsink *z, const void *p, size_t n, struct err *e)
{
        if (!n)
                return 0;
        sha256_update(&z->blob_h, p, n);
        z->blob_bytes += n;
        return z->wr(z->ctx, p, n, e);
}

int pack_zsink_new(enum pack_compression c, pack_write_fn wr, void *ctx, struct pack_zsink **out, struct err *e)
{
        struct pack_zsink *z = xcalloc(1, sizeof *z);
        z->c = c;
        z->wr = wr;
        z->ctx = ctx;
        sha256_init(&z->tar_h);
        sha256_init(&z->blob_h);
        z->out = xmalloc(OUT_CAP);
        const char *impl = getenv("STRATA_DEFLATE");
        z->use_isal = !(impl && !strcmp(impl, "zlib"));
        if (c == PACK_GZIP && z->use_isal) {
                z->iz = xcalloc(1, sizeof *z->iz);
                isal_deflate_init(z->iz);
                z->iz->gzip_flag = IGZIP_GZIP;   /* header: no name, mtime 0 */
                z->iz->level = 1;
                z->lvl_buf = xmalloc(ISAL_DEF_LVL1_DEFAULT);
                z->iz->level_buf = z->lvl_buf;
                z->iz->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
        } else if (c == PACK_GZIP) {
                if (deflateInit2(&z->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                        pack_zsink_free(z);
                        return err_setx(e, ENOMEM, "start gzip compression");
                }
                z->z_live = true;
        } else if (c == PACK_ZSTD) {
                z->zc = ZSTD_createCCtx();
                if (!z->zc) {
                        pack_zsink_free(z);
                        return err_setx(e, ENOMEM, "start zstd compression");
                }
                ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, PACK_ZSTD_LEVEL);
                ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 1);
                /* fails quietly on a libzstd without threads: one thread then */
                ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, PACK_ZSTD_WORKERS);
        }
        *out = z;
        return 0;
}

static int run_isal(struct pack_zsink *z, const void *p, size_t n, bool finish, struct err *e)
{
        z->iz->next_in = (uint8_t *)p;
        z->iz->avail_in = (uint32_t)n;
        z->iz->end_of_stream = finish;
        z->iz->flush = NO_FLUSH;
        do {
                z->iz->next_out = z->out;
                z->iz->avail_out = OUT_CAP;
                if (isal_deflate(z->iz) != COMP_OK)
                        return err_setx(e, EIO, "gzip compression failed");
                int r = emit(z, z->out, OUT_CAP - z->iz->avail_out, e);
                if (r < 0)
                        return r;
        } while (z->iz->avail_in > 0 || (finish && z->iz->internal_state.state != ZSTATE_END));
        return 0;
}

static int run_zlib(struct pack_zsink *z, const void *p, size_t n, bool finish, struct err *e)
{
        z->z.next_in = (Bytef *)p;
        z->z.avail_in = (uInt)n;
        for (;;) {
                z->z.next_out = z->out;
                z->z.avail_out = OUT_CAP;
                int zr = deflate(&z->z, finish ? Z_FINISH : Z_NO_FLUSH);
                if (zr == Z_STREAM_ERROR)
                        return err_setx(e, EIO, "gzip compression failed");
                int r = emit(z, z->out, OUT_CAP - z->z.avail_out, e);
                if (r < 0)
                        return r;
                if (finish ? zr == Z_STREAM_END : z->z.avail_in == 0)
                        return 0;
        }
}

static int run_zstd(struct pack_zsink *z, const void *p, size_t n, bool finish, struct err *e)
{
        ZSTD_inBuffer in = { p, n, 0 };
        for (;;) {
                ZSTD_outBuffer out = { z->out, OUT_CAP, 0 };
                size_t left = ZSTD_compressStream2(z->zc, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(left))
                        return err_setx(e, EIO, "zstd compression: %s", ZSTD_getErrorName(left));
                int r = emit(z, z->out, out.pos, e);
                if (r < 0)
                        return r;
                if (finish ? left == 0 : in.pos == in.size)
                        return 0;
        }
}

static int run(struct pack_zsink *z, const void *p, size_t n, bool finish, struct err *e)
{
        /* ISA-L takes 32-bit lengths */
        while (z->c == PACK_GZIP && z->use_isal && n > (1u << 30)) {
                int r = run_isal(z, p, 1u << 30, false, e);
                if (r < 0)
                        return r;
                p = (const uint8_t *)p + (1u << 30);
                n -= 1u << 30;
        }
        switch (z->c) {
        case PACK_GZIP:
                return z->use_isal ? run_isal(z, p, n, finish, e) : run_zlib(z, p, n, finish, e);
        case PACK_ZSTD:
                return run_zstd(z, p, n, finish, e);
        default:
                return emit(z, p, n, e);
        }
}

int pack_zsink_write(struct pack_zsink *z, const void *p, size_t n, struct err *e)
{
        sha256_update(&z->tar_h, p, n);
        z->tar_bytes += n;
        return run(z, p, n, false, e);
}

int pack_zsink_finish(struct pack_zsink *z, struct pack_tar_result *res, struct err *e)
{
        int r = run(z, NULL, 0, true, e);
        if (r >= 0) {
                sha256_final(&z->tar_h, res->diff_id);
                sha256_final(&z->blob_h, res->digest);
                z->tar_h.md_ctx = z->blob_h.md_ctx = NULL;
                res->tar_bytes = z->tar_bytes;
                res->blob_bytes = z->blob_bytes;
        }
        pack_zsink_free(z);
        return r;
}

void pack_zsink_free(struct pack_zsink *z)
{
        if (!z)
                return;
        sha256_free(&z->tar_h);
        sha256_free(&z->blob_h);
        if (z->z_live)
                deflateEnd(&z->z);
        ZSTD_freeCCtx(z->zc);
        free(z->iz);
        free(z->lvl_buf);
        free(z->out);
        free(z);
}
