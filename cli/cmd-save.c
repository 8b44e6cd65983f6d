/* strata save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE... */
#include "cli.h"
#include "save.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Write to a temporary name next to @dest, renamed over it at the end. */
static int save_to(struct store *s, char *const *imgs, size_t n, const struct save_opts *o, const char *dest,
                   struct err *e)
{
        _cleanup_free_ char *tmp = xasprintf("%s.strata-tmp-%d", dest, (int)getpid());
        int fd, r;
        if (o->format == SAVE_OCI_DIR) {
                struct stat st;
                if (lstat(dest, &st) == 0 && (!S_ISDIR(st.st_mode) || rmdir(dest) < 0))
                        return err_setx(e, EEXIST, "%s exists (and is not an empty directory)", dest);
                if (mkdir(tmp, 0755) < 0)
                        return err_set(e, errno, "create %s", tmp);
                fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
                fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
        if (fd < 0)
                return err_set(e, errno, "create %s", tmp);
        r = save_images(s, imgs, n, o, fd, e);
        if (r >= 0 && o->format != SAVE_OCI_DIR && fsync(fd) < 0)
                r = err_set(e, errno, "sync %s", dest);
        close(fd);
        if (r >= 0 && rename(tmp, dest) < 0)
                r = err_set(e, errno, "rename %s to %s", tmp, dest);
        if (r < 0) {
                struct err ignore = { 0 };
                rm_rf_at(AT_FDCWD, tmp, &ignore);
        }
        return r;
}

int cmd_save(int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { "format", required_argument, NULL, 'f' },
                { 0 }
        };
        struct save_opts o = { 0 };
        const char *output = NULL;
        struct err e = { 0 };
        int c, r = 0;
        while (r == 0 && (c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                switch (c) {
                case 'o': output = optarg; break;
                case 'f': r = save_format_parse(optarg, &o.format, &e); break;
                default: return bad_option("save", argv);
                }
        }
        if (r < 0)
                return usage_error("save", "%s", e.msg);
        if (optind >= argc)
                return usage_error("save", "requires at least 1 argument: IMAGE...");
        if (!output && o.format == SAVE_OCI_DIR)
                return usage_error("save", "--format oci-dir needs -o DIR");
        if (!output && isatty(STDOUT_FILENO)) {
                fprintf(stderr, "strata: save: refusing to write an archive to a terminal (use -o FILE or a pipe)\n");
                return 1;
        }
        struct store *s = NULL;
        r = open_store(&s, &e);
        if (r >= 0 && output)
                r = save_to(s, argv + optind, (size_t)(argc - optind), &o, output, &e);
        else if (r >= 0)
                r = save_images(s, argv + optind, (size_t)(argc - optind), &o, STDOUT_FILENO, &e);
        store_close(s);
        if (r < 0) {
                err_wrap(&e, "save");
                return report_err(&e);
        }
        return 0;
}
