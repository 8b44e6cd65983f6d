/* strata save, the orchestration: images from the store -> docker's archive
 * (manifest.json, repositories, <config>.json, <diff_id>.tar uncompressed
 * layers, each layer once however many images share it) or an OCI layout
 * (oci-layout, index.json, blobs/sha256/...), as a directory or a tar.
 * The output is written to a temporary name next to -o FILE and renamed at
 * the end: a failed save leaves no half archive. */
#include "save.h"
#include "cli.h"
#include "newimage.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK (1u << 20)
#define SMALL_MAX (16u << 20)

/* ------------------------------------------------------------ the output */

struct out {
        struct archive *a;         /* a tar, or NULL for a directory */
        int dirfd;                 /* the directory (oci-dir) */
        struct err *e;
        uint8_t *buf;
        json_t *written;           /* names already there (layers shared by images) */
};

static int arch_err(struct out *o, const char *what, const char *name)
{
        return err_setx(o->e, archive_errno(o->a) > 0 ? archive_errno(o->a) : EIO, "%s %s: %s", what, name,
                        archive_error_string(o->a) ? archive_error_string(o->a) : "write failed");
}

static int out_header(struct out *o, const char *name, uint64_t size)
{
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, name);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)size);
        archive_entry_set_mtime(ae, 0, 0);
        int r = archive_write_header(o->a, ae) < ARCHIVE_WARN ? arch_err(o, "write", name) : 0;
        archive_entry_free(ae);
        return r;
}

static int out_dir(struct out *o, const char *name)
{
        if (o->a) {
                struct archive_entry *ae = archive_entry_new();
                archive_entry_set_pathname(ae, name);
                archive_entry_set_filetype(ae, AE_IFDIR);
                archive_entry_set_perm(ae, 0755);
                archive_entry_set_mtime(ae, 0, 0);
                int r = archive_write_header(o->a, ae) < ARCHIVE_WARN ? arch_err(o, "write", name) : 0;
                archive_entry_free(ae);
                return r;
        }
        if (mkdirat(o->dirfd, name, 0755) < 0 && errno != EEXIST)
                return err_set(o->e, errno, "create %s", name);
        return 0;
}

static int out_bytes(struct out *o, const char *name, const void *p, size_t n)
{
        if (json_object_get(o->written, name))
                return 0;
        json_object_set_new(o->written, name, json_true());
        if (o->a) {
                int r = out_header(o, name, n);
                if (r >= 0 && n && archive_write_data(o->a, p, n) != (la_ssize_t)n)
                        r = arch_err(o, "write", name);
                return r;
        }
        _cleanup_close_ int fd = openat(o->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return err_set(o->e, errno, "create %s", name);
        ssize_t w = write_all(fd, p, n);
        return w < 0 ? err_set(o->e, (int)-w, "write %s", name) : 0;
}

/* A stored blob copied as it is. */
static int out_blob_file(struct out *o, const char *name, const char *path)
{
        if (json_object_get(o->written, name))
                return 0;
        json_object_set_new(o->written, name, json_true());
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return err_set(o->e, errno, "open %s", path);
        if (!o->a) {
                _cleanup_close_ int fd = openat(o->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0)
                        return err_set(o->e, errno, "create %s", name);
                for (;;) {
                        ssize_t n = read(in, o->buf, CHUNK);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return err_set(o->e, errno, "read %s", path);
                        if (n == 0)
                                return 0;
                        ssize_t w = write_all(fd, o->buf, (size_t)n);
                        if (w < 0)
                                return err_set(o->e, (int)-w, "write %s", name);
                }
        }
        int r = out_header(o, name, (uint64_t)st.st_size);
        uint64_t done = 0;
        while (r >= 0 && done < (uint64_t)st.st_size) {
                ssize_t n = read(in, o->buf, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return err_set(o->e, n < 0 ? errno : EIO, "read %s", path);
                if (archive_write_data(o->a, o->buf, (size_t)n) != n)
                        r = arch_err(o, "write", name);
                done += (uint64_t)n;
        }
        return r;
}

/* A layer blob decompressed (docker's archive holds plain tars); checked
 * against its diff_id on the way. */
static int decompress(struct out *o, const char *path, const char *diff_id, uint64_t *len, bool write)
{
        struct archive *rd = archive_read_new();
        archive_read_support_filter_all(rd);
        archive_read_support_format_raw(rd);
        struct archive_entry *ae;
        int r = 0;
        struct sha256 h;
        sha256_init(&h);
        *len = write ? *len : 0;
        uint64_t got = 0;
        if (archive_read_open_filename(rd, path, CHUNK) != ARCHIVE_OK ||
            archive_read_next_header(rd, &ae) != ARCHIVE_OK) {
                r = err_setx(o->e, EBADMSG, "read layer %s: %s", diff_id, archive_error_string(rd));
                goto out;
        }
        for (;;) {
                la_ssize_t n = archive_read_data(rd, o->buf, CHUNK);
                if (n == 0)
                        break;
                if (n < 0) {
                        r = err_setx(o->e, EBADMSG, "read layer %s: %s", diff_id, archive_error_string(rd));
                        goto out;
                }
                sha256_update(&h, o->buf, (size_t)n);
                got += (uint64_t)n;
                if (write) {
                        if (got > *len) {
                                r = err_setx(o->e, EBADMSG, "layer %s is longer than its record", diff_id);
                                goto out;
                        }
                        if (archive_write_data(o->a, o->buf, (size_t)n) != n) {
                                r = arch_err(o, "write layer", diff_id);
                                goto out;
                        }
                }
        }
        char d[DIGEST_STR_LEN + 1];
        sha256_final(&h, d);
        h.md_ctx = NULL;
        if (strcmp(d, diff_id))
                r = err_setx(o->e, EBADMSG, "layer %s: the stored blob hashes to %s uncompressed", diff_id, d);
        else if (write && got != *len)
                r = err_setx(o->e, EBADMSG, "layer %s is shorter than its record", diff_id);
        *len = got;
out:
        sha256_free(&h);
        archive_read_free(rd);
        return r;
}

static int out_layer_tar(struct out *o, struct store *s, const char *name, const struct store_layer *l)
{
        if (json_object_get(o->written, name))
                return 0;
        json_object_set_new(o->written, name, json_true());
        if (!store_has_blob(s, l->digest))
                return err_setx(o->e, ENOENT, "layer %s: its blob is not in the store", l->digest);
        _cleanup_free_ char *path = store_blob_path(s, l->digest);
        uint64_t len = store_layer_tar_bytes(s, l->diff_id);
        int r = 0;
        if (!len)   /* not recorded: one pass to count */
                r = decompress(o, path, l->diff_id, &len, false);
        if (r >= 0)
                r = out_header(o, name, len);
        if (r >= 0)
                r = decompress(o, path, l->diff_id, &len, true);
        return r;
}

/* ------------------------------------------------------------ the images */

struct saved {
        struct store_image im;
        char *tag;                 /* "REGISTRY/REPO:TAG" (podman needs the registry; docker
                                    * shortens it), or NULL (named by ID or digest) */
        char *name;                /* the store name, or NULL */
        bool substituted;          /* a layer's blob is another image's (same diff_id) */
};

/* A layer whose blob is not in the store (a pull found the layer there,
 * unpacked from another image's blob of the same diff_id, and did not
 * download its own) is saved with that other blob: the same tar once
 * uncompressed.  @all is every image in the store. */
static void substitute_blobs(struct store *s, struct saved *v, const struct store_image *all, size_t n_all)
{
        for (size_t k = 0; k < v->im.n_layers; k++) {
                struct store_layer *l = &v->im.layers[k];
                if (store_has_blob(s, l->digest))
                        continue;
                for (size_t i = 0; i < n_all; i++)
                        for (size_t j = 0; j < all[i].n_layers; j++) {
                                const struct store_layer *o = &all[i].layers[j];
                                if (strcmp(o->diff_id, l->diff_id) || !store_has_blob(s, o->digest) ||
                                    !strcmp(o->digest, l->digest))
                                        continue;
                                free(l->digest);
                                free(l->media_type);
                                l->digest = xstrdup(o->digest);
                                l->media_type = o->media_type ? xstrdup(o->media_type) : NULL;
                                l->size = o->size;
                                v->substituted = true;
                                i = n_all - 1;
                                break;
                        }
        }
}

static int read_small(struct store *s, const char *digest, struct buf *b, struct err *e)
{
        buf_reset(b);
        return store_read_blob(s, digest, SMALL_MAX, b, e);
}

static int docker_archive(struct out *o, struct store *s, struct saved *v, size_t n)
{
        json_t *manifest = json_array(), *repos = json_object();
        struct buf cfg = BUF_INIT(SMALL_MAX);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct store_image *im = &v[i].im;
                _cleanup_free_ char *cname = xasprintf("%s.json", digest_hex(im->id));
                r = read_small(s, im->id, &cfg, o->e);
                if (r >= 0)
                        r = out_bytes(o, cname, cfg.data, cfg.len);
                json_t *layers = json_array();
                for (size_t k = 0; r >= 0 && k < im->n_layers; k++) {
                        _cleanup_free_ char *lname = xasprintf("%s.tar", digest_hex(im->layers[k].diff_id));
                        r = out_layer_tar(o, s, lname, &im->layers[k]);
                        json_array_append_new(layers, json_string(lname));
                }
                json_t *tags = json_array();
                for (size_t k = 0; k < im->n_names && !v[i].tag; k++)
                        if (!strchr(im->names[k], '@'))
                                json_array_append_new(tags, json_string(im->names[k]));
                if (v[i].tag)
                        json_array_append_new(tags, json_string(v[i].tag));
                size_t k;
                json_t *t;
                json_array_foreach(tags, k, t) {
                        /* repositories: the legacy map repo -> tag -> top layer */
                        const char *tag = json_string_value(t), *colon = strrchr(tag, ':');
                        if (!colon || !im->n_layers)
                                continue;
                        _cleanup_free_ char *repo = xstrndup(tag, (size_t)(colon - tag));
                        json_t *ro = json_object_get(repos, repo);
                        if (!ro)
                                json_object_set_new(repos, repo, ro = json_object());
                        json_object_set_new(ro, colon + 1,
                                            json_string(digest_hex(im->layers[im->n_layers - 1].diff_id)));
                }
                json_array_append_new(manifest, json_pack("{s:s, s:o, s:o}", "Config", cname, "RepoTags", tags,
                                                          "Layers", layers));
        }
        if (r >= 0) {
                _cleanup_free_ char *m = json_dumps(manifest, JSON_COMPACT);
                _cleanup_free_ char *rp = json_dumps(repos, JSON_COMPACT);
                r = out_bytes(o, "manifest.json", m, strlen(m));
                if (r >= 0)
                        r = out_bytes(o, "repositories", rp, strlen(rp));
        }
        buf_free(&cfg);
        json_decref(manifest);
        json_decref(repos);
        return r;
}

static int oci_layout(struct out *o, struct store *s, struct saved *v, size_t n)
{
        json_t *manifests = json_array();
        struct buf mb = BUF_INIT(SMALL_MAX), cfg = BUF_INIT(SMALL_MAX);
        int r = out_bytes(o, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
        if (r >= 0)
                r = out_dir(o, "blobs");
        if (r >= 0)
                r = out_dir(o, "blobs/sha256");
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct store_image *im = &v[i].im;
                /* the stored manifest when it is OCI's; else one in OCI's words */
                _cleanup_free_ char *mtext = NULL;
                r = read_small(s, im->manifest, &mb, o->e);
                if (r < 0)
                        break;
                if (image_manifest_format(s, im) == PACK_FORMAT_OCI && !v[i].substituted) {
                        mtext = xstrndup(mb.data, mb.len);
                } else {
                        r = read_small(s, im->id, &cfg, o->e);
                        struct pack_desc cd = { NULL, im->id, cfg.len };
                        struct pack_desc *ld = xcalloc(im->n_layers ? im->n_layers : 1, sizeof *ld);
                        for (size_t k = 0; k < im->n_layers; k++)
                                ld[k] = (struct pack_desc){ im->layers[k].media_type, im->layers[k].digest,
                                                            im->layers[k].size };
                        if (r >= 0)
                                r = pack_manifest(PACK_FORMAT_OCI, &cd, ld, im->n_layers, &mtext, o->e);
                        free(ld);
                        if (r < 0)
                                break;
                }
                char md[DIGEST_STR_LEN + 1];
                sha256_digest(mtext, strlen(mtext), md);
                _cleanup_free_ char *mname = xasprintf("blobs/sha256/%s", digest_hex(md));
                _cleanup_free_ char *cname = xasprintf("blobs/sha256/%s", digest_hex(im->id));
                _cleanup_free_ char *cpath = store_blob_path(s, im->id);
                r = out_bytes(o, mname, mtext, strlen(mtext));
                if (r >= 0)
                        r = out_blob_file(o, cname, cpath);
                for (size_t k = 0; r >= 0 && k < im->n_layers; k++) {
                        const char *d = im->layers[k].digest;
                        _cleanup_free_ char *lname = xasprintf("blobs/sha256/%s", digest_hex(d));
                        _cleanup_free_ char *lpath = store_blob_path(s, d);
                        if (!store_has_blob(s, d))
                                r = err_setx(o->e, ENOENT, "layer %s: its blob is not in the store", d);
                        else
                                r = out_blob_file(o, lname, lpath);
                }
                json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", MT_OCI_MANIFEST, "digest", md, "size",
                                         (json_int_t)strlen(mtext));
                if (v[i].name) {
                        /* skopeo's and umoci's tag, and containerd's full name */
                        const char *t = v[i].tag ? strrchr(v[i].tag, ':') : NULL;
                        json_object_set_new(desc, "annotations",
                                            json_pack("{s:s, s:s}", "org.opencontainers.image.ref.name",
                                                      t ? t + 1 : "latest", "io.containerd.image.name",
                                                      v[i].name));
                }
                json_array_append_new(manifests, desc);
        }
        if (r >= 0) {
                json_t *index = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                                          "manifests", manifests);
                _cleanup_free_ char *text = json_dumps(index, JSON_COMPACT);
                json_decref(index);
                r = out_bytes(o, "index.json", text, strlen(text));
        }
        json_decref(manifests);
        buf_free(&mb);
        buf_free(&cfg);
        return r;
}

int save_format_parse(const char *s, enum save_format *f, struct err *e)
{
        if (!strcmp(s, "docker-archive"))
                *f = SAVE_DOCKER_ARCHIVE;
        else if (!strcmp(s, "oci-archive"))
                *f = SAVE_OCI_ARCHIVE;
        else if (!strcmp(s, "oci-dir"))
                *f = SAVE_OCI_DIR;
        else
                return err_setx(e, EINVAL, "unknown format '%s' (docker-archive, oci-archive or oci-dir)", s);
        return 0;
}

int save_images(struct store *s, char *const *args, size_t n, const struct save_opts *o, int out_fd,
                struct err *e)
{
        struct saved *v = xcalloc(n ? n : 1, sizeof *v);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = lookup_image(s, args[i], &v[i].im, &v[i].name, e);
                if (r < 0)
                        err_wrap(e, "%s", args[i]);
                else if (v[i].name && !strchr(v[i].name, '@'))
                        v[i].tag = xstrdup(v[i].name);
        }
        struct store_image *all = NULL;
        size_t n_all = 0;
        struct err le = { 0 };
        if (r >= 0 && store_list_images(s, &all, &n_all, &le) >= 0)
                for (size_t i = 0; i < n; i++)
                        substitute_blobs(s, &v[i], all, n_all);
        for (size_t i = 0; i < n_all; i++)
                store_image_free(&all[i]);
        free(all);
        struct out out = { .dirfd = -1, .e = e, .buf = xmalloc(CHUNK), .written = json_object() };
        if (r >= 0 && o->format == SAVE_OCI_DIR) {
                out.dirfd = out_fd;
        } else if (r >= 0) {
                out.a = archive_write_new();
                archive_write_set_format_pax_restricted(out.a);
                if (archive_write_open_fd(out.a, out_fd) != ARCHIVE_OK)
                        r = arch_err(&out, "open", "the output");
        }
        if (r >= 0)
                r = o->format == SAVE_DOCKER_ARCHIVE ? docker_archive(&out, s, v, n) : oci_layout(&out, s, v, n);
        if (out.a) {
                if (r >= 0 && archive_write_close(out.a) != ARCHIVE_OK)
                        r = arch_err(&out, "finish", "the archive");
                archive_write_free(out.a);
        }
        for (size_t i = 0; i < n; i++) {
                store_image_free(&v[i].im);
                free(v[i].tag);
                free(v[i].name);
        }
        free(v);
        free(out.buf);
        json_decref(out.written);
        return r;
}
