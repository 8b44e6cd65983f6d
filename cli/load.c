/* strata load, the orchestration (see load.h for the invariants):
 *   archive -> members hashed into tmp/load-.../ -> docker manifest.json or
 *   OCI index.json -> configs, manifests and blobs checked -> layers
 *   unpacked in parallel into tmp dirs, each checked against its diff_id ->
 *   blobs, layers, configs, manifests committed -> records and names. */
#include "load.h"
#include "cli.h"
#include "fetch/fetch.h"
#include "newimage.h"
#include "unpack/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CHUNK (1u << 20)
#define SMALL_MAX (16u << 20)
#define MEMBERS_MAX 100000
#define DEFAULT_JOBS 3

struct member {
        char *path;                /* normalized: "blobs/sha256/ab...", "x/layer.tar" */
        char *file;                /* its bytes under tmp/, or NULL for a link */
        char *link;                /* a symlink's or hard link's target (normalized), or NULL */
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
};

struct layer_job {
        struct member *m;
        const char *diff_id;       /* from the config */
        const char *media_type;
        char *tmpdir;
        char *meta;
        uint64_t file_bytes;
        bool skip;                 /* in the store already, or an earlier job's */
        int r;
        struct err e;
};

struct image {
        struct buf config;
        char config_digest[DIGEST_STR_LEN + 1];
        struct image_config cfg;
        char *manifest;            /* the text to store */
        enum pack_format fmt;
        size_t n;
        struct member **layers;    /* bottom first */
        char **media_types;
        char **names;              /* store names */
        size_t n_names;
};

struct load {
        struct store *s;
        struct err *e;
        char *dir;                 /* tmp/load-<pid>-<n> */
        int dirfd;
        size_t n_members;
        struct member *members;
        json_t *by_path;           /* path -> index + 1 */
        uint8_t *buf;
        size_t n_images;
        struct image *images;
        size_t n_jobs;
        struct layer_job *jobs;
        pthread_mutex_t lock;
        size_t next;
        bool failed;
};

/* ------------------------------------------------------------- members */

char *load_norm_path(const char *base_dir, const char *p)
{
        if (!base_dir && p[0] == '/')
                return NULL;
        _cleanup_free_ char *joined = base_dir && *base_dir && p[0] != '/' ? xasprintf("%s/%s", base_dir, p)
                                                                         : xstrdup(p);
        if (base_dir && p[0] == '/')
                return NULL;   /* an absolute link target leaves the archive */
        struct buf out = BUF_INIT(1u << 16);
        char *save = NULL;
        for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, ".") || !*c)
                        continue;
                if (!strcmp(c, "..")) {
                        if (!base_dir) {
                                buf_free(&out);
                                return NULL;
                        }
                        /* a link may go up inside the archive */
                        char *sl = out.data ? strrchr(out.data, '/') : NULL;
                        if (!out.len) {
                                buf_free(&out);
                                return NULL;
                        }
                        out.len = sl ? (size_t)(sl - out.data) : 0;
                        out.data[out.len] = '\0';
                        continue;
                }
                buf_printf(&out, "%s%s", out.len ? "/" : "", c);
        }
        return buf_steal(&out);
}

static struct member *member(struct load *l, const char *path)
{
        for (int hops = 0; hops < 8; hops++) {
                json_int_t i = json_integer_value(json_object_get(l->by_path, path));
                if (!i)
                        return NULL;
                struct member *m = &l->members[i - 1];
                if (!m->link)
                        return m;
                path = m->link;
        }
        return NULL;
}

static int add_member(struct load *l, struct archive *a, struct archive_entry *ae)
{
        const char *raw = archive_entry_pathname(ae);
        _cleanup_free_ char *path = load_norm_path(NULL, raw ? raw : "");
        if (!path)
                return err_setx(l->e, EPERM, "the archive's path \"%s\" leaves it", raw ? raw : "");
        mode_t type = archive_entry_filetype(ae);
        const char *hl = archive_entry_hardlink(ae);
        if (type == AE_IFDIR || !*path)
                return 0;
        if (l->n_members >= MEMBERS_MAX)
                return err_setx(l->e, EFBIG, "more than %d members", MEMBERS_MAX);
        struct member m = { 0 };
        if (hl || type == AE_IFLNK) {
                _cleanup_free_ char *dir = xstrdup(path);
                char *sl = strrchr(dir, '/');
                if (sl)
                        *sl = '\0';
                else
                        dir[0] = '\0';
                m.link = hl ? load_norm_path(NULL, hl) : load_norm_path(dir, archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "");
                if (!m.link)
                        return err_setx(l->e, EPERM, "the archive's link \"%s\" points out of it", path);
        } else if (type == AE_IFREG) {
                m.file = xasprintf("%s/m%zu", l->dir, l->n_members);
                _cleanup_close_ int fd = openat(l->dirfd, m.file + strlen(l->dir) + 1,
                                                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0) {
                        free(m.file);
                        return err_set(l->e, errno, "create %s", m.file);
                }
                struct sha256 h;
                sha256_init(&h);
                uint8_t *buf = l->buf;
                int r = 0;
                for (;;) {
                        la_ssize_t n = archive_read_data(a, buf, CHUNK);
                        if (n == 0)
                                break;
                        if (n < 0) {
                                r = err_setx(l->e, EBADMSG, "read %s: %s", path, archive_error_string(a));
                                break;
                        }
                        sha256_update(&h, buf, (size_t)n);
                        m.size += (uint64_t)n;
                        ssize_t w = write_all(fd, buf, (size_t)n);
                        if (w < 0) {
                                r = err_set(l->e, (int)-w, "write %s", m.file);
                                break;
                        }
                }
                sha256_final(&h, m.digest);
                h.md_ctx = NULL;
                sha256_free(&h);
                if (r < 0) {
                        free(m.file);
                        return r;
                }
        } else {
                return 0;   /* devices, fifos: nothing an image archive needs */
        }
        m.path = TAKE_PTR(path);
        l->members = xrealloc(l->members, (l->n_members + 1) * sizeof *l->members);
        l->members[l->n_members++] = m;
        json_object_set_new(l->by_path, m.path, json_integer((json_int_t)l->n_members));
        return 0;
}

static int read_members(struct load *l, int fd)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        int r = 0;
        if (archive_read_open_fd(a, fd, CHUNK) != ARCHIVE_OK) {
                r = err_setx(l->e, EBADMSG, "not a tar archive: %s", archive_error_string(a));
                goto out;
        }
        struct archive_entry *ae;
        for (;;) {
                int ar = archive_read_next_header(a, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = err_setx(l->e, EBADMSG, "the archive is corrupt or truncated: %s",
                                     archive_error_string(a) ? archive_error_string(a) : "unreadable");
                        goto out;
                }
                r = add_member(l, a, ae);
                if (r < 0)
                        goto out;
        }
        if (!l->n_members)
                r = err_setx(l->e, EBADMSG, "the archive is empty (or not a tar)");
        /* (1): blobs/sha256/<hex> must hash to <hex> */
        for (size_t i = 0; r >= 0 && i < l->n_members; i++) {
                struct member *m = &l->members[i];
                const char *base = strrchr(m->path, '/');
                if (!m->file || strncmp(m->path, "blobs/sha256/", 13) != 0)
                        continue;
                if (strcmp(digest_hex(m->digest), base + 1))
                        r = err_setx(l->e, EBADMSG, "%s: content hashes to %s", m->path, m->digest);
        }
out:
        archive_read_free(a);
        return r;
}

static int read_member(struct load *l, struct member *m, struct buf *b)
{
        buf_reset(b);
        int r = read_file_bounded(m->file, SMALL_MAX, b, l->e);
        return r < 0 ? err_wrap(l->e, "%s", m->path) : 0;
}

/* ------------------------------------------------------------- images */

static enum pack_compression sniff(struct member *m)
{
        unsigned char mg[4] = { 0 };
        int fd = open(m->file, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (read(fd, mg, 4) < 0)
                        memset(mg, 0, sizeof mg);
                close(fd);
        }
        if (mg[0] == 0x1f && mg[1] == 0x8b)
                return PACK_GZIP;
        if (mg[0] == 0x28 && mg[1] == 0xb5 && mg[2] == 0x2f && mg[3] == 0xfd)
                return PACK_ZSTD;
        return PACK_NONE;
}

static void add_name(struct image *im, const char *text)
{
        struct image_ref ref = { 0 };
        struct err pe = { 0 };
        if (ref_parse(text, &ref, &pe) < 0 || ref.digest) {
                ref_free(&ref);
                return;
        }
        im->names = xrealloc(im->names, (im->n_names + 1) * sizeof *im->names);
        im->names[im->n_names++] = ref_name(&ref);
        ref_free(&ref);
}

static int config_of(struct load *l, struct image *im, struct member *m, const char *want_digest)
{
        int r = read_member(l, m, &im->config);
        if (r < 0)
                return r;
        memcpy(im->config_digest, m->digest, sizeof im->config_digest);
        if (want_digest && strcmp(want_digest, m->digest))
                return err_setx(l->e, EBADMSG, "config %s hashes to %s", want_digest, m->digest);
        r = config_parse(im->config.data, im->config.len, &im->cfg, l->e);
        if (r < 0)
                return err_wrap(l->e, "config %s", m->digest);
        if (im->cfg.n_diff_ids != im->n)
                return err_setx(l->e, EBADMSG, "config %s has %zu diff_ids for %zu layers", m->digest,
                                im->cfg.n_diff_ids, im->n);
        return 0;
}

static int docker_images(struct load *l, struct member *mj)
{
        struct buf b = BUF_INIT(SMALL_MAX);
        int r = read_member(l, mj, &b);
        json_t *arr = r >= 0 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
        buf_free(&b);
        if (r < 0)
                return r;
        if (!json_is_array(arr) || !json_array_size(arr)) {
                json_decref(arr);
                return err_setx(l->e, EBADMSG, "manifest.json: not a list of images");
        }
        l->n_images = json_array_size(arr);
        l->images = xcalloc(l->n_images, sizeof *l->images);
        for (size_t i = 0; r >= 0 && i < l->n_images; i++) {
                struct image *im = &l->images[i];
                im->config = (struct buf)BUF_INIT(SMALL_MAX);
                json_t *o = json_array_get(arr, i), *layers = json_object_get(o, "Layers");
                const char *cpath = json_string_value(json_object_get(o, "Config"));
                _cleanup_free_ char *cnorm = cpath ? load_norm_path(NULL, cpath) : NULL;
                struct member *cm = cnorm ? member(l, cnorm) : NULL;
                if (!cm || !json_is_array(layers)) {
                        r = err_setx(l->e, EBADMSG, "manifest.json: image %zu: missing config or layers", i);
                        break;
                }
                im->fmt = PACK_FORMAT_DOCKER;
                im->n = json_array_size(layers);
                im->layers = xcalloc(im->n ? im->n : 1, sizeof *im->layers);
                im->media_types = xcalloc(im->n ? im->n : 1, sizeof *im->media_types);
                for (size_t k = 0; r >= 0 && k < im->n; k++) {
                        const char *lp = json_string_value(json_array_get(layers, k));
                        _cleanup_free_ char *ln = lp ? load_norm_path(NULL, lp) : NULL;
                        im->layers[k] = ln ? member(l, ln) : NULL;
                        if (!im->layers[k])
                                r = err_setx(l->e, EBADMSG, "manifest.json: layer %s is not in the archive",
                                             lp ? lp : "?");
                }
                if (r < 0)
                        break;
                /* a config named <hex>.json (docker, podman) must hash to <hex> */
                const char *base = strrchr(cm->path, '/') ? strrchr(cm->path, '/') + 1 : cm->path;
                _cleanup_free_ char *named = NULL;
                if (strlen(base) == SHA256_HEX_LEN + 5 && !strcmp(base + SHA256_HEX_LEN, ".json"))
                        named = xasprintf("sha256:%.64s", base);
                r = config_of(l, im, cm, named);
                /* docker's format unless a layer is zstd, which only OCI's can say */
                for (size_t k = 0; r >= 0 && k < im->n; k++)
                        if (sniff(im->layers[k]) == PACK_ZSTD)
                                im->fmt = PACK_FORMAT_OCI;
                for (size_t k = 0; r >= 0 && k < im->n; k++)
                        im->media_types[k] = xstrdup(pack_layer_media_type(im->fmt, sniff(im->layers[k])));
                size_t k;
                json_t *t;
                json_array_foreach(json_object_get(o, "RepoTags"), k, t)
                        if (json_is_string(t))
                                add_name(im, json_string_value(t));
        }
        json_decref(arr);
        return r;
}

/* One image of an OCI layout, from its manifest descriptor @d. */
static int oci_image(struct load *l, struct image *im, const char *digest, int depth)
{
        _cleanup_free_ char *mp = digest_valid(digest) ? xasprintf("blobs/sha256/%s", digest_hex(digest)) : NULL;
        struct member *mm = mp ? member(l, mp) : NULL;
        if (!mm)
                return err_setx(l->e, EBADMSG, "manifest %s is not in the archive", digest);
        struct buf b = BUF_INIT(SMALL_MAX);
        int r = read_member(l, mm, &b);
        struct manifest *m = NULL;
        if (r >= 0)
                r = manifest_parse(b.data, b.len, NULL, &m, l->e);
        if (r >= 0 && m->kind == MANIFEST_INDEX) {
                /* several platforms: the host's */
                struct platform host;
                platform_host(&host);
                const struct descriptor *d;
                r = depth > 2 ? err_setx(l->e, EBADMSG, "indexes nested too deep") : manifest_select(m, &host, &d, l->e);
                if (r >= 0)
                        r = oci_image(l, im, d->digest, depth + 1);
                platform_free(&host);
                manifest_free(m);
                buf_free(&b);
                return r;
        }
        if (r >= 0) {
                im->manifest = xstrndup(b.data, b.len);
                im->fmt = m->media_type && !strcmp(m->media_type, MT_DOCKER_MANIFEST) ? PACK_FORMAT_DOCKER
                                                                                      : PACK_FORMAT_OCI;
                im->n = m->n_layers;
                im->layers = xcalloc(im->n ? im->n : 1, sizeof *im->layers);
                im->media_types = xcalloc(im->n ? im->n : 1, sizeof *im->media_types);
                for (size_t k = 0; r >= 0 && k < im->n; k++) {
                        const struct descriptor *ld = &m->layers[k];
                        _cleanup_free_ char *lp = xasprintf("blobs/sha256/%s", digest_hex(ld->digest));
                        im->layers[k] = member(l, lp);
                        im->media_types[k] = xstrdup(ld->media_type ? ld->media_type : MT_OCI_LAYER);
                        if (!im->layers[k])
                                r = err_setx(l->e, EBADMSG, "layer %s is not in the archive", ld->digest);
                        else if (im->layers[k]->size != ld->size)
                                r = err_setx(l->e, EBADMSG, "layer %s: %llu bytes, the manifest says %llu",
                                             ld->digest, (unsigned long long)im->layers[k]->size,
                                             (unsigned long long)ld->size);
                }
                _cleanup_free_ char *cp = xasprintf("blobs/sha256/%s", digest_hex(m->config.digest));
                struct member *cm = r >= 0 ? member(l, cp) : NULL;
                if (r >= 0 && !cm)
                        r = err_setx(l->e, EBADMSG, "config %s is not in the archive", m->config.digest);
                if (r >= 0)
                        r = config_of(l, im, cm, m->config.digest);
        }
        manifest_free(m);
        buf_free(&b);
        return r;
}

static int oci_images(struct load *l, struct member *ij)
{
        struct buf b = BUF_INIT(SMALL_MAX);
        int r = read_member(l, ij, &b);
        json_t *idx = r >= 0 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
        buf_free(&b);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(idx, "manifests");
        if (!json_is_array(ms) || !json_array_size(ms)) {
                json_decref(idx);
                return err_setx(l->e, EBADMSG, "index.json: no manifests");
        }
        l->n_images = json_array_size(ms);
        l->images = xcalloc(l->n_images, sizeof *l->images);
        for (size_t i = 0; r >= 0 && i < l->n_images; i++) {
                struct image *im = &l->images[i];
                im->config = (struct buf)BUF_INIT(SMALL_MAX);
                json_t *d = json_array_get(ms, i), *ann = json_object_get(d, "annotations");
                const char *digest = json_string_value(json_object_get(d, "digest"));
                r = oci_image(l, im, digest ? digest : "", 0);
                if (r < 0) {
                        err_wrap(l->e, "index.json entry %zu", i);
                        break;
                }
                /* containerd's full name, else a ref.name that is a whole reference */
                const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
                const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
                if (full)
                        add_name(im, full);
                else if (ref && (strchr(ref, '/') || strchr(ref, ':')))
                        add_name(im, ref);
        }
        json_decref(idx);
        return r;
}

/* ------------------------------------------------------------- layers */

static void *worker(void *arg)
{
        struct load *l = arg;
        for (;;) {
                pthread_mutex_lock(&l->lock);
                if (l->failed || l->next >= l->n_jobs) {
                        pthread_mutex_unlock(&l->lock);
                        return NULL;
                }
                struct layer_job *j = &l->jobs[l->next++];
                pthread_mutex_unlock(&l->lock);
                if (j->skip)
                        continue;
                int dfd = -1;
                j->r = store_layer_tmpdir(l->s, j->diff_id, &j->tmpdir, &dfd, &j->e);
                _cleanup_close_ int in = j->r < 0 ? -1 : open(j->m->file, O_RDONLY | O_CLOEXEC);
                if (j->r >= 0 && in < 0)
                        j->r = err_set(&j->e, errno, "open %s", j->m->file);
                char got[DIGEST_STR_LEN + 1];
                struct unpack_stats st;
                if (j->r >= 0) {
                        struct unpack_opts uo = { .media_type = j->media_type, .name = j->m->path };
                        rootless_unpack_opts(l->s, &uo);
                        j->r = unpack_layer_fd(in, dfd, &uo, got, &st, &j->e);
                }
                if (j->r >= 0 && strcmp(got, j->diff_id))
                        j->r = err_setx(&j->e, EBADMSG, "layer %s: uncompressed content hashes to %s, the config says %s",
                                        j->m->path, got, j->diff_id);
                if (dfd >= 0)
                        close(dfd);
                if (j->r >= 0) {
                        j->meta = unpack_stats_json(&st, j->diff_id);
                        j->file_bytes = st.file_bytes;
                } else {
                        pthread_mutex_lock(&l->lock);
                        l->failed = true;
                        pthread_mutex_unlock(&l->lock);
                }
        }
}

static int unpack_all(struct load *l, int jobs)
{
        for (size_t i = 0; i < l->n_images; i++)
                l->n_jobs += l->images[i].n;
        l->jobs = xcalloc(l->n_jobs ? l->n_jobs : 1, sizeof *l->jobs);
        size_t k = 0;
        for (size_t i = 0; i < l->n_images; i++) {
                struct image *im = &l->images[i];
                for (size_t n = 0; n < im->n; n++, k++) {
                        struct layer_job *j = &l->jobs[k];
                        j->m = im->layers[n];
                        j->diff_id = im->cfg.diff_ids[n];
                        j->media_type = im->media_types[n];
                        j->skip = store_has_layer(l->s, j->diff_id);
                        for (size_t p = 0; p < k && !j->skip; p++)
                                if (!strcmp(l->jobs[p].diff_id, j->diff_id) && l->jobs[p].m == j->m)
                                        j->skip = true;
                }
        }
        pthread_mutex_init(&l->lock, NULL);
        pthread_t th[16];
        int n = jobs > 0 ? jobs : DEFAULT_JOBS, started = 0;
        if (n > 16)
                n = 16;
        for (; started < n && (size_t)started < l->n_jobs; started++)
                if (pthread_create(&th[started], NULL, worker, l) != 0)
                        break;
        for (int i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        pthread_mutex_destroy(&l->lock);
        if (!started && l->n_jobs)
                return err_setx(l->e, EAGAIN, "start unpack threads");
        for (size_t i = 0; i < l->n_jobs; i++)
                if (l->jobs[i].r < 0) {
                        *l->e = l->jobs[i].e;
                        return l->jobs[i].r;
                }
        return 0;
}

/* ------------------------------------------------------------- commit */

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int commit_all(struct load *l, bool quiet)
{
        /* the blob locks of every layer, in digest order (as a pull takes them) */
        const char **d = xcalloc(l->n_jobs ? l->n_jobs : 1, sizeof *d);
        int *locks = xcalloc(l->n_jobs ? l->n_jobs : 1, sizeof *locks);
        size_t nl = 0;
        for (size_t i = 0; i < l->n_jobs; i++)
                d[i] = l->jobs[i].m->digest;
        qsort(d, l->n_jobs, sizeof *d, cmp_str);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < l->n_jobs; i++)
                if ((!i || strcmp(d[i], d[i - 1])) && (r = store_blob_lock(l->s, d[i], &locks[nl], l->e)) >= 0)
                        nl++;
        for (size_t i = 0; r >= 0 && i < l->n_jobs; i++) {
                struct layer_job *j = &l->jobs[i];
                if (!store_has_blob(l->s, j->m->digest) && access(j->m->file, F_OK) == 0) {
                        int fd = open(j->m->file, O_RDONLY | O_CLOEXEC);
                        r = fd < 0 ? err_set(l->e, errno, "open %s", j->m->file)
                                   : store_commit_blob_file(l->s, j->m->digest, j->m->file, fd, l->e);
                }
                if (r >= 0 && j->tmpdir) {
                        r = store_commit_layer(l->s, j->diff_id, j->tmpdir, j->meta, l->e);
                        if (r >= 0) {
                                free(j->tmpdir);
                                j->tmpdir = NULL;
                        }
                }
        }
        for (size_t i = 0; r >= 0 && i < l->n_images; i++) {
                struct image *im = &l->images[i];
                r = store_put_blob(l->s, im->config_digest, im->config.data, im->config.len, l->e);
                if (r < 0)
                        break;
                struct store_image rec = { .id = im->config_digest, .n_layers = im->n };
                struct store_layer *sl = xcalloc(im->n ? im->n : 1, sizeof *sl);
                struct pack_desc *pd = xcalloc(im->n ? im->n : 1, sizeof *pd);
                for (size_t k = 0; k < im->n; k++) {
                        sl[k] = (struct store_layer){ im->layers[k]->digest, im->cfg.diff_ids[k], im->media_types[k],
                                                      im->layers[k]->size };
                        pd[k] = (struct pack_desc){ im->media_types[k], im->layers[k]->digest, im->layers[k]->size };
                        rec.size += store_layer_file_bytes(l->s, im->cfg.diff_ids[k]);
                }
                if (!im->manifest) {
                        /* docker's archive has none: one in docker's format (OCI's for zstd) */
                        struct pack_desc cd = { NULL, im->config_digest, im->config.len };
                        r = pack_manifest(im->fmt, &cd, pd, im->n, &im->manifest, l->e);
                }
                char md[DIGEST_STR_LEN + 1];
                if (r >= 0) {
                        sha256_digest(im->manifest, strlen(im->manifest), md);
                        r = store_put_blob(l->s, md, im->manifest, strlen(im->manifest), l->e);
                }
                _cleanup_free_ char *plat = NULL;
                if (r >= 0) {
                        struct platform p = { im->cfg.os ? im->cfg.os : (char *)"linux",
                                              im->cfg.arch ? im->cfg.arch : (char *)"amd64", im->cfg.variant };
                        plat = platform_str(&p);
                        rec.manifest = md;
                        rec.platform = plat;
                        rec.layers = sl;
                        rec.created = (time_t)im->cfg.created;
                        rec.pulled = time(NULL);
                        r = store_add_image(l->s, &rec, im->n_names ? im->names[0] : NULL, l->e);
                }
                for (size_t k = 1; r >= 0 && k < im->n_names; k++)
                        r = store_add_image(l->s, &rec, im->names[k], l->e);
                free(sl);
                free(pd);
                if (r < 0)
                        break;
                for (size_t k = 0; k < im->n_names; k++) {
                        struct image_ref ref = { 0 };
                        struct err pe = { 0 };
                        if (ref_parse(im->names[k], &ref, &pe) == 0) {
                                _cleanup_free_ char *f = ref_familiar(&ref);
                                printf("Loaded image: %s\n", f);
                        }
                        ref_free(&ref);
                }
                if (!im->n_names)
                        printf("Loaded image ID: %s\n", im->config_digest);
        }
        (void)quiet;
        for (size_t i = 0; i < nl; i++)
                store_blob_unlock(locks[i]);
        free(locks);
        free(d);
        return r < 0 ? err_wrap(l->e, "store") : 0;
}

int load_archive(struct store *s, int fd, const struct load_opts *o, struct err *e)
{
        struct load l = { .s = s, .e = e, .dirfd = -1, .by_path = json_object(), .buf = xmalloc(CHUNK) };
        int r = store_tmp_create(s, "load", true, &l.dir, &l.dirfd, e);
        if (r >= 0)
                r = read_members(&l, fd);
        if (r >= 0) {
                struct member *mj = member(&l, "manifest.json"), *ij = member(&l, "index.json");
                if (mj)
                        r = docker_images(&l, mj);
                else if (ij)
                        r = oci_images(&l, ij);
                else
                        r = err_setx(e, EBADMSG, "neither docker's manifest.json nor an OCI index.json in the archive");
        }
        if (r >= 0)
                r = unpack_all(&l, o->jobs);
        if (r >= 0)
                r = commit_all(&l, o->quiet);
        for (size_t i = 0; i < l.n_jobs; i++) {
                if (l.jobs[i].tmpdir)
                        store_discard_tmpdir(s, l.jobs[i].tmpdir);
                free(l.jobs[i].tmpdir);
                free(l.jobs[i].meta);
        }
        free(l.jobs);
        for (size_t i = 0; i < l.n_images; i++) {
                struct image *im = &l.images[i];
                buf_free(&im->config);
                config_free(&im->cfg);
                free(im->manifest);
                free(im->layers);
                for (size_t k = 0; im->media_types && k < im->n; k++)
                        free(im->media_types[k]);
                free(im->media_types);
                for (size_t k = 0; k < im->n_names; k++)
                        free(im->names[k]);
                free(im->names);
        }
        free(l.images);
        for (size_t i = 0; i < l.n_members; i++) {
                free(l.members[i].path);
                free(l.members[i].file);
                free(l.members[i].link);
        }
        free(l.members);
        json_decref(l.by_path);
        free(l.buf);
        if (l.dirfd >= 0)
                close(l.dirfd);
        if (l.dir)
                store_discard_tmpdir(s, l.dir);
        free(l.dir);
        return r;
}
