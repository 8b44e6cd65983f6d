/* strata unpack IMAGE DIR — flatten an image into a plain directory, like
 * the rootfs of `umoci unpack`: each layer blob in the store is applied
 * bottom-up (unpack/ in UNPACK_FLATTEN mode: whiteouts delete, opaque
 * directories are emptied of what the layers below put there).
 *
 * The tree is built in a hidden sibling of DIR and renamed to DIR when every
 * layer was applied and matched its diff_id: DIR (missing, or an empty
 * directory) never holds half an image. */
#include "cli.h"
#include "store/store.h"
#include "unpack/unpack.h"

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int check_dest(const char *dir, struct err *e)
{
        struct stat st;
        if (lstat(dir, &st) < 0)
                return errno == ENOENT ? 0 : err_set(e, errno, "%s", dir);
        if (!S_ISDIR(st.st_mode))
                return err_setx(e, EEXIST, "%s exists and is not a directory", dir);
        if (rmdir(dir) < 0)                       /* only succeeds when empty */
                return errno == ENOTEMPTY || errno == EEXIST
                               ? err_setx(e, ENOTEMPTY, "%s is not empty", dir)
                               : err_set(e, errno, "%s", dir);
        return 0;
}

static int apply_layers(struct store *s, const struct store_image *im, int dfd, struct err *e)
{
        for (size_t i = 0; i < im->n_layers; i++) {
                const struct store_layer *l = &im->layers[i];
                _cleanup_free_ char *blob = store_blob_path(s, l->digest);
                _cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return err_set(e, errno, "layer %zu (%s): open blob", i, l->digest);
                char name[128], diff_id[DIGEST_STR_LEN + 1];
                snprintf(name, sizeof name, "layer %zu (%.19s)", i, l->digest);   /* 0 = bottom, as everywhere */
                struct unpack_opts o = { .media_type = l->media_type, .name = name, .mode = UNPACK_FLATTEN };
                rootless_unpack_opts(s, &o);
                int r = unpack_layer_fd(fd, dfd, &o, diff_id, NULL, e);
                if (r < 0)
                        return r;
                if (strcmp(diff_id, l->diff_id))
                        return err_setx(e, EBADMSG, "%s: uncompressed content hashes to %s, the config says %s",
                                        name, diff_id, l->diff_id);
        }
        return 0;
}

static int unpack_image(const char *arg, const char *dir, struct err *e)
{
        struct store *s = NULL;
        struct store_image im = { 0 };
        _cleanup_free_ char *tmp = NULL;
        int dfd = -1;
        int r = open_store(&s, e);
        if (r < 0)
                return r;
        r = lookup_image(s, arg, &im, NULL, e);
        if (r < 0)
                goto out;
        r = check_dest(dir, e);
        if (r < 0)
                goto out;
        {
                _cleanup_free_ char *d1 = xstrdup(dir), *d2 = xstrdup(dir);
                tmp = xasprintf("%s/.%s.strata-unpack-%d", dirname(d1), basename(d2), (int)getpid());
        }
        if (mkdir(tmp, 0755) < 0) {
                r = err_set(e, errno, "create %s", tmp);
                goto out;
        }
        dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = err_set(e, errno, "open %s", tmp);
                goto remove_tmp;
        }
        r = apply_layers(s, &im, dfd, e);
        if (r < 0)
                goto remove_tmp;
        if (rename(tmp, dir) < 0) {
                r = err_set(e, errno, "rename to %s", dir);
                goto remove_tmp;
        }
        goto out;
remove_tmp:
        rm_rf_at(AT_FDCWD, tmp, NULL);
out:
        if (dfd >= 0)
                close(dfd);
        store_image_free(&im);
        store_close(s);
        return r;
}

int cmd_unpack(int argc, char **argv)
{
        if (wants_help("unpack", argc, argv))
                return 0;
        int r = no_options("unpack", argc, argv);
        if (r)
                return r;
        if (argc - optind != 2)
                return usage_error("unpack", "requires exactly 2 arguments");
        struct err e = { 0 };
        if (unpack_image(argv[optind], argv[optind + 1], &e) < 0) {
                err_wrap(&e, "unpack %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}
