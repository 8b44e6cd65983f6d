/* strata import [OPTIONS] FILE|URL|- [NAME[:TAG]] — docker import: a
 * one-layer image from a rootfs tarball (plain, gzip or zstd).  The tarball
 * is unpacked into a tmp dir of the store (unpack/, as a pull does), which
 * becomes the layer directory; the layer blob is made from that directory
 * (pack/), so the two agree, and the image recorded (newimage.h). */
#include "cli.h"
#include "commit.h"
#include "fetch/fetch.h"
#include "newimage.h"
#include "unpack/unpack.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct file_sink {
        int fd;
};

static int file_write(void *ctx, const void *p, size_t n)
{
        ssize_t w = write_all(((struct file_sink *)ctx)->fd, p, n);
        return w < 0 ? (int)w : 0;
}

/* The source as a readable fd: a file, stdin, or a URL downloaded into tmp/. */
static int open_source(struct store *s, const char *src, char **dl, struct err *e)
{
        if (!strcmp(src, "-")) {
                int fd = dup(STDIN_FILENO);
                return fd < 0 ? err_set(e, errno, "stdin") : fd;
        }
        if (strncmp(src, "http://", 7) && strncmp(src, "https://", 8)) {
                int fd = open(src, O_RDONLY | O_CLOEXEC);
                return fd < 0 ? err_set(e, errno, "open %s", src) : fd;
        }
        int fd = -1;
        int r = store_tmp_create(s, "import-src", false, dl, &fd, e);
        if (r < 0)
                return r;
        struct file_sink fs = { fd };
        r = fetch_url(src, NULL, file_write, &fs, e);
        if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
                r = err_set(e, errno, "seek %s", *dl);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

static int import_image(struct store *s, const char *src, const struct commit_opts *o, char id[DIGEST_STR_LEN + 1],
                        struct err *e)
{
        _cleanup_free_ char *name = NULL, *tmp = NULL, *dl = NULL;
        _cleanup_close_ int tmpfd = -1, dest = -1, in = -1;
        json_t *cfg = NULL;
        struct new_layer nl = { .lockfd = -1 };
        enum pack_format f = o->format_set ? o->format : PACK_FORMAT_DOCKER;
        int r = new_image_name(o->name, &name, e);
        if (r >= 0) {
                /* the -c changes are checked before anything is written */
                struct pack_commit_info ci0 = { 0 };
                r = pack_config_commit(NULL, (const char *const *)o->changes, o->n_changes, NULL, &ci0, &cfg, e);
                json_decref(TAKE_PTR(cfg));
        }
        if (r >= 0 && !pack_layer_media_type(f, o->tar.compression))
                r = err_setx(e, EINVAL, "docker's format has no %s layers (use --format oci)",
                             pack_compression_name(o->tar.compression));
        if (r >= 0)
                r = in = open_source(s, src, &dl, e);
        if (r >= 0)
                r = store_tmp_create(s, "import", true, &tmp, &tmpfd, e);
        if (r >= 0 && (mkdirat(tmpfd, "diff", 0755) < 0 ||
                       (dest = openat(tmpfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0))
                r = err_set(e, errno, "create %s/diff", tmp);
        struct unpack_stats us = { 0 };
        if (r >= 0) {
                char got[DIGEST_STR_LEN + 1];
                struct unpack_opts uo = { .name = src };
                rootless_unpack_opts(s, &uo);
                r = unpack_layer_fd(in, dest, &uo, got, &us, e);
        }
        if (dl)
                unlink(dl);
        if (r < 0) {
                if (tmp)
                        store_discard_tmpdir(s, tmp);
                return r;
        }
        struct pack_stats st = { .entries = us.entries, .files = us.files, .dirs = us.dirs,
                                 .symlinks = us.symlinks, .hardlinks = us.hardlinks, .devices = us.devices,
                                 .fifos = us.fifos, .whiteouts = us.whiteouts, .opaques = us.opaques,
                                 .file_bytes = us.file_bytes };
        r = new_layer_commit(s, tmp, f, &o->tar, &st, &nl, e);   /* removes tmp on failure */
        if (r < 0)
                return r;
        _cleanup_free_ char *comment = xasprintf("Imported from %s", src);
        struct pack_commit_info ci = { .comment = o->message ? o->message : comment, .author = o->author,
                                       .created = o->tar.clamp ? o->tar.epoch : time(NULL) };
        r = pack_config_commit(NULL, (const char *const *)o->changes, o->n_changes, nl.diff_id, &ci, &cfg, e);
        if (r >= 0) {
                struct platform host;
                platform_host(&host);
                json_object_set_new(cfg, "os", json_string(host.os));
                json_object_set_new(cfg, "architecture", json_string(host.arch));
                if (host.variant)
                        json_object_set_new(cfg, "variant", json_string(host.variant));
                platform_free(&host);
                r = new_image_record(s, cfg, f, NULL, &nl, name, id, e);
        }
        new_layer_done(&nl);
        json_decref(cfg);
        return r;
}

int cmd_import(int argc, char **argv)
{
        return commit_like("import", "FILE|URL|-", argc, argv, import_image);
}
