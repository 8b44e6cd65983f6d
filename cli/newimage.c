/* Images made on this machine: see newimage.h for the invariants. */
#include "newimage.h"
#include "cli.h"
#include "fetch/fetch.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MANIFEST_MAX (4u << 20)

struct blob_sink {
        int fd;
};

static int blob_write(void *ctx, const void *p, size_t n, struct err *e)
{
        struct blob_sink *b = ctx;
        ssize_t w = write_all(b->fd, p, n);
        return w < 0 ? err_set(e, (int)-w, "write blob") : 0;
}

int new_layer_commit(struct store *s, const char *tmpdir, enum pack_format f, const struct pack_tar_opts *o,
                     const struct pack_stats *st, struct new_layer *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        out->lockfd = -1;
        out->media_type = pack_layer_media_type(f, o->compression);
        if (!out->media_type) {
                store_discard_tmpdir(s, tmpdir);
                return err_setx(e, EINVAL, "docker's format has no %s layers (use --format oci)",
                                pack_compression_name(o->compression));
        }
        _cleanup_free_ char *diff = xasprintf("%s/diff", tmpdir);
        _cleanup_close_ int dfd = open(diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *bpath = NULL;
        int bfd = -1;
        int r = dfd < 0 ? err_set(e, errno, "open %s", diff) : 0;
        if (r >= 0 && o->clamp)   /* the layer directory says what the tar says */
                r = pack_clamp_times(dfd, o->epoch, e);
        if (r >= 0)
                r = store_tmp_create(s, "blob", false, &bpath, &bfd, e);
        struct pack_tar_result res;
        if (r >= 0) {
                struct blob_sink b = { bfd };
                r = pack_tar(&dfd, 1, o, blob_write, &b, &res, e);
        }
        if (r >= 0)
                r = store_blob_lock(s, res.digest, &out->lockfd, e);
        if (r >= 0) {
                r = store_commit_blob_file(s, res.digest, bpath, bfd, e);
                bfd = -1;
        }
        if (r >= 0) {
                _cleanup_free_ char *meta = xasprintf(
                        "{\"diff_id\":\"%s\",\"compression\":\"%s\",\"entries\":%llu,\"files\":%llu,\"dirs\":%llu,"
                        "\"symlinks\":%llu,\"hardlinks\":%llu,\"devices\":%llu,\"fifos\":%llu,\"whiteouts\":%llu,"
                        "\"opaques\":%llu,\"bytes\":%llu,\"file_bytes\":%llu,\"blob_bytes\":%llu,\"made_here\":true}",
                        res.diff_id, pack_compression_name(o->compression), (unsigned long long)res.entries,
                        st ? (unsigned long long)st->files : 0ULL, st ? (unsigned long long)st->dirs : 0ULL,
                        st ? (unsigned long long)st->symlinks : 0ULL, st ? (unsigned long long)st->hardlinks : 0ULL,
                        st ? (unsigned long long)st->devices : 0ULL, st ? (unsigned long long)st->fifos : 0ULL,
                        st ? (unsigned long long)st->whiteouts : 0ULL, st ? (unsigned long long)st->opaques : 0ULL,
                        (unsigned long long)res.tar_bytes, st ? (unsigned long long)st->file_bytes : 0ULL,
                        (unsigned long long)res.blob_bytes);
                r = store_commit_layer(s, res.diff_id, tmpdir, meta, e);
        }
        if (bfd >= 0) {
                close(bfd);
                unlink(bpath);
        }
        if (r < 0) {
                store_discard_tmpdir(s, tmpdir);
                new_layer_done(out);
                return r;
        }
        memcpy(out->digest, res.digest, sizeof out->digest);
        memcpy(out->diff_id, res.diff_id, sizeof out->diff_id);
        out->size = res.blob_bytes;
        out->file_bytes = st ? st->file_bytes : 0;
        return 0;
}

void new_layer_done(struct new_layer *l)
{
        if (l->lockfd >= 0)
                store_blob_unlock(l->lockfd);
        l->lockfd = -1;
}

int new_image_name(const char *arg, char **out, struct err *e)
{
        *out = NULL;
        if (!arg)
                return 0;
        struct image_ref ref = { 0 };
        int r = ref_parse(arg, &ref, e);
        if (r < 0)
                return r;
        if (ref.digest) {
                ref_free(&ref);
                return err_setx(e, EINVAL, "invalid name \"%s\": a new image cannot carry a digest", arg);
        }
        *out = ref_name(&ref);
        ref_free(&ref);
        return 0;
}

enum pack_format image_manifest_format(struct store *s, const struct store_image *im)
{
        struct buf b = BUF_INIT(MANIFEST_MAX);
        struct err e = { 0 };
        enum pack_format f = PACK_FORMAT_OCI;
        if (im->manifest && store_read_blob(s, im->manifest, MANIFEST_MAX, &b, &e) >= 0) {
                json_t *j = json_loadb(b.data, b.len, 0, NULL);
                const char *mt = json_string_value(json_object_get(j, "mediaType"));
                if (mt && !strcmp(mt, MT_DOCKER_MANIFEST))
                        f = PACK_FORMAT_DOCKER;
                json_decref(j);
        }
        buf_free(&b);
        return f;
}

int pack_format_parse(const char *s, enum pack_format *f, struct err *e)
{
        if (!strcmp(s, "oci"))
                *f = PACK_FORMAT_OCI;
        else if (!strcmp(s, "docker") || !strcmp(s, "v2s2"))
                *f = PACK_FORMAT_DOCKER;
        else
                return err_setx(e, EINVAL, "unknown format '%s' (oci or docker)", s);
        return 0;
}

int new_image_record(struct store *s, json_t *config, enum pack_format f, const struct store_image *parent,
                     const struct new_layer *extra, const char *name, char id[DIGEST_STR_LEN + 1], struct err *e)
{
        return new_image_record_step(s, config, f, parent, extra, name, false, id, e);
}

int new_image_record_step(struct store *s, json_t *config, enum pack_format f, const struct store_image *parent,
                          const struct new_layer *extra, const char *name, bool intermediate,
                          char id[DIGEST_STR_LEN + 1], struct err *e)
{
        _cleanup_free_ char *ctext = pack_json_dump(config);
        char cdigest[DIGEST_STR_LEN + 1];
        sha256_digest(ctext, strlen(ctext), cdigest);
        size_t n = (parent ? parent->n_layers : 0) + (extra ? 1 : 0);
        struct pack_desc *d = xcalloc(n ? n : 1, sizeof *d);
        struct store_layer *sl = xcalloc(n ? n : 1, sizeof *sl);
        struct store_image im = { .id = cdigest, .n_layers = n, .layers = sl, .intermediate = intermediate };
        for (size_t i = 0; parent && i < parent->n_layers; i++) {
                d[i] = (struct pack_desc){ parent->layers[i].media_type, parent->layers[i].digest,
                                           parent->layers[i].size };
                sl[i] = parent->layers[i];
                im.size += store_layer_file_bytes(s, parent->layers[i].diff_id);
        }
        if (extra) {
                d[n - 1] = (struct pack_desc){ extra->media_type, extra->digest, extra->size };
                sl[n - 1] = (struct store_layer){ (char *)extra->digest, (char *)extra->diff_id,
                                                  (char *)extra->media_type, extra->size };
                im.size += extra->file_bytes;
        }
        /* the layers' media types in this manifest's words */
        for (size_t i = 0; i < n; i++)
                sl[i].media_type = (char *)pack_convert_media_type(f, sl[i].media_type);
        struct pack_desc cd = { NULL, cdigest, strlen(ctext) };
        _cleanup_free_ char *mtext = NULL;
        int r = pack_manifest(f, &cd, d, n, &mtext, e);
        char mdigest[DIGEST_STR_LEN + 1];
        if (r >= 0) {
                sha256_digest(mtext, strlen(mtext), mdigest);
                r = store_put_blob(s, cdigest, ctext, strlen(ctext), e);
        }
        if (r >= 0)
                r = store_put_blob(s, mdigest, mtext, strlen(mtext), e);
        if (r >= 0) {
                json_t *os = json_object_get(config, "os"), *arch = json_object_get(config, "architecture");
                json_t *var = json_object_get(config, "variant");
                _cleanup_free_ char *plat = xasprintf("%s/%s%s%s", json_string_value(os) ? json_string_value(os) : "linux",
                                                      json_string_value(arch) ? json_string_value(arch) : "amd64",
                                                      json_string_value(var) ? "/" : "",
                                                      json_string_value(var) ? json_string_value(var) : "");
                im.manifest = mdigest;
                im.platform = plat;
                struct tm tm = { 0 };
                const char *c = json_string_value(json_object_get(config, "created"));
                im.created = c && strptime(c, "%Y-%m-%dT%H:%M:%S", &tm) ? timegm(&tm) : time(NULL);
                im.pulled = time(NULL);
                r = store_add_image(s, &im, name, e);
        }
        free(d);
        free(sl);
        if (r >= 0)
                memcpy(id, cdigest, DIGEST_STR_LEN + 1);
        return r < 0 ? err_wrap(e, "record image") : 0;
}
