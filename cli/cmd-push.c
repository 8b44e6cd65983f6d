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
#define MAX_JOBS 16

struct push;

struct push_job {
        struct push *p;
        const struct descriptor *d;
        char id[13];             /* the progress row (docker shows the diff ID); "" for the config */
        int fd;
        char **from;             /* repositories of the destination registry that have the blob */
        size_t n_from;
        bool dup;                /* the same blob as an earlier job */
        bool done;               /* the registry has it now */
        int r;
        struct err e;
        struct blob_push bp;
};

struct push {
        struct registry *reg;
        struct progress *pg;
        uint64_t chunk;
        pthread_mutex_t lock;    /* guards next and failed */
        size_t next, n;
        bool failed;
        struct push_job *jobs;
};

static void on_progress(void *ctx, uint64_t done, uint64_t size)
{
        struct push_job *j = ctx;
        if (j->id[0])
                progress_bytes(j->p->pg, j->id, "Pushing", done, size);
}

static int push_one(struct push_job *j, struct fetch_conn *c)
{
        if (j->dup)
                return 0;
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

static void *worker(void *arg)
{
        struct push *p = arg;
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        for (;;) {
                pthread_mutex_lock(&p->lock);
                if (p->failed || p->next >= p->n) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                struct push_job *j = &p->jobs[p->next++];
                pthread_mutex_unlock(&p->lock);
                j->r = push_one(j, c);
                if (j->r < 0) {
                        pthread_mutex_lock(&p->lock);
                        p->failed = true;
                        pthread_mutex_unlock(&p->lock);
                }
        }
}

/* Run jobs [0, n) with @jobs threads; the first failure in job order wins. */
static int run_jobs(struct push *p, size_t n, int jobs, struct err *e)
{
        p->next = 0;
        p->n = n;
        if ((size_t)jobs > n)
                jobs = (int)n;
        if (jobs > MAX_JOBS)
                jobs = MAX_JOBS;
        pthread_t th[MAX_JOBS];
        int started = 0;
        for (; started < jobs; started++)
                if (pthread_create(&th[started], NULL, worker, p) != 0)
                        break;
        if (!started && n)
                return err_set(e, EAGAIN, "start upload threads");
        for (int i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < n; i++)
                if (p->jobs[i].r < 0) {
                        *e = p->jobs[i].e;
                        return p->jobs[i].r;
                }
        return 0;
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

enum push_format { FORMAT_KEEP, FORMAT_OCI, FORMAT_DOCKER };

struct push_opts {
        bool quiet;
        enum push_format format;
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
        pthread_mutex_init(&p.lock, NULL);
        _cleanup_free_ char *matched = NULL, *repo_name = NULL;
        int r = fetch_setup_load(&fs, NULL, e);
        fs_loaded = r >= 0;
        if (r >= 0)
                r = open_store(&s, e);
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
        if (r >= 0 && o->format != FORMAT_KEEP) {
                /* --format: the same blobs, the manifest in the other format */
                char *conv = NULL;
                size_t n_conv = 0;
                r = manifest_convert(body.data, body.len, o->format == FORMAT_OCI, &conv, &n_conv, e);
                if (r >= 0) {
                        buf_reset(&body);
                        r = buf_append(&body, conv, n_conv) < 0 ? err_setx(e, EFBIG, "converted manifest too large") : 0;
                }
                free(conv);
        }
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
        if (dst.digest && strcmp(dst.digest, digest)) {
                r = err_setx(e, EINVAL, "the manifest to push is %s, not %s", digest, dst.digest);
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
                const char *diff_id = i < n && n - 1 - i < im.n_layers ? im.layers[n - 1 - i].diff_id : NULL;
                if (i < n)
                        snprintf(j->id, sizeof j->id, "%.12s",
                                 diff_id && digest_valid(diff_id) ? digest_hex(diff_id) : digest_hex(j->d->digest));
                for (size_t k = 0; k < i; k++)
                        j->dup |= !strcmp(p.jobs[k].d->digest, j->d->digest);
                if (j->dup)
                        continue;
                r = open_blob(s, j->d, i < n ? (diff_id ? diff_id : j->d->digest) : NULL, &j->fd, e);
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
        r = run_jobs(&p, n, jobs, e);
        if (r >= 0) {
                p.jobs = p.jobs + n;   /* the config, alone */
                r = run_jobs(&p, 1, 1, e);
                p.jobs = p.jobs - n;
        }
        if (r >= 0) {   /* PUSH 2 */
                _cleanup_(fetch_conn_freep) struct fetch_conn *conn = fetch_conn_new();
                r = registry_put_manifest(p.reg, conn, reference, m->media_type, body.data, body.len, e);
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
                free(p.jobs[i].from);
        }
        free(p.jobs);
        pthread_mutex_destroy(&p.lock);
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
                { 0 }
        };
        int c;
        while ((c = getopt_long(argc, argv, "qj:", opts, NULL)) != -1) {
                switch (c) {
                case 'q': o.quiet = true; break;
                case 'f':
                        if (!strcmp(optarg, "oci"))
                                o.format = FORMAT_OCI;
                        else if (!strcmp(optarg, "docker") || !strcmp(optarg, "v2s2"))
                                o.format = FORMAT_DOCKER;
                        else
                                return usage_error("push", "--format takes oci or docker (v2s2), not \"%s\"", optarg);
                        break;
                case 'j': {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < 1 || v > MAX_JOBS)
                                return usage_error("push", "-j takes a number from 1 to %d", MAX_JOBS);
                        o.jobs = (int)v;
                        break;
                }
                default: return bad_option("push", argv);
                }
        }
        if (optind + 1 != argc && optind + 2 != argc)
                return usage_error("push", "requires 1 or 2 arguments: IMAGE [DESTINATION]");
        const char *cs = getenv("STRATA_PUSH_CHUNK_SIZE");
        if (cs && *cs)
                o.chunk = strtoull(cs, NULL, 10);
        const char *src = argv[optind], *dst = optind + 1 < argc ? argv[optind + 1] : NULL;
        struct err e = { 0 };
        if (push_image(src, dst, &o, &e) < 0) {
                err_wrap(&e, "push %s", src);
                return report_err(&e);
        }
        return 0;
}
