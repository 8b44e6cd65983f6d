/* strata pull, the orchestration (see pull.h for the invariants):
 *   reference → sources → manifest (index → platform) → pin check →
 *   up-to-date check → config → the blob locks of every layer, taken in
 *   digest order (no deadlock between processes) → layers in parallel, each:
 *   present? → download into tmp/<hex>.partial (resuming) → verify →
 *   extract into a tmp dir → diff_id check → then, once every layer is
 *   ready: commit blobs and layers, config, manifest, record and names →
 *   release the locks.  A failure commits nothing: verified .partial files
 *   stay in tmp/ (the next run reuses them without a byte of network),
 *   extraction dirs are removed. */
#include "pull.h"
#include "cli.h"
#include "progress.h"
#include "workers.h"
#include "unpack/unpack.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEFAULT_JOBS 3
#define HASH_CHUNK (1u << 20)

/* Ctrl-C: set by the handler, read by every transfer (fetch_opts.cancel),
 * the extractors and the workers; the pull then stops as a failed one does
 * (PULL 3: nothing committed, .partial files kept for the rerun). */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        if (interrupted) {
                /* a second Ctrl-C: the user insists */
                signal(sig, SIG_DFL);
                raise(sig);
                return;
        }
        interrupted = 1;
}

struct pull;

struct layer_job {
        struct pull *pl;
        size_t idx;
        const struct descriptor *d;
        const char *diff_id;
        char id[13];                /* short hex, the progress row */
        uint64_t file_bytes;        /* unpacked, for the image size */
        uint64_t downloaded;        /* bytes fetched from the network */
        bool present;               /* the layer is in the store, or an earlier job has it */
        int partial_fd;             /* a verified, complete .partial to commit, or -1 */
        char *tmpdir;               /* the extracted layer to commit, or NULL */
        char *meta;                 /* its layer.json */
        struct err e;
};

struct pull {
        struct store *s;
        struct registry *reg;
        struct progress *pg;
        const struct pull_opts *o;
        size_t n;
        struct layer_job *jobs;
        size_t n_locks;
        int *locks;                 /* blob lock fds (-1: let go early), held to the end */
        const char **lock_digest;   /* the digest of each (borrowed from the manifest) */
};

static void short_id(const char *digest, char out[13])
{
        snprintf(out, 13, "%.12s", digest_valid(digest) ? digest_hex(digest) : digest);
}

/* ------------------------------------------------------------- extract */

/* An extraction in progress: into a tmp dir, from the stored blob, or from
 * the .partial while the download appends to it ("tailing": the extractor
 * reads up to what has been written and waits for more; the download never
 * waits for the extractor, so the network runs at its own speed). */
struct extraction {
        struct layer_job *j;
        int in_fd;                  /* the blob, or the growing .partial (not ours to close) */
        bool tailing;
        uint64_t off;               /* tailing: the next byte to read */
        pthread_mutex_t m;          /* guards avail and done */
        pthread_cond_t cv;
        uint64_t avail;             /* tailing: bytes written so far */
        bool done;                  /* tailing: the download is over (ok or not) */
        char *tmp;
        int dirfd;
        struct unpack_stats st;
        char diff_id[DIGEST_STR_LEN + 1];
        struct err e;
        int r;
        uint64_t consumed;          /* blob bytes read (progress when not tailing) */
};

static ssize_t tail_read(struct extraction *x, void *buf, size_t n)
{
        pthread_mutex_lock(&x->m);
        while (x->off >= x->avail && !x->done)
                pthread_cond_wait(&x->cv, &x->m);
        uint64_t avail = x->avail;
        bool done = x->done;
        pthread_mutex_unlock(&x->m);
        if (interrupted)
                return -ECANCELED;   /* not -EINTR: a reader retries that */
        if (x->off >= avail)
                return 0;
        if (done)   /* the download is over: what is left is the extraction's */
                progress_bytes(x->j->pl->pg, x->j->id, "Extracting", x->off, x->j->d->size);
        size_t want = avail - x->off < n ? (size_t)(avail - x->off) : n;
        for (;;) {
                ssize_t k = pread(x->in_fd, buf, want, (off_t)x->off);
                if (k > 0) {
                        x->off += (uint64_t)k;
                        return k;
                }
                if (k == 0)
                        return -EIO;       /* shorter than what was written: cannot be */
                if (errno != EINTR)
                        return -errno;
        }
}

/* Called by the download as bytes land in the .partial, and once at its end. */
static void tail_feed(struct extraction *x, uint64_t avail, bool done)
{
        pthread_mutex_lock(&x->m);
        x->avail = avail;
        x->done |= done;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->m);
}

static ssize_t fd_reader(void *ctx, void *buf, size_t n)
{
        struct extraction *x = ctx;
        if (x->tailing)
                return tail_read(x, buf, n);
        if (interrupted)
                return -ECANCELED;
        for (;;) {
                ssize_t k = read(x->in_fd, buf, n);
                if (k >= 0) {
                        x->consumed += (uint64_t)k;
                        if (k > 0)
                                progress_bytes(x->j->pl->pg, x->j->id, "Extracting", x->consumed, x->j->d->size);
                        return k;
                }
                if (errno != EINTR)
                        return -errno;
        }
}

static void extraction_run(struct extraction *x)
{
        struct layer_job *j = x->j;
        char name[64];
        snprintf(name, sizeof name, "layer %zu (%s)", j->idx, j->id);   /* 0 = bottom, as everywhere */
        struct unpack_opts uo = { .media_type = j->d->media_type, .name = name };
        rootless_unpack_opts(j->pl->s, &uo);
        x->r = unpack_layer(fd_reader, x, x->dirfd, &uo, x->diff_id, &x->st, &x->e);
}

static void *extraction_thread(void *arg)
{
        extraction_run(arg);
        return NULL;
}

static int extraction_begin(struct layer_job *j, struct extraction *x, bool streaming)
{
        memset(x, 0, sizeof *x);
        x->j = j;
        x->in_fd = x->dirfd = -1;
        pthread_mutex_init(&x->m, NULL);
        pthread_cond_init(&x->cv, NULL);
        if (!streaming)   /* else said once the download is complete */
                progress_status(j->pl->pg, j->id, "Extracting");
        return store_layer_tmpdir(j->pl->s, j->diff_id, &x->tmp, &x->dirfd, &j->e);
}

/* Check the result; on success the dir waits in j->tmpdir for the commit,
 * written back to disk already so the commit has little left to sync. */
static int extraction_end(struct layer_job *j, struct extraction *x)
{
        pthread_mutex_destroy(&x->m);
        pthread_cond_destroy(&x->cv);
        int r = x->r;
        if (r < 0)
                j->e = x->e;
        else if (strcmp(x->diff_id, j->diff_id))
                r = err_setx(&j->e, EBADMSG, "uncompressed content hashes to %s, the config says %s",
                             x->diff_id, j->diff_id);
        if (r >= 0 && syncfs(x->dirfd) < 0)
                r = err_set(&j->e, errno, "sync %s", x->tmp);
        if (x->dirfd >= 0)
                close(x->dirfd);
        if (r < 0) {
                if (x->tmp)
                        store_discard_tmpdir(j->pl->s, x->tmp);
                free(x->tmp);
                return r;
        }
        j->meta = unpack_stats_json(&x->st, j->diff_id);
        j->tmpdir = x->tmp;
        j->file_bytes = x->st.file_bytes;
        return 0;
}

/* Extract the blob in @fd (read from its start). */
static int extract_fd(struct layer_job *j, int fd)
{
        struct extraction x;
        int r = extraction_begin(j, &x, false);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0) {
                x.r = err_set(&x.e, errno, "seek blob %s", j->d->digest);
        } else {
                x.in_fd = fd;
                extraction_run(&x);
        }
        return extraction_end(j, &x);
}

/* ------------------------------------------------------------- download */

#define WRITEBACK_CHUNK (16u << 20)

struct dl_sink {
        int fd;                     /* the .partial */
        struct extraction *x;       /* reading it as it grows, or NULL */
        struct layer_job *j;
        uint64_t have, kicked;      /* bytes in the file; start of unflushed range */
};

static int dl_write(void *ctx, const void *p, size_t n)
{
        struct dl_sink *d = ctx;
        ssize_t w = write_all(d->fd, p, n);
        if (w < 0)
                return err_set(&d->j->e, (int)-w, "write partial download");
        d->have += n;
        /* start writing back early: the fsync at the commit then has little to do */
        if (d->have - d->kicked >= WRITEBACK_CHUNK) {
                sync_file_range(d->fd, (off_t)d->kicked, (off_t)(d->have - d->kicked), SYNC_FILE_RANGE_WRITE);
                d->kicked = d->have;
        }
        if (d->x)
                tail_feed(d->x, d->have, false);
        progress_bytes(d->j->pl->pg, d->j->id, "Downloading", d->have, d->j->d->size);
        return 0;
}

/* The extraction refused the layer's content (unpack.h's codes: corrupt,
 * hostile, a bomb, an unknown media type; a diff_id mismatch): unlike a full
 * disk or an I/O error, trying the same blob again cannot succeed. */
static bool layer_rejected(int r)
{
        return r == -EBADMSG || r == -EPERM || r == -EFBIG || r == -EMEDIUMTYPE;
}

/* Feed the bytes already in the .partial to @h; false when unreadable. */
static bool hash_existing(int fd, uint64_t have, struct sha256 *h)
{
        _cleanup_free_ char *chunk = xmalloc(HASH_CHUNK);
        uint64_t off = 0;
        while (off < have) {
                size_t want = have - off < HASH_CHUNK ? (size_t)(have - off) : HASH_CHUNK;
                ssize_t n = pread(fd, chunk, want, (off_t)off);
                if (n <= 0)
                        return false;
                sha256_update(h, chunk, (size_t)n);
                off += (uint64_t)n;
        }
        return true;
}

/* Download layer @j's blob into tmp/<hex>.partial, resuming what is there,
 * verify it and extract it while it arrives (the extractor reads what the
 * .partial held first, then the new bytes).  On success j->partial_fd is
 * the complete, synced .partial and j->tmpdir the extracted layer.  The
 * caller holds the blob lock. */
static int download_and_extract(struct layer_job *j, struct fetch_conn *c)
{
        struct pull *pl = j->pl;
        const struct descriptor *d = j->d;
        for (int attempt = 0;; attempt++) {
                int fd = -1;
                uint64_t have = 0;
                int r = store_open_partial(pl->s, d->digest, &fd, &have, &j->e);
                if (r < 0)
                        return r;
                struct sha256 h;
                sha256_init(&h);
                if (have > d->size || !hash_existing(fd, have, &h)) {
                        sha256_free(&h);
                        close(fd);
                        store_discard_partial(pl->s, d->digest);
                        if (attempt)
                                return err_setx(&j->e, EIO, "cannot restart the download of %s", d->digest);
                        continue;
                }
                if (have)
                        debugf("blob %s: resuming at byte %llu of %llu", d->digest,
                               (unsigned long long)have, (unsigned long long)d->size);

                /* extract while the bytes arrive: the extractor reads the
                 * .partial from its start (what a resume found there first) */
                struct extraction x;
                bool streaming = d->size > 0;
                pthread_t th;
                struct dl_sink sk = { .fd = fd, .j = j, .have = have, .kicked = have };
                if (streaming) {
                        r = extraction_begin(j, &x, true);
                        if (r < 0) {
                                sha256_free(&h);
                                close(fd);
                                x.r = r;
                                struct err keep = j->e;
                                extraction_end(j, &x);
                                j->e = keep;
                                return r;
                        }
                        x.in_fd = fd;
                        x.tailing = true;
                        x.avail = have;
                        sk.x = &x;
                        if (pthread_create(&th, NULL, extraction_thread, &x) != 0) {
                                streaming = false;
                                sk.x = NULL;
                                x.r = err_setx(&x.e, EAGAIN, "start extraction thread");
                                extraction_end(j, &x);
                        }
                }
                uint64_t got = 0;
                r = registry_get_blob(pl->reg, c, d->digest, d->size, have, &h, dl_write, &sk, &got, &j->e);
                bool verified = r >= 0;
                j->downloaded += got;
                if (streaming) {
                        if (r >= 0) {
                                progress_status(pl->pg, j->id, "Verifying Checksum");
                                progress_status(pl->pg, j->id, "Download complete");
                                progress_status(pl->pg, j->id, "Extracting");
                        }
                        tail_feed(&x, sk.have, true);    /* end of stream for the extractor */
                        pthread_join(th, NULL);
                        if (r >= 0) {
                                r = extraction_end(j, &x);   /* the extractor's verdict */
                        } else {
                                /* the download's failure is the reason; drop the extraction */
                                struct err keep = j->e;
                                if (x.r >= 0)
                                        x.r = r;
                                extraction_end(j, &x);
                                j->e = keep;
                        }
                }
                if (verified && r < 0 && layer_rejected(r)) {
                        /* the blob is what the manifest says but its layer is
                         * refused: fetching it again cannot help, keep nothing */
                        close(fd);
                        store_discard_partial(pl->s, d->digest);
                        return r;
                }
                if (r == -EBADMSG || r == -EAGAIN) {
                        /* the bytes are wrong: never keep them.  Start again from zero
                         * when some were old, or when a mirror sent them (-EAGAIN: the
                         * next call uses the next source). */
                        close(fd);
                        store_discard_partial(pl->s, d->digest);
                        if ((r == -EAGAIN && attempt < 8) || (have && !attempt))
                                continue;
                        return r;
                }
                if (r < 0) {
                        close(fd);     /* the .partial stays for a later resume (invariant 4) */
                        return r;
                }
                if (!streaming)
                        progress_status(pl->pg, j->id, "Verifying Checksum");
                if (fdatasync(fd) < 0) {
                        r = err_set(&j->e, errno, "sync download of %s", d->digest);
                        close(fd);
                        if (j->tmpdir)
                                store_discard_tmpdir(pl->s, j->tmpdir);
                        free(j->tmpdir);
                        j->tmpdir = NULL;
                        return r;
                }
                j->partial_fd = fd;
                if (streaming)
                        return 0;
                progress_status(pl->pg, j->id, "Download complete");
                r = extract_fd(j, fd);
                if (r < 0 && layer_rejected(r)) {
                        close(TAKE_FD(j->partial_fd));
                        store_discard_partial(pl->s, d->digest);
                }
                return r;
        }
}

/* One layer, up to the commit (the caller holds its blob lock). */
static int do_layer(struct layer_job *j, struct fetch_conn *c)
{
        struct pull *pl = j->pl;
        if (j->present || store_has_layer(pl->s, j->diff_id)) {
                j->present = true;
                j->file_bytes = store_layer_file_bytes(pl->s, j->diff_id);
                progress_status(pl->pg, j->id, "Already exists");
                return 0;
        }
        int r;
        if (store_has_blob(pl->s, j->d->digest)) {
                _cleanup_free_ char *blob = store_blob_path(pl->s, j->d->digest);
                _cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
                r = fd < 0 ? err_set(&j->e, errno, "open blob %s", j->d->digest) : extract_fd(j, fd);
        } else {
                r = download_and_extract(j, c);
        }
        /* "Pull complete" waits for the commit (commit_layers()): a layer's
         * last line is the truth, and a failure elsewhere throws this one away */
        if (r < 0)
                err_wrap(&j->e, "layer %s", j->d->digest);
        return r;
}

static int layer_worker(void *ctx, size_t i, struct fetch_conn *c, struct err *e)
{
        struct layer_job *j = &((struct pull *)ctx)->jobs[i];
        int r = do_layer(j, c);
        if (r < 0)
                *e = j->e;
        return r;
}

/* ------------------------------------------------------------ the image */

/* Notices from fetch/ (a retry, a mirror skipped) are part of the progress
 * on stdout: stderr keeps the one line of a failure. */
static void notice_cb(void *ctx, const char *line)
{
        progress_notice(ctx, "%s", line);
}

/* Fetch and parse the manifest for @reference; the body stays in @body. */
static int get_manifest(struct registry *reg, struct fetch_conn *c, const char *reference,
                        struct buf *body, char digest[DIGEST_STR_LEN + 1], struct manifest **m, struct err *e)
{
        _cleanup_free_ char *ct = NULL;
        int r = registry_get_manifest(reg, c, reference, body, &ct, digest, e);
        if (r < 0)
                return r;
        return manifest_parse(body->data, body->len, ct, m, e);
}

static bool up_to_date(struct store *s, const char *name, const char *manifest_digest)
{
        struct store_image im = { 0 };
        struct err ie = { 0 };
        if (store_find_image(s, name, &im, &ie) < 0)
                return false;
        bool ok = im.manifest && !strcmp(im.manifest, manifest_digest) && store_has_blob(s, im.id);
        for (size_t i = 0; ok && i < im.n_layers; i++)
                ok = store_has_layer(s, im.layers[i].diff_id);
        store_image_free(&im);
        return ok;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Take the blob lock of every distinct layer digest, in sorted order, so two
 * processes never wait on each other in a cycle (PULL 1). */
static int lock_layers(struct pull *pl, struct err *e)
{
        const char **d = xcalloc(pl->n ? pl->n : 1, sizeof *d);
        for (size_t i = 0; i < pl->n; i++)
                d[i] = pl->jobs[i].d->digest;
        qsort(d, pl->n, sizeof *d, cmp_str);
        pl->locks = xcalloc(pl->n ? pl->n : 1, sizeof *pl->locks);
        pl->lock_digest = xcalloc(pl->n ? pl->n : 1, sizeof *pl->lock_digest);
        int r = 0;
        for (size_t i = 0; i < pl->n; i++) {
                if (i && !strcmp(d[i], d[i - 1]))
                        continue;
                pl->lock_digest[pl->n_locks] = d[i];
                r = store_blob_lock(pl->s, d[i], &pl->locks[pl->n_locks], e);
                if (r < 0)
                        break;
                pl->n_locks++;
        }
        free(d);
        if (r < 0)
                return r;
        /* Layers already in the store are not ours to make: decide them now
         * and let their locks go, so that other pulls over the same base do
         * not wait for this one to end. */
        for (size_t i = 0; i < pl->n; i++) {
                struct layer_job *j = &pl->jobs[i];
                if (store_has_layer(pl->s, j->diff_id))
                        j->present = true;
        }
        for (size_t k = 0; k < pl->n_locks; k++) {
                bool all_present = true;
                for (size_t i = 0; i < pl->n; i++)
                        if (!strcmp(pl->jobs[i].d->digest, pl->lock_digest[k]) && !pl->jobs[i].present)
                                all_present = false;
                if (all_present) {
                        store_blob_unlock(pl->locks[k]);
                        pl->locks[k] = -1;
                }
        }
        return 0;
}

static void unlock_layers(struct pull *pl)
{
        for (size_t i = 0; i < pl->n_locks; i++)
                store_blob_unlock(pl->locks[i]);
        free(pl->locks);
        free(pl->lock_digest);
        pl->locks = NULL;
        pl->lock_digest = NULL;
        pl->n_locks = 0;
}

/* Every layer is ready: move blobs and layers into place (PULL 2). */
static int commit_layers(struct pull *pl, struct err *e)
{
        for (size_t i = 0; i < pl->n; i++) {
                struct layer_job *j = &pl->jobs[i];
                int r = 0;
                if (j->partial_fd >= 0)
                        r = store_commit_partial(pl->s, j->d->digest, TAKE_FD(j->partial_fd), e);
                if (r >= 0 && j->tmpdir) {
                        r = store_commit_layer(pl->s, j->diff_id, j->tmpdir, j->meta, e);
                        if (r >= 0) {
                                free(j->tmpdir);
                                j->tmpdir = NULL;
                        }
                }
                if (r < 0)
                        return err_wrap(e, "layer %s", j->d->digest);
                if (!j->present)
                        progress_status(pl->pg, j->id, "Pull complete");
        }
        return 0;
}

/* What a failed pull leaves: verified .partial files stay, tmp dirs go. */
static void abandon_layers(struct pull *pl)
{
        for (size_t i = 0; i < pl->n; i++) {
                struct layer_job *j = &pl->jobs[i];
                if (j->partial_fd >= 0)
                        close(TAKE_FD(j->partial_fd));
                if (j->tmpdir)
                        store_discard_tmpdir(pl->s, j->tmpdir);
                free(j->tmpdir);
                free(j->meta);
                j->tmpdir = j->meta = NULL;
        }
}

static int run_layers(struct pull *pl, struct err *e)
{
        int jobs = pl->o->jobs > 0 ? pl->o->jobs : DEFAULT_JOBS;
        if ((size_t)jobs > pl->n)
                jobs = (int)pl->n;
        /* a layer already here says only that (docker's "Already exists"
         * without a "Pulling fs layer" first); the others are queued, and
         * those behind the first @jobs wait */
        for (size_t i = 0; i < pl->n; i++)
                progress_status(pl->pg, pl->jobs[i].id, pl->jobs[i].present ? "Already exists" : "Pulling fs layer");
        for (size_t i = 0, queued = 0; i < pl->n; i++)
                if (!pl->jobs[i].present && queued++ >= (size_t)jobs)
                        progress_status(pl->pg, pl->jobs[i].id, "Waiting");
        return workers_run(pl->n, jobs, layer_worker, pl, &interrupted, "download", e);
}

int pull_image(struct store *s, const char *text, const struct pull_opts *o, struct err *e)
{
        /* with CURLOPT_NOSIGNAL (threads) libcurl leaves SIGPIPE to us: a peer that
         * closes while TLS writes must be an error, not death */
        signal(SIGPIPE, SIG_IGN);
        struct image_ref ref;
        int r = ref_parse(text, &ref, e);
        if (r < 0)
                return r;
        /* Ctrl-C stops the pull cleanly: no SA_RESTART, so a blocked wait
         * (a blob lock) returns EINTR too */
        interrupted = 0;
        struct sigaction sa = { .sa_handler = on_sigint }, old_int;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        struct platform want = { 0 };
        if (o->platform)
                r = platform_parse(o->platform, &want, e);
        else
                platform_host(&want);
        struct fetch_source *srcs = NULL;
        size_t n_srcs = 0;
        struct registry *reg = NULL;
        struct fetch_conn *c = NULL;
        struct manifest *top = NULL, *img = NULL;
        struct buf top_body = BUF_INIT(FETCH_MANIFEST_MAX), img_body = BUF_INIT(FETCH_MANIFEST_MAX);
        struct buf cfg_body = BUF_INIT(FETCH_MANIFEST_MAX);
        struct image_config cfg = { 0 };
        struct progress *pg = NULL;
        struct pull pl = { 0 };
        _cleanup_free_ char *name = ref_name(&ref), *familiar = ref_familiar(&ref);
        _cleanup_free_ char *repo_name = ref_repo_name(&ref), *plat = NULL;
        char top_digest[DIGEST_STR_LEN + 1] = "", img_digest[DIGEST_STR_LEN + 1] = "";
        const char *index_digest = NULL;
        if (r < 0)
                goto out;

        struct fetch_opts fo = o->fetch;
        fo.cancel = &interrupted;
        pg = progress_new(stdout, isatty(STDOUT_FILENO), o->quiet);
        if (!fo.notice) {
                fo.notice = notice_cb;
                fo.notice_ctx = pg;
        }
        r = fetch_sources_for(&ref, o->cfg, &srcs, &n_srcs, e);
        if (r >= 0)
                r = registry_open(&ref, srcs, n_srcs, &fo, &reg, e);
        if (r < 0)
                goto out;
        c = fetch_conn_new();

        const char *reference = ref.digest ? ref.digest : ref.tag;
        r = get_manifest(reg, c, reference, &top_body, top_digest, &top, e);
        if (r < 0)
                goto out;
        /* which source resolved the tag (README "Registry mirrors") */
        debugf("%s %s resolved by %s", ref.repo, reference, registry_manifest_source(reg));
        progress_line(pg, false, "%s: Pulling from %s", reference, ref.repo);
        if (top->kind == MANIFEST_INDEX) {
                const struct descriptor *d;
                r = manifest_select(top, &want, &d, e);
                if (r < 0)
                        goto out;
                index_digest = top_digest;
                r = get_manifest(reg, c, d->digest, &img_body, img_digest, &img, e);
                if (r >= 0 && img->kind != MANIFEST_IMAGE)
                        r = err_setx(e, EBADMSG, "index entry %s is not an image manifest", d->digest);
                if (r < 0) {
                        err_wrap(e, "manifest for %s/%s%s%s", d->platform.os, d->platform.arch,
                                 d->platform.variant ? "/" : "", d->platform.variant ? d->platform.variant : "");
                        goto out;
                }
        } else {
                img = TAKE_PTR(top);
                memcpy(img_digest, top_digest, sizeof img_digest);
                img_body = top_body;
                top_body = (struct buf)BUF_INIT(0);
        }

        /* the config: small, bounded, verified */
        if (store_has_blob(s, img->config.digest))
                r = store_read_blob(s, img->config.digest, FETCH_MANIFEST_MAX, &cfg_body, e);
        else
                r = registry_get_small_blob(reg, c, &img->config, &cfg_body, e);
        if (r >= 0)
                r = config_parse(cfg_body.data, cfg_body.len, &cfg, e);
        if (r < 0) {
                err_wrap(e, "config %s", img->config.digest);
                goto out;
        }
        if (cfg.n_diff_ids != img->n_layers) {
                r = err_setx(e, EBADMSG, "the manifest has %zu layers but the config %zu diff_ids",
                             img->n_layers, cfg.n_diff_ids);
                goto out;
        }

        /* a single-platform image that is not the one asked for: refused, as
         * docker does (an index was matched by manifest_select() already) */
        if (!index_digest && o->platform && cfg.os && cfg.arch) {
                struct platform have = { cfg.os, cfg.arch, cfg.variant };
                if (!platform_matches(&have, &want)) {
                        _cleanup_free_ char *w = platform_str(&want), *h = platform_str(&have);
                        r = err_setx(e, ENOENT, "image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
                                     familiar, w, h);
                        goto out;
                }
        }

        if (up_to_date(s, name, img_digest)) {
                progress_line(pg, false, "Digest: %s", top_digest);
                progress_line(pg, false, "Status: Image is up to date for %s", familiar);
                progress_line(pg, true, "%s", name);
                /* the digest name may be missing (an older pull): record it again */
                goto names;
        }

        /* layers, several at once */
        pl = (struct pull){ .s = s, .reg = reg, .pg = pg, .o = o, .n = img->n_layers };
        pl.jobs = xcalloc(pl.n ? pl.n : 1, sizeof *pl.jobs);
        for (size_t i = 0; i < pl.n; i++) {
                struct layer_job *j = &pl.jobs[i];
                j->pl = &pl;
                j->idx = i;
                j->d = &img->layers[i];
                j->diff_id = cfg.diff_ids[i];
                j->partial_fd = -1;
                short_id(j->d->digest, j->id);
                for (size_t k = 0; k < i; k++)
                        if (!strcmp(pl.jobs[k].diff_id, j->diff_id))
                                j->present = true;   /* the same layer twice: once is enough */
        }
        r = lock_layers(&pl, e);
        if (r >= 0)
                r = run_layers(&pl, e);
        if (r >= 0 && interrupted)
                r = -EINTR;     /* every layer ready, but the user said stop: commit nothing */
        if (r >= 0)
                r = commit_layers(&pl, e);
        if (r < 0)
                goto out;

        /* the small blobs, then the record (invariant 3) */
        r = store_put_blob(s, img->config.digest, cfg_body.data, cfg_body.len, e);
        if (r >= 0)
                r = store_put_blob(s, img_digest, img_body.data, img_body.len, e);
        if (r >= 0 && index_digest)
                r = store_put_blob(s, index_digest, top_body.data, top_body.len, e);
        if (r < 0)
                goto out;
        progress_line(pg, false, "Digest: %s", top_digest);
        progress_line(pg, false, "Status: Downloaded newer image for %s", familiar);
        progress_line(pg, true, "%s", name);

names:;
        struct store_image im = { 0 };
        im.id = img->config.digest;
        im.manifest = img_digest;
        im.index = (char *)index_digest;
        if (cfg.os && cfg.arch) {
                struct platform p = { cfg.os, cfg.arch, cfg.variant };
                plat = platform_str(&p);
        } else {
                plat = platform_str(&want);
        }
        im.platform = plat;
        im.created = (time_t)cfg.created;
        im.pulled = time(NULL);
        im.n_layers = img->n_layers;
        struct store_layer *layers = xcalloc(im.n_layers ? im.n_layers : 1, sizeof *layers);
        for (size_t i = 0; i < im.n_layers; i++) {
                layers[i].digest = img->layers[i].digest;
                layers[i].diff_id = cfg.n_diff_ids > i ? cfg.diff_ids[i] : NULL;
                layers[i].media_type = img->layers[i].media_type;
                layers[i].size = img->layers[i].size;
                im.size += pl.jobs ? pl.jobs[i].file_bytes : 0;
        }
        im.layers = layers;
        if (!pl.jobs) {
                /* up to date: keep the record as it is, only (re)point the names */
                struct store_image old = { 0 };
                r = store_find_image(s, name, &old, e);
                if (r >= 0) {
                        _cleanup_free_ char *dname = xasprintf("%s@%s", repo_name, top_digest);
                        r = store_add_image(s, &old, dname, e);
                }
                store_image_free(&old);
        } else {
                r = store_add_image(s, &im, name, e);
                if (r >= 0 && !ref.digest) {
                        _cleanup_free_ char *dname = xasprintf("%s@%s", repo_name, top_digest);
                        r = store_add_image(s, &im, dname, e);
                }
        }
        /* a layer taken as present was let go early: a concurrent rmi may have
         * removed it since; say so rather than leave a record that lies */
        for (size_t i = 0; r >= 0 && i < im.n_layers; i++)
                if (layers[i].diff_id && !store_has_layer(s, layers[i].diff_id))
                        r = err_setx(e, ENOENT, "layer %s was removed while this pull ran (a concurrent rmi?); pull again",
                                     layers[i].digest);
        free(layers);
        if (r < 0)
                err_wrap(e, "record image");
out:
        /* interrupted: whatever failed, the reason is the user's (one line:
         * "pull REF: interrupted"); a pull that got recorded stands */
        if (r < 0 && interrupted)
                r = err_setx(e, EINTR, "interrupted");
        abandon_layers(&pl);
        unlock_layers(&pl);
        progress_free(pg);
        sigaction(SIGINT, &old_int, NULL);
        free(pl.jobs);
        config_free(&cfg);
        buf_free(&cfg_body);
        buf_free(&img_body);
        buf_free(&top_body);
        manifest_free(img);
        manifest_free(top);
        fetch_conn_free(c);
        registry_close(reg);
        fetch_sources_free(srcs, n_srcs);
        platform_free(&want);
        ref_free(&ref);
        return r;
}
