/* strata push [-q] [-j N] IMAGE [DESTINATION] — send a stored image to a
 * registry, byte for byte as the store keeps it: the manifest blob, the
 * config blob and the layers' compressed blobs, so the image keeps its
 * digest.  Docker's output: "The push refers to repository [...]", one row
 * per layer (Preparing, Waiting, Pushing, Pushed / Layer already exists /
 * Mounted from REPO), then "TAG: digest: sha256:... size: N".
 *
 * PUSH INVARIANTS
 * (1) every blob file is opened before the first request: a concurrent rmi
 *     cannot take bytes away from a push under way.
 * (2) the manifest goes last, after every blob is with the registry (fetch.h
 *     UPLOAD 3): a push cut short leaves no tag.
 * (3) only the registry itself is spoken to, never a mirror. */
#include "cli.h"
#include "fetchcfg.h"
#include "progress.h"
#include "recompress.h"
#include "workers.h"
#include "fetch/fetch.h"
#include "store/store.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_JOBS 5          /* docker's max-concurrent-uploads */

struct push;

struct push_job {
        struct push *p;
        const struct descriptor *d;
        char id[13];             /* the progress row (docker shows the diff ID); "" for the config */
        int fd;
        char **from;             /* repositories of the destination registry that have the blob */
        size_t n_from;
        bool dup;                /* the same blob as an earlier job */
        size_t first;            /* the job that pushes this blob (itself unless dup) */
        bool done;               /* the registry has it now */
        const char *diff_id;     /* layers: the config's */
        const char *recompress;  /* "gzip"/"zstd": written anew before the push (--compress) */
        const char *new_type;    /* its media type then */
        struct descriptor nd;    /* the blob written anew; d points here then */
        struct err e;
        struct blob_push bp;
};

struct push {
        struct store *s;
        struct registry *reg;
        struct progress *pg;
        uint64_t chunk;
        struct push_job *jobs;
};

static void on_progress(void *ctx, uint64_t done, uint64_t size)
{
        struct push_job *j = ctx;
        if (j->id[0])
                progress_bytes(j->p->pg, j->id, "Pushing", done, size);
}

/* --compress: write layer @j anew into an unnamed file of the store's tmp/
 * (never a blob of the store: nothing records it), its diff_id checked. */
static int recompress(struct push_job *j)
{
        int out = -1;
        int r = store_tmpfile(j->p->s, &out, &j->e);
        if (r < 0)
                return r;
        enum pack_compression c = !strcmp(j->recompress, "zstd") ? PACK_ZSTD : PACK_GZIP;
        struct recompressed res;
        r = layer_recompress(j->fd, j->d->media_type, c, out, &res, &j->e);
        if (r >= 0 && j->diff_id && strcmp(res.diff_id, j->diff_id))
                r = err_setx(&j->e, EBADMSG, "uncompressed content hashes to %s, the config says %s", res.diff_id, j->diff_id);
        if (r < 0) {
                close(out);
                return err_wrap(&j->e, "recompress layer %s", j->d->digest);
        }
        close(j->fd);
        j->fd = out;
        j->nd.digest = xstrdup(res.digest);
        j->nd.media_type = xstrdup(j->new_type);
        j->nd.size = res.size;
        j->d = &j->nd;
        return 0;
}

static int push_one(struct push_job *j, struct fetch_conn *c)
{
        if (j->dup)
                return 0;
        if (j->recompress) {
                int r = recompress(j);
                if (r < 0)
                        return r;
        }
        j->bp = (struct blob_push){
                .digest = j->d->digest, .size = j->d->size, .fd = j->fd,
                .mount_from = j->from, .n_mount_from = j->n_from, .chunk = j->p->chunk,
                .progress = on_progress, .ctx = j,
        };
        int r = registry_push_blob(j->p->reg, c, &j->bp, &j->e);
        j->done = r >= 0;
        if (r < 0 || !j->id[0])
                return r;
        if (j->bp.result == BLOB_EXISTS) {
                progress_status(j->p->pg, j->id, "Layer already exists");
        } else if (j->bp.result == BLOB_MOUNTED) {
                _cleanup_free_ char *m = xasprintf("Mounted from %s", j->bp.mounted_from);
                progress_status(j->p->pg, j->id, m);
        } else {
                progress_status(j->p->pg, j->id, "Pushed");
        }
        return 0;
}

static int push_worker(void *ctx, size_t i, struct fetch_conn *c, struct err *e)
{
        struct push_job *j = &((struct push *)ctx)->jobs[i];
        int r = push_one(j, c);
        if (r < 0)
                *e = j->e;
        return r;
}

static void notice_cb(void *ctx, const char *line)
{
        progress_notice(ctx, "%s", line);
}

static void add_source(struct push_job *j, const char *registry, const char *repo, const struct image_ref *dst)
{
        if (strcmp(registry, dst->registry) || !strcmp(repo, dst->repo))
                return;
        for (size_t m = 0; m < j->n_from; m++)
                if (!strcmp(j->from[m], repo))
                        return;
        j->from = xrealloc(j->from, (j->n_from + 1) * sizeof *j->from);
        j->from[j->n_from++] = xstrdup(repo);
}

/* The repositories of @dst's registry other than its own that the store
 * knows to hold @digest: those an earlier push put it in (newest first),
 * then those of images named there that have it.  Where to mount it from. */
static void mount_sources(struct store *s, const struct store_image *all, size_t n_all, const char *digest,
                          const struct image_ref *dst, struct push_job *j)
{
        char **known = NULL;
        size_t n_known = 0;
        struct err ie = { 0 };
        if (store_blob_locations(s, digest, &known, &n_known, &ie) < 0)
                debugf("mount hints for %s: %s", digest, ie.msg);   /* a hint only */
        for (size_t i = 0; i < n_known; i++) {
                char *slash = strchr(known[i], '/');
                if (slash) {
                        *slash = '\0';
                        add_source(j, known[i], slash + 1, dst);
                }
                free(known[i]);
        }
        free(known);
        for (size_t i = 0; i < n_all; i++) {
                const struct store_image *im = &all[i];
                bool has = im->id && !strcmp(im->id, digest);
                for (size_t k = 0; k < im->n_layers && !has; k++)
                        has = im->layers[k].digest && !strcmp(im->layers[k].digest, digest);
                for (size_t k = 0; has && k < im->n_names; k++) {
                        struct image_ref ref;
                        if (ref_parse(im->names[k], &ref, &ie) < 0)
                                continue;
                        add_source(j, ref.registry, ref.repo, dst);
                        ref_free(&ref);
                }
        }
}

/* Open the stored blob of @d for job @j (PUSH 1). */
static int open_blob(struct store *s, const struct descriptor *d, const char *diff_id, int *fd, struct err *e)
{
        _cleanup_free_ char *path = store_blob_path(s, d->digest);
        *fd = open(path, O_RDONLY | O_CLOEXEC);
        if (*fd < 0 && errno == ENOENT && diff_id)
                return err_setx(e, ENOENT, "layer %s: its compressed blob %s is not in the store "
                                           "(strata cannot yet rebuild it from the layer directory)", diff_id, d->digest);
        if (*fd < 0)
                return err_set(e, errno, "open blob %s", d->digest);
        struct stat st;
        if (fstat(*fd, &st) < 0)
                return err_set(e, errno, "stat blob %s", d->digest);
        if ((uint64_t)st.st_size != d->size)
                return err_setx(e, EBADMSG, "blob %s: %llu bytes in the store, the manifest says %llu", d->digest,
                                (unsigned long long)st.st_size, (unsigned long long)d->size);
        return 0;
}

enum push_format { FORMAT_KEEP, FORMAT_OCI, FORMAT_DOCKER };

static int replace_body(struct buf *body, char *text, size_t len, int r, struct err *e)
{
        if (r >= 0) {
                buf_reset(body);
                r = buf_append(body, text, len) < 0 ? err_setx(e, EFBIG, "manifest too large") : 0;
        }
        free(text);
        return r;
}

static int convert_body(struct buf *body, enum push_format f, struct err *e)
{
        char *conv = NULL;
        size_t n = 0;
        int r = manifest_convert(body->data, body->len, f == FORMAT_OCI, &conv, &n, e);
        return replace_body(body, conv, n, r, e);
}

/* --compress: the manifest with the layers written anew (job i is layer
 * n - 1 - i; a repeated layer takes its first job's blob). */
static int rewrite_layers(const struct push *p, size_t n, struct buf *body, const struct manifest *m, struct err *e)
{
        struct descriptor *ls = xcalloc(n ? n : 1, sizeof *ls);
        for (size_t i = 0; i < n; i++)
                ls[n - 1 - i] = *p->jobs[p->jobs[i].first].d;
        char *text = NULL;
        size_t len = 0;
        int r = manifest_replace_layers(body->data, body->len, ls, m->n_layers, &text, &len, e);
        free(ls);
        return replace_body(body, text, len, r, e);
}

/* Remember which blobs the destination repository holds now, also after a
 * failure (the next push mounts them from there). */
static void note_locations(struct store *s, const struct push *p, size_t n, const char *repo)
{
        char **done = xcalloc(n, sizeof *done);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (p->jobs[i].done)
                        done[k++] = p->jobs[i].d->digest;
        struct err ie = { 0 };
        if (k && store_note_location(s, done, k, repo, &ie) < 0)
                debugf("note where the blobs went: %s", ie.msg);   /* a hint only: the push stands */
        free(done);
}


struct push_opts {
        bool quiet;
        enum push_format format;
        const char *compress;    /* "gzip", "zstd" or NULL (as stored) */
        int jobs;
        uint64_t chunk;
};

static int push_image(const char *src, const char *dst_text, const struct push_opts *o, struct err *e)
{
        signal(SIGPIPE, SIG_IGN);
        struct store *s = NULL;
        struct store_image im = { 0 }, *all = NULL;
        size_t n_all = 0;
        struct image_ref dst = { 0 };
        struct manifest *m = NULL;
        struct buf body = BUF_INIT(FETCH_MANIFEST_MAX);
        struct fetch_setup fs = { 0 };
        bool fs_loaded = false;
        struct fetch_source *srcs = NULL;
        size_t n_srcs = 0;
        struct push p = { .chunk = o->chunk };
        bool rewritten = false;
        _cleanup_free_ char *matched = NULL, *repo_name = NULL;
        int r = fetch_setup_load(&fs, NULL, e);
        fs_loaded = r >= 0;
        if (r >= 0)
                r = open_store(&s, e);
        p.s = s;
        if (r >= 0)
                r = lookup_image(s, src, &im, &matched, e);
        if (r < 0)
                goto out;
        if (!dst_text && !matched) {
                r = err_setx(e, EINVAL, "an image ID names no repository: give a DESTINATION");
                goto out;
        }
        if (dst_text && !strncmp(dst_text, "docker://", 9))
                dst_text += 9;
        r = ref_parse(dst_text ? dst_text : matched, &dst, e);
        if (r < 0)
                goto out;
        repo_name = ref_repo_name(&dst);
        const char *reference = dst.tag ? dst.tag : dst.digest;

        /* exactly the bytes the store keeps */
        if (!im.manifest) {
                r = err_setx(e, ENOENT, "the store keeps no manifest for image %s", im.id);
                goto out;
        }
        r = store_read_blob(s, im.manifest, FETCH_MANIFEST_MAX, &body, e);
        /* --format: the same blobs, the manifest in the other format (with
         * --compress: once the new layers are known) */
        if (r >= 0 && o->format != FORMAT_KEEP && !o->compress)
                r = convert_body(&body, o->format, e);
        char digest[DIGEST_STR_LEN + 1] = "";
        if (r >= 0) {
                sha256_digest(body.data, body.len, digest);
                r = manifest_parse(body.data, body.len, NULL, &m, e);
        }
        if (r >= 0 && (m->kind != MANIFEST_IMAGE || strcmp(m->config.digest, im.id)))
                r = err_setx(e, EBADMSG, "stored manifest %s is not the manifest of image %s", im.manifest, im.id);
        if (r < 0) {
                err_wrap(e, "manifest %s", im.manifest);
                goto out;
        }
        if (dst.digest && strcmp(dst.digest, digest) && !o->compress) {
                r = err_setx(e, EINVAL, "the manifest to push is %s, not %s", digest, dst.digest);
                goto out;
        }
        /* --compress: the media type of layers written anew, in the format pushed */
        const char *final_type = o->format == FORMAT_OCI ? MT_OCI_MANIFEST
                               : o->format == FORMAT_DOCKER ? MT_DOCKER_MANIFEST : m->media_type;
        const char *new_type = o->compress ? manifest_layer_type(final_type, o->compress) : NULL;
        if (o->compress && !new_type) {
                r = err_setx(e, ENOTSUP, "--compress %s: Docker's manifest format has no %s layers (add --format oci)",
                             o->compress, o->compress);
                goto out;
        }
        /* jobs: the layers top first (docker's order), then the config */
        p.jobs = xcalloc(m->n_layers + 1, sizeof *p.jobs);
        size_t n = m->n_layers;
        r = store_list_images(s, &all, &n_all, e);
        for (size_t i = 0; r >= 0 && i <= n; i++) {
                struct push_job *j = &p.jobs[i];
                j->p = &p;
                j->fd = -1;
                j->d = i < n ? &m->layers[n - 1 - i] : &m->config;
                j->first = i;
                const char *diff_id = i < n && n - 1 - i < im.n_layers ? im.layers[n - 1 - i].diff_id : NULL;
                j->diff_id = diff_id;
                const char *comp = i < n ? manifest_layer_comp(j->d->media_type) : NULL;
                if (o->compress && comp && strcmp(comp, o->compress)) {
                        j->recompress = o->compress;
                        j->new_type = new_type;
                        rewritten = true;
                }
                if (i < n)
                        snprintf(j->id, sizeof j->id, "%.12s",
                                 diff_id && digest_valid(diff_id) ? digest_hex(diff_id) : digest_hex(j->d->digest));
                for (size_t k = 0; k < i && !j->dup; k++)
                        if (!strcmp(p.jobs[k].d->digest, j->d->digest)) {
                                j->dup = true;
                                j->first = k;
                        }
                if (j->dup)
                        continue;
                r = open_blob(s, j->d, i < n ? (diff_id ? diff_id : j->d->digest) : NULL, &j->fd, e);
                if (!j->recompress)
                        mount_sources(s, all, n_all, j->d->digest, &dst, j);
        }
        if (r < 0)
                goto out;

        r = fetch_sources_for(&dst, &fs.fc, &srcs, &n_srcs, e);
        p.pg = progress_new(stdout, isatty(STDOUT_FILENO), o->quiet);
        struct fetch_opts fo = { .notice = notice_cb, .notice_ctx = p.pg };
        fetch_opts_from_env(&fo);
        if (r >= 0)
                r = registry_open_push(&dst, &srcs[n_srcs - 1], &fo, &p.reg, e);
        if (r < 0) {
                err_wrap(e, "%s", repo_name);
                goto out;
        }
        progress_line(p.pg, false, "The push refers to repository [%s]", repo_name);
        int jobs = o->jobs > 0 ? o->jobs : DEFAULT_JOBS;
        for (size_t i = 0; i < n; i++)
                if (!p.jobs[i].dup)
                        progress_status(p.pg, p.jobs[i].id, (size_t)jobs > i ? "Preparing" : "Waiting");
        r = workers_run(n, jobs, push_worker, &p, NULL, "upload", e);
        if (r >= 0) {
                p.jobs = p.jobs + n;   /* the config, alone */
                r = workers_run(1, 1, push_worker, &p, NULL, "upload", e);
                p.jobs = p.jobs - n;
        }
        /* with --compress the manifest is made now: new layers, then --format */
        if (r >= 0 && rewritten)
                r = rewrite_layers(&p, n, &body, m, e);
        if (r >= 0 && o->compress && o->format != FORMAT_KEEP)
                r = convert_body(&body, o->format, e);
        if (r >= 0 && o->compress) {
                sha256_digest(body.data, body.len, digest);
                if (dst.digest && strcmp(dst.digest, digest))
                        r = err_setx(e, EINVAL, "the manifest to push is %s, not %s", digest, dst.digest);
        }
        if (r >= 0) {   /* PUSH 2 */
                _cleanup_(fetch_conn_freep) struct fetch_conn *conn = fetch_conn_new();
                r = registry_put_manifest(p.reg, conn, reference, final_type, body.data, body.len, e);
        }
        if (r < 0) {
                err_wrap(e, "%s", repo_name);
                goto out;
        }
        if (dst.tag)
                progress_line(p.pg, false, "%s: digest: %s size: %zu", dst.tag, digest, body.len);
        else
                progress_line(p.pg, false, "digest: %s size: %zu", digest, body.len);
        if (o->quiet) {
                _cleanup_free_ char *name = ref_name(&dst);
                progress_line(p.pg, true, "%s", name);
        }
out:
        if (p.jobs)
                note_locations(s, &p, m->n_layers + 1, repo_name);
        for (size_t i = 0; p.jobs && i <= (m ? m->n_layers : 0); i++) {
                if (p.jobs[i].fd >= 0)
                        close(p.jobs[i].fd);
                for (size_t k = 0; k < p.jobs[i].n_from; k++)
                        free(p.jobs[i].from[k]);
                free(p.jobs[i].nd.digest);
                free(p.jobs[i].nd.media_type);
                free(p.jobs[i].from);
        }
        free(p.jobs);
        progress_free(p.pg);
        registry_close(p.reg);
        fetch_sources_free(srcs, n_srcs);
        for (size_t i = 0; i < n_all; i++)
                store_image_free(&all[i]);
        free(all);
        manifest_free(m);
        buf_free(&body);
        ref_free(&dst);
        store_image_free(&im);
        store_close(s);
        if (fs_loaded)
                fetch_setup_free(&fs);
        return r;
}

int cmd_push(int argc, char **argv)
{
        struct push_opts o = { 0 };
        static const struct option opts[] = {
                { "quiet", no_argument, NULL, 'q' },
                { "jobs", required_argument, NULL, 'j' },
                { "format", required_argument, NULL, 'f' },
                { "compress", required_argument, NULL, 'c' },
                { 0 }
        };
        int c;
        while ((c = getopt_long(argc, argv, "qj:", opts, NULL)) != -1) {
                switch (c) {
                case 'q': o.quiet = true; break;
                case 'c':
                        if (strcmp(optarg, "gzip") && strcmp(optarg, "zstd"))
                                return usage_error("push", "--compress takes gzip or zstd, not \"%s\"", optarg);
                        o.compress = optarg;
                        break;
                case 'f':
                        if (!strcmp(optarg, "oci"))
                                o.format = FORMAT_OCI;
                        else if (!strcmp(optarg, "docker") || !strcmp(optarg, "v2s2"))
                                o.format = FORMAT_DOCKER;
                        else
                                return usage_error("push", "--format takes oci or docker (v2s2), not \"%s\"", optarg);
                        break;
                case 'j':
                        if (!workers_parse(optarg, &o.jobs))
                                return usage_error("push", "-j takes a number from 1 to %d", WORKERS_MAX);
                        break;
                default: return bad_option("push", argv);
                }
        }
        if (optind + 1 != argc && optind + 2 != argc)
                return usage_error("push", "requires 1 or 2 arguments: IMAGE [DESTINATION]");
        const char *cs = getenv("STRATA_PUSH_CHUNK_SIZE");
        if (cs && *cs) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(cs, &end, 10);
                if (*end || errno || v == 0 || cs[0] == '-') {
                        fprintf(stderr, "strata: push: STRATA_PUSH_CHUNK_SIZE=\"%s\" is not a number of bytes\n", cs);
                        return 2;
                }
                o.chunk = v;
        }
        const char *src = argv[optind], *dst = optind + 1 < argc ? argv[optind + 1] : NULL;
        struct err e = { 0 };
        if (push_image(src, dst, &o, &e) < 0) {
                err_wrap(&e, "push %s", src);
                return report_err(&e);
        }
        return 0;
}
