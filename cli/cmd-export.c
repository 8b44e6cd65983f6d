/* strata export MOUNT|RUN-ID|IMAGE [-o FILE] — docker export: the flattened
 * tree (whiteouts and opaque directories applied, hard links kept) as a
 * plain tar.  A mount's writable layer is copied first, as commit does
 * (the daemon paused meanwhile), so metadata-only files and indexed hard
 * links come out with their data; the merge is then done from the layer
 * directories, not through FUSE. */
#include "cli.h"
#include "commit.h"
#include "container.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct fd_sink {
        int fd;
};

static int fd_write(void *ctx, const void *p, size_t n, struct err *e)
{
        ssize_t w = write_all(((struct fd_sink *)ctx)->fd, p, n);
        return w < 0 ? err_set(e, (int)-w, "write the archive") : 0;
}

static int export_to(struct store *s, const char *what, int out, struct err *e)
{
        struct store_mount m = { 0 };
        struct store_image im = { 0 };
        _cleanup_free_ char *snap = NULL;
        int snapfd = -1, r;
        bool is_mount = find_mount_arg(s, what, &m, e) == 0;
        if (is_mount) {
                r = m.image ? store_find_image(s, m.image, &im, e)
                            : err_setx(e, EINVAL, "%s is a mount of directories, not of an image", what);
                if (r >= 0)
                        r = commit_snapshot(s, &m, &im, &snap, &snapfd, NULL, e);
        } else {
                err_clear(e);
                r = lookup_image(s, what, &im, NULL, e);
        }
        size_t n = im.n_layers + (snapfd >= 0);
        int *fds = xcalloc(n ? n : 1, sizeof *fds);
        size_t k = 0;
        if (snapfd >= 0)
                fds[k++] = snapfd;
        for (size_t i = 0; r >= 0 && i < im.n_layers; i++) {
                const char *di = im.layers[im.n_layers - 1 - i].diff_id;
                _cleanup_free_ char *p = store_layer_path(s, di);
                fds[k] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fds[k] < 0)
                        r = err_set(e, errno, "layer %s", di);
                else
                        k++;
        }
        if (r >= 0) {
                struct pack_tar_opts o = { .compression = PACK_NONE, .flatten = true };
                struct pack_tar_result res;
                struct fd_sink sink = { out };
                r = pack_tar(fds, k, &o, fd_write, &sink, &res, e);
        }
        for (size_t i = 0; i < k; i++)
                close(fds[i]);
        free(fds);
        if (snap)
                store_discard_tmpdir(s, snap);
        store_image_free(&im);
        store_mount_free(&m);
        return r;
}

int cmd_export(int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { 0 }
        };
        const char *output = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                switch (c) {
                case 'o': output = optarg; break;
                default: return bad_option("export", argv);
                }
        }
        if (argc - optind != 1)
                return usage_error("export", "requires exactly 1 argument: MOUNT|RUN-ID|IMAGE");
        if (!output && isatty(STDOUT_FILENO)) {
                fprintf(stderr, "strata: export: refusing to write an archive to a terminal (use -o FILE or a pipe)\n");
                return 1;
        }
        const char *what = argv[optind];
        struct err e = { 0 };
        struct store *s = NULL;
        _cleanup_free_ char *tmp = output ? xasprintf("%s.strata-tmp-%d", output, (int)getpid()) : NULL;
        int out = STDOUT_FILENO;
        int r = open_store(&s, &e);
        if (r >= 0 && tmp) {
                out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (out < 0)
                        r = err_set(&e, errno, "create %s", tmp);
        }
        if (r >= 0)
                r = export_to(s, what, out, &e);
        if (tmp && out >= 0) {
                if (r >= 0 && fsync(out) < 0)
                        r = err_set(&e, errno, "sync %s", output);
                close(out);
                if (r >= 0 && rename(tmp, output) < 0)
                        r = err_set(&e, errno, "rename %s", tmp);
                if (r < 0)
                        unlink(tmp);
        }
        store_close(s);
        if (r < 0) {
                err_wrap(&e, "export %s", what);
                return report_err(&e);
        }
        return 0;
}
