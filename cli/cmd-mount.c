/* strata mount / strata umount, and strata-overlayfs (fuse-overlayfs's argv).
 *
 *   strata mount -o lowerdir=L1:L2,upperdir=U,workdir=W [-f] [-d] [--driver D] DIR
 *   strata mount [--read-only] [--upper DIR] [-f] [--driver fuse|kernel] IMAGE DIR
 *   strata umount DIR
 *
 * Without -f the command forks: the child serves the mount, the parent
 * waits on a pipe until the mount is in place (or the child's error
 * message arrives) and exits.  --driver kernel (or "mount-driver": "kernel"
 * in the configuration) mounts the same layers with the kernel's overlayfs
 * instead: no daemon (its record's pid is STORE_MOUNT_KERNEL). */
#include "cli.h"
#include "daemon.h"
#include "fs/fs.h"
#include "store/store.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

struct mount_args {
        struct fs_config cfg;
        bool foreground;
        bool read_only;
        const char *upper;        /* --upper */
        const char *driver;       /* --driver, or NULL: the configuration's */
        bool kernel;              /* the kernel's overlayfs, not FUSE */
        const char *image;        /* image mode */
        const char *mountpoint;
};

static void warn_unknown(const char *opt)
{
        /* like fuse-overlayfs: one line per unknown option, then go on */
        fprintf(stderr, "strata: unknown argument ignored: %s\n", opt);
}

/* Serve the mount: in this process with -f, else in a child.  @on_child is
 * called in the parent with the serving pid before waiting (for mount.json). */
static int serve(struct mount_args *a, void (*on_pid)(pid_t, void *), void *arg)
{
        struct err e = { 0 };
        if (a->kernel) {
                int r = fs_kernel_mount(&a->cfg, a->mountpoint, &e);
                if (r == 0 && on_pid)
                        on_pid(STORE_MOUNT_KERNEL, arg);
                return r < 0 ? report_err(&e) : 0;
        }
        if (a->foreground) {
                if (on_pid)
                        on_pid(getpid(), arg);
                int r = fs_serve(&a->cfg, a->mountpoint, -1, &e);
                return r < 0 ? report_err(&e) : 0;
        }
        pid_t pid;
        int r = daemon_start(&a->cfg, a->mountpoint, false, on_pid, arg, &pid, &e);
        return r < 0 ? report_err(&e) : 0;
}

static void save_pid(pid_t pid, void *arg)
{
        void **ctx = arg;
        struct store *s = ctx[0];
        struct store_mount *m = ctx[1];
        struct err e;
        m->pid = (int)pid;
        store_mount_save(s, m, &e);
}

static int mount_image(struct mount_args *a)
{
        struct err e = { 0 };
        struct store *s = NULL;
        int r = open_store(&s, &e);
        if (r < 0)
                return report_err(&e);
        struct store_image im = { 0 };
        struct store_mount m = { 0 };
        _cleanup_free_ char *empty = NULL;
        int status = 1;
        r = lookup_image(s, a->image, &im, NULL, &e);
        if (r < 0) {
                report_err(&e);
                goto out;
        }
        r = store_mount_create(s, im.id, a->mountpoint, a->upper, &m, &e);
        if (r < 0) {
                err_wrap(&e, "mount %s", a->image);
                report_err(&e);
                goto out;
        }
        empty = xasprintf("%s/empty", m.dir);
        image_lowers(s, &im, empty, &a->cfg);
        if (a->kernel && a->read_only && a->cfg.n_lowers == 1) {
                /* the kernel's overlayfs wants two lower layers without an upper */
                (void)mkdir(empty, 0755);
                a->cfg.lowers = xrealloc(a->cfg.lowers, 2 * sizeof(*a->cfg.lowers));
                a->cfg.lowers[a->cfg.n_lowers++] = realpath(empty, NULL);
                if (!a->cfg.lowers[1])
                        a->cfg.lowers[1] = xstrdup(empty);
        }
        if (!a->read_only) {
                a->cfg.upper = xstrdup(m.upper);
                a->cfg.work = xstrdup(m.work);
        }
        free(a->cfg.fsname);
        a->cfg.fsname = xstrdup(a->image);
        r = fs_check_config(&a->cfg, &e);
        if (r < 0) {
                err_wrap(&e, "mount %s", a->image);
                report_err(&e);
                store_mount_remove(s, &m, &e);
                goto out;
        }
        void *ctx[2] = { s, &m };
        status = serve(a, save_pid, ctx);
        if (status != 0)
                store_mount_remove(s, &m, &e);
out:
        store_mount_free(&m);
        store_image_free(&im);
        store_close(s);
        return status;
}

int cmd_mount(int argc, char **argv)
{
        static const struct option opts[] = {
                { "foreground", no_argument, NULL, 'f' },
                { "debug", no_argument, NULL, 'd' },
                { "read-only", no_argument, NULL, 'r' },
                { "upper", required_argument, NULL, 'u' },
                { "options", required_argument, NULL, 'o' },
                { "driver", required_argument, NULL, 'D' },
                { "version", no_argument, NULL, 'V' },
                { 0 }
        };
        const char *verb = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        struct mount_args a = { 0 };
        struct err e = { 0 };
        int c, status = 2;
        while ((c = getopt_long(argc, argv, "fdro:u:V", opts, NULL)) != -1) {
                switch (c) {
                case 'f': a.foreground = true; break;
                case 'd': a.cfg.debug = true; a.foreground = true; break;
                case 'r': a.read_only = true; break;
                case 'u': a.upper = optarg; break;
                case 'D': a.driver = optarg; break;
                case 'V': printf("strata-overlayfs: fuse-overlayfs compatible mode of strata\n"); return 0;
                case 'o':
                        if (fs_parse_options(&a.cfg, optarg, warn_unknown, &e) < 0) {
                                status = usage_error(verb, "%s", e.msg);
                                goto out;
                        }
                        break;
                default:
                        status = bad_option(verb, argv);
                        goto out;
                }
        }
        int npos = argc - optind;
        bool dirs = a.cfg.n_lowers > 0;
        if (npos != (dirs ? 1 : 2)) {
                status = usage_error(verb, dirs ? "expected one mount point" : "expected IMAGE and DIR (or -o lowerdir=...)");
                goto out;
        }
        a.mountpoint = argv[argc - 1];
        if (a.read_only)
                a.cfg.read_only = true;
        if (mount_driver(a.driver, &a.kernel, &e) < 0) {
                status = a.driver ? usage_error(verb, "%s", e.msg) : report_err(&e);
                goto out;
        }
        if (dirs) {
                if (fs_check_config(&a.cfg, &e) < 0) {
                        status = report_err(&e);
                        goto out;
                }
                status = serve(&a, NULL, NULL);
                goto out;
        }
        a.image = argv[optind];
        char *real = realpath(a.mountpoint, NULL);
        if (!real) {
                err_set(&e, errno, "mount point %s", a.mountpoint);
                status = report_err(&e);
                goto out;
        }
        a.mountpoint = real;
        status = mount_image(&a);
        free(real);
out:
        fs_config_free(&a.cfg);
        return status;
}

/* The mount point as an absolute path, without asking the (maybe dead)
 * filesystem mounted there. */
static char *abs_mountpoint(const char *dir)
{
        char *real = realpath(dir, NULL);
        if (real)
                return real;
        if (dir[0] == '/')
                return xstrdup(dir);
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
                return xstrdup(dir);
        return xasprintf("%s/%s", cwd, dir);
}

static void wait_gone(int pid)
{
        for (int i = 0; pid > 0 && i < 200 && kill(pid, 0) == 0; i++) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

int cmd_umount(int argc, char **argv)
{
        int st0 = no_options("umount", argc, argv);
        if (st0)
                return st0;
        if (argc - optind != 1)
                return usage_error("umount", "expected one mount point");
        struct err e = { 0 };
        _cleanup_free_ char *mp = abs_mountpoint(argv[optind]);
        int r = fs_umount(mp, &e);
        /* an image mount: drop its writable layer (unless --upper) and record */
        struct stat st;
        struct store *s = NULL;
        struct err se = { 0 };
        if (stat(default_root(), &st) == 0 && open_store(&s, &se) == 0) {
                struct store_mount m = { 0 };
                if (store_find_mount(s, mp, &m, &se) == 0) {
                        if (r == 0 || !store_mount_live(&m)) {
                                wait_gone(m.pid);
                                int rr = store_mount_remove(s, &m, &se);
                                if (rr < 0 && r == 0) {
                                        r = err_wrap(&se, "umount %s", mp);
                                        e = se;
                                } else if (rr == 0) {
                                        /* a kept record of a mount already gone
                                         * (a run without --rm): dropping it is
                                         * the whole job */
                                        r = 0;
                                }
                        }
                }
                store_mount_free(&m);
                store_close(s);
        }
        return r < 0 ? report_err(&e) : 0;
}
