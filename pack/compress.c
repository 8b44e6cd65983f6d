/* The compressing sink under the tar writer: hashes the tar (diff_id),
 * compresses it (gzip through ISA-L's igzip, or zlib with
 * STRATA_DEFLATE=zlib; zstd through libzstd on PACK_ZSTD_WORKERS threads;
 * or nothing), hashes the result (digest) and hands it to the caller's sink.
 *
 * Output is a function of the tar stream (PACK invariant 2): the gzip header
 * carries no time nor name, zstd's thread count is fixed, and the
 * compressor is fed in CHUNK-sized pieces whatever sizes the tar writer
 * wrote (igzip's output depends on where its input pieces end).
 *
 * The chunks go through a ring of NBUF buffers to a thread of their own,
 * which hashes, compresses and writes them while the caller's thread reads
 * files and makes the tar: the two halves use two cores.
 * STRATA_PACK_THREADS=0 keeps everything in the caller's thread. */
#include "pack-internal.h"

#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_CAP (1u << 20)
#define CHUNK (1u << 20)
#define NBUF 4
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

        /* the producer fills buf[(head + count) % NBUF]; the worker takes buf[head] */
        uint8_t *buf[NBUF];
        size_t len[NBUF];
        size_t fill;               /* bytes in the buffer being filled */
        bool threaded, thread_live;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t data_cv, space_cv;
        unsigned head, count;      /* guarded by mu */
        bool finishing, stop;      /* guarded by mu */
        int werr;                  /* the worker's failure (-errno), guarded by mu */
        struct err wE;             /* its message */
};

static void *worker(void *arg);

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
        pthread_mutex_init(&z->mu, NULL);
        pthread_cond_init(&z->data_cv, NULL);
        pthread_cond_init(&z->space_cv, NULL);
        const char *th = getenv("STRATA_PACK_THREADS");
        z->threaded = !(th && !strcmp(th, "0"));
        for (int i = 0; i < (z->threaded ? NBUF : 1); i++)
                z->buf[i] = xmalloc(CHUNK);
        if (z->threaded && pthread_create(&z->thread, NULL, worker, z) == 0)
                z->thread_live = true;
        else
                z->threaded = false;
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

/* One full (or, with @last, the final) chunk: hashed, compressed, written. */
static int take_chunk(struct pack_zsink *z, const uint8_t *p, size_t n, bool last, struct err *e)
{
        sha256_update(&z->tar_h, p, n);
        z->tar_bytes += n;
        return run(z, p, n, last, e);
}

static void *worker(void *arg)
{
        struct pack_zsink *z = arg;
        for (;;) {
                pthread_mutex_lock(&z->mu);
                while (!z->count && !z->finishing && !z->stop)
                        pthread_cond_wait(&z->data_cv, &z->mu);
                if (z->stop || (!z->count && z->finishing)) {
                        pthread_mutex_unlock(&z->mu);
                        return NULL;
                }
                unsigned i = z->head;
                bool last = z->finishing && z->count == 1;
                pthread_mutex_unlock(&z->mu);
                struct err e = { 0 };
                int r = take_chunk(z, z->buf[i], z->len[i], last, &e);
                pthread_mutex_lock(&z->mu);
                z->head = (z->head + 1) % NBUF;
                z->count--;
                if (r < 0 && !z->werr) {
                        z->werr = r;
                        z->wE = e;
                        z->stop = true;
                }
                pthread_cond_signal(&z->space_cv);
                pthread_mutex_unlock(&z->mu);
                if (last || r < 0)
                        return NULL;
        }
}

static int worker_failed(struct pack_zsink *z, struct err *e)
{
        if (!z->werr)
                return 0;
        *e = z->wE;
        return z->werr;
}

/* Hand the buffer being filled to the worker (or process it here). */
static int hand_over(struct pack_zsink *z, bool last, struct err *e)
{
        if (!z->threaded) {
                unsigned i = z->head;
                size_t n = z->fill;
                z->fill = 0;
                return take_chunk(z, z->buf[i], n, last, e);
        }
        pthread_mutex_lock(&z->mu);
        /* at most NBUF - 1 queued: the slot filled next is never the one
         * the worker is reading (it leaves the queue only when done) */
        while (z->count >= NBUF - 1 && !z->werr)
                pthread_cond_wait(&z->space_cv, &z->mu);
        int r = worker_failed(z, e);
        if (r >= 0) {
                z->len[(z->head + z->count) % NBUF] = z->fill;
                z->count++;
                z->finishing |= last;
                pthread_cond_signal(&z->data_cv);
        }
        pthread_mutex_unlock(&z->mu);
        z->fill = 0;
        return r;
}

static uint8_t *filling(struct pack_zsink *z)
{
        return z->buf[z->threaded ? (z->head + z->count) % NBUF : z->head];
}

int pack_zsink_write(struct pack_zsink *z, const void *p, size_t n, struct err *e)
{
        const uint8_t *q = p;
        while (n) {
                /* z->head and z->count move under mu, but the slot being
                 * filled is the producer's alone until it is handed over */
                pthread_mutex_lock(&z->mu);
                uint8_t *b = filling(z);
                int r = worker_failed(z, e);
                pthread_mutex_unlock(&z->mu);
                if (r < 0)
                        return r;
                size_t k = CHUNK - z->fill < n ? CHUNK - z->fill : n;
                memcpy(b + z->fill, q, k);
                z->fill += k;
                q += k;
                n -= k;
                if (z->fill == CHUNK && (r = hand_over(z, false, e)) < 0)
                        return r;
        }
        return 0;
}

int pack_zsink_finish(struct pack_zsink *z, struct pack_tar_result *res, struct err *e)
{
        int r = hand_over(z, true, e);
        if (z->thread_live) {
                pthread_join(z->thread, NULL);
                z->thread_live = false;
                if (r >= 0)
                        r = worker_failed(z, e);
        }
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
        if (z->thread_live) {
                pthread_mutex_lock(&z->mu);
                z->stop = true;
                pthread_cond_broadcast(&z->data_cv);
                pthread_mutex_unlock(&z->mu);
                pthread_join(z->thread, NULL);
        }
        pthread_mutex_destroy(&z->mu);
        pthread_cond_destroy(&z->data_cv);
        pthread_cond_destroy(&z->space_cv);
        for (int i = 0; i < NBUF; i++)
                free(z->buf[i]);
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
