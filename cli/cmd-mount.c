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
#include "mountinfo.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

struct mount_args {
        struct fs_config cfg;
        bool foreground;
        bool read_only;
        bool stack;               /* --stack: mount over a mount point */
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

/* A store on a read-only filesystem can only be mounted read-only, and
 * without a mount record: there is nowhere to write one, and nothing needs
 * it (no rmi can delete what the mount stacks; umount finds the mount by
 * its mount point, with no writable layer to drop). */
static int mount_unrecorded(struct store *s, struct mount_args *a, const struct store_image *im)
{
        struct err e = { 0 };
        if (!a->read_only || a->upper)
                err_setx(&e, EROFS, "mount %s: store %s is read-only: only a mount with -r (no writable layer) is possible",
                         a->image, store_root(s));
        else if (!im->n_layers)
                err_setx(&e, EROFS, "mount %s: store %s is read-only and the image has no layer to stack",
                         a->image, store_root(s));
        if (e.code)
                return report_err(&e);
        image_lowers(s, im, NULL, &a->cfg);
        free(a->cfg.fsname);
        a->cfg.fsname = xstrdup(a->image);
        rootless_fs_config(s, &a->cfg);
        if (fs_check_config(&a->cfg, &e) < 0) {
                err_wrap(&e, "mount %s", a->image);
                return report_err(&e);
        }
        return serve(a, NULL, NULL);
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
        if (store_read_only(s)) {
                status = mount_unrecorded(s, a, &im);
                goto out;
        }
        r = store_mount_create(s, im.id, a->mountpoint, a->upper, NULL, &m, &e);
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
        rootless_fs_config(s, &a->cfg);
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

/* realpath() in place; @what names the option in the error. */
static int absolute_path(char **path, const char *what, struct err *e)
{
        if (!*path)
                return 0;
        char *real = realpath(*path, NULL);
        if (!real)
                return err_set(e, errno, "%s %s", what, *path);
        free(*path);
        *path = real;
        return 0;
}

/* The -o directories as absolute paths (checked to exist first). */
static int absolute_dirs(struct fs_config *c, struct err *e)
{
        int r = 0;
        for (size_t i = 0; i < c->n_lowers && r == 0; i++)
                r = absolute_path(&c->lowers[i], "lowerdir", e);
        if (r == 0)
                r = absolute_path(&c->upper, "upperdir", e);
        if (r == 0)
                r = absolute_path(&c->work, "workdir", e);
        return r;
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
                { "stack", no_argument, NULL, 'S' },
                { 0 }
        };
        const char *verb = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        struct mount_args a = { 0 };
        struct err e = { 0 };
        _cleanup_free_ char *real = NULL;
        int c, status = 2;
        while ((c = getopt_long(argc, argv, "fdro:u:V", opts, NULL)) != -1) {
                switch (c) {
                case 'f': a.foreground = true; break;
                case 'd': a.cfg.debug = true; a.foreground = true; break;
                case 'r': a.read_only = true; break;
                case 'u': a.upper = optarg; break;
                case 'S': a.stack = true; break;
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
        if (a.read_only)
                a.cfg.read_only = true;
        /* the daemon leaves the working directory: relative paths are the
         * caller's, as for the kernel's overlayfs and fuse-overlayfs */
        real = realpath(argv[argc - 1], NULL);
        if (!real) {
                err_set(&e, errno, "mount point %s", argv[argc - 1]);
                status = report_err(&e);
                goto out;
        }
        a.mountpoint = real;
        /* a second union over the first would hide it without a word (the
         * kernel allows it): refused unless asked; fuse-overlayfs's argv
         * (strata-overlayfs) keeps fuse-overlayfs's behaviour */
        char type[64];
        if (!a.stack && !strcmp(verb, "mount") && mount_point_type(real, type, sizeof type) > 0) {
                err_setx(&e, EBUSY, "mount %s: already a mount point (%s): unmount it first, or add --stack to mount over it",
                         argv[argc - 1], type);
                status = report_err(&e);
                goto out;
        }
        if (mount_driver(a.driver, &a.kernel, &e) < 0) {
                status = a.driver ? usage_error(verb, "%s", e.msg) : report_err(&e);
                goto out;
        }
        if (dirs) {
                if (fs_check_config(&a.cfg, &e) < 0 || absolute_dirs(&a.cfg, &e) < 0) {
                        status = report_err(&e);
                        goto out;
                }
                status = serve(&a, NULL, NULL);
                goto out;
        }
        a.image = argv[optind];
        status = mount_image(&a);
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
        pid_wait_gone(pid, 2000);
}

static bool daemon_gone(int pid)
{
        return !pid_alive(pid);
}

/* taken_record() - the record of the mount at @mp that umount took away
 * (@unmounted), or of a mount there already gone.  With --stack several
 * records name one mount point: the one whose daemon leaves is the mount
 * taken away (the daemon of the mount below serves on).  -ENOENT: none. */
static int taken_record(struct store *s, const char *mp, bool unmounted, struct store_mount *out, struct err *e)
{
        struct store_mount *v = NULL;
        size_t n = 0, matches = 0, pick = SIZE_MAX;
        int r = store_list_mounts(s, &v, &n, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *real = realpath(mp, NULL);
        const char *want = real ? real : mp;
        for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i].mountpoint, want)) {
                        matches++;
                        pick = i;
                }
        if (matches == 1 && unmounted)
                wait_gone(v[pick].pid);
        else if (matches == 1 && store_mount_live(&v[pick]))
                pick = SIZE_MAX;
        if (matches > 1) {
                pick = SIZE_MAX;
                for (int round = 0; pick == SIZE_MAX && round < 200; round++) {
                        for (size_t i = 0; pick == SIZE_MAX && i < n; i++)
                                if (!strcmp(v[i].mountpoint, want) &&
                                    (unmounted ? daemon_gone(v[i].pid) : !store_mount_live(&v[i])))
                                        pick = i;
                        struct timespec ts = { 0, 10 * 1000 * 1000 };
                        if (pick == SIZE_MAX && unmounted)
                                nanosleep(&ts, NULL);
                        else
                                break;
                }
        }
        r = pick == SIZE_MAX ? err_setx(e, ENOENT, "%s: not a strata mount", mp) : 0;
        for (size_t i = 0; i < n; i++) {
                if (i == pick)
                        *out = v[i];
                else
                        store_mount_free(&v[i]);
        }
        free(v);
        return r;
}

/* A mount of the kernel's overlayfs that `strata mount --driver kernel`
 * made at @mp: a record of @s names @mp with pid STORE_MOUNT_KERNEL. */
static bool kernel_driver_mount(struct store *s, const char *mp)
{
        struct store_mount *v = NULL;
        size_t n = 0;
        bool found = false;
        struct err e = { 0 };
        if (!s || store_list_mounts(s, &v, &n, &e) < 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                found = found || (v[i].pid == STORE_MOUNT_KERNEL && !strcmp(v[i].mountpoint, mp));
                store_mount_free(&v[i]);
        }
        free(v);
        return found;
}

/* store_mount_remove() for rootless_call(): the writable layer holds files
 * of the user's range, removable in its namespace only */
static int remove_record(void *ctx, struct err *e)
{
        void **c = ctx;
        return store_mount_remove(c[0], c[1], e);
}

/* Can this user remove the tree at @at/@name without the store's user
 * namespace?  Removing an entry takes write and search permission on the
 * directory that holds it, whoever owns the entry: so every directory must
 * be the user's, with u+rwx.  Entering the namespace costs two setuid
 * helpers (newuidmap, newgidmap): most writable layers (a mount only read,
 * or written as the namespace's root) need neither. */
static bool user_removable(int at, const char *name, int depth)
{
        struct stat st;
        if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT;
        if (!S_ISDIR(st.st_mode))
                return true;
        if (st.st_uid != geteuid() || (st.st_mode & S_IRWXU) != S_IRWXU || depth > 4096)
                return false;
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        bool ok = true;
        struct dirent *de;
        while (ok && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
                        ok = user_removable(dirfd(d), de->d_name, depth + 1);
        }
        closedir(d);
        return ok;
}

int cmd_umount(int argc, char **argv)
{
        int st0 = no_options("umount", argc, argv);
        if (st0)
                return st0;
        if (argc - optind != 1)
                return usage_error("umount", "expected one mount point");
        struct err e = { 0 };
        const char *arg = argv[optind];
        _cleanup_free_ char *mp = abs_mountpoint(arg);
        /* the store, when there is one: its records say which mounts are
         * strata's (a --driver kernel mount is an overlay) and are dropped */
        struct stat st;
        struct store *s = NULL;
        struct err se = { 0 };
        if (stat(default_root(), &st) < 0 || open_store(&s, &se) < 0)
                s = NULL;
        /* strata's own mounts only: a tmpfs there is not ours to take away */
        char type[64];
        int mounted = mount_point_type(mp, type, sizeof type);
        int r;
        struct stat dst;
        struct store_mount run = { 0 };
        if (s && store_find_mount(s, mp, &run, &se) == 0 && run.command && store_run_alive(&run)) {
                /* its command still works in it: taking the layer away would pull it from under it */
                err_setx(&e, EBUSY, "umount %s: run %s is running in it: strata stop %s first", arg, run.id,
                         run.name ? run.name : run.id);
                store_mount_free(&run);
                store_close(s);
                return report_err(&e);
        }
        store_mount_free(&run);
        err_clear(&se);
        if (mounted < 0 || (mounted > 0 && !strcmp(type, STRATA_FSTYPE)) ||
            (mounted > 0 && !strcmp(type, "overlay") && kernel_driver_mount(s, mp)))
                r = fs_umount(mp, &e);
        else if (mounted > 0)
                r = err_setx(&e, EINVAL, "umount %s: not a strata mount (a %s mount is there)", arg, type);
        else if (stat(mp, &dst) < 0 && errno == ENOENT)
                r = err_set(&e, errno, "umount %s", arg);
        else
                r = err_setx(&e, EINVAL, "umount %s: not a strata mount", arg);
        /* an image mount: drop its writable layer (unless --upper) and record */
        if (s) {
                struct store_mount m = { 0 };
                if (taken_record(s, mp, r == 0, &m, &se) == 0) {
                        void *ctx[2] = { s, &m };
                        int rr = user_removable(AT_FDCWD, m.dir, 0) ? remove_record(ctx, &se)
                                                                     : rootless_call("umount", remove_record, ctx, &se);
                        if (rr < 0 && r == 0) {
                                r = err_wrap(&se, "umount %s", mp);
                                e = se;
                        } else if (rr == 0) {
                                /* a kept record of a mount already gone (a
                                 * run without --rm): dropping it is the
                                 * whole job */
                                r = 0;
                        }
                }
                store_mount_free(&m);
                store_close(s);
        }
        return r < 0 ? report_err(&e) : 0;
}
