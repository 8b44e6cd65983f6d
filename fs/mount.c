/* Mounting: fuse-overlayfs's -o options, the FUSE session, the
 * multithreaded loop, and unmounting. */
#define FUSE_USE_VERSION 312
#include "fs-ops.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

void fs_config_free(struct fs_config *c)
{
        for (size_t i = 0; i < c->n_lowers; i++)
                free(c->lowers[i]);
        free(c->lowers);
        free(c->upper);
        free(c->work);
        free(c->fsname);
        free(c->mount_opts);
        free(c->uidmapping);
        free(c->gidmapping);
        memset(c, 0, sizeof(*c));
}

/* Options handed to the kernel's mount (through libfuse) unchanged. */
static const char *const passed_on[] = {
        "nosuid", "suid", "nodev", "dev", "noexec", "exec", "atime", "noatime", "relatime",
        "strictatime", "nodiratime", "diratime", "sync", "async", "dirsync", "rw",
};
/* fuse-overlayfs's own options and FUSE ones that strata accepts and ignores
 * (their effect is built in, or does not apply). */
static const char *const ignored[] = {
        "default_permissions", "threaded", "fast_ino", "noxattrs", "static_nlink", "noacl",
        "volatile", "squash_to_root", "squash_to_uid", "squash_to_gid",
        "context", "fscontext", "defcontext", "rootcontext", "plugins", "fsync",
        "redirect_dir", "index", "metacopy", "xino", "kernel_cache", "auto_cache",
        "clone_fd", "max_idle_threads", "subtype", "auto_unmount", "allow_root", "suid_dev",
        "nfs_export", "uuid", "lazytime_ignored_never",
};

static bool in_list(const char *const *list, size_t n, const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(list[i], key))
                        return true;
        return false;
}

static void add_mount_opt(struct fs_config *c, const char *opt)
{
        char *old = c->mount_opts;
        c->mount_opts = old ? xasprintf("%s,%s", old, opt) : xstrdup(opt);
        free(old);
}

static int add_lowers(struct fs_config *c, const char *list, struct err *e)
{
        _cleanup_free_ char *copy = xstrdup(list);
        char *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
                c->lowers = xrealloc(c->lowers, (c->n_lowers + 1) * sizeof(*c->lowers));
                c->lowers[c->n_lowers++] = xstrdup(p);
        }
        if (c->n_lowers == 0)
                return err_setx(e, EINVAL, "lowerdir= names no directory");
        return 0;
}

static int apply_option(struct fs_config *c, char *opt, void (*warn)(const char *), struct err *e)
{
        char *val = strchr(opt, '=');
        if (val)
                *val++ = '\0';
        if (!*opt)
                return 0;
        if (!strcmp(opt, "lowerdir") && val)
                return add_lowers(c, val, e);
        if (!strcmp(opt, "upperdir") && val) {
                free(c->upper);
                c->upper = xstrdup(val);
        } else if (!strcmp(opt, "workdir") && val) {
                free(c->work);
                c->work = xstrdup(val);
        } else if ((!strcmp(opt, "uidmapping") || !strcmp(opt, "gidmapping")) && val) {
                struct idrange r[IDMAP_MAX];
                size_t n;
                if (idmap_parse(val, r, &n) < 0)
                        return err_setx(e, EINVAL, "%s=%s: not IN:OUT:COUNT[:IN:OUT:COUNT...]", opt, val);
                char **dst = opt[0] == 'u' ? &c->uidmapping : &c->gidmapping;
                free(*dst);
                *dst = xstrdup(val);
        } else if (!strcmp(opt, "userxattr")) {
                c->userxattr = true;
        } else if (!strcmp(opt, "xattr_permissions") && val) {
                /* fuse-overlayfs's: 2 = owners in user.containers.override_stat
                 * (1, its own user.fuseoverlayfs.* form, is not read) */
                c->override_stat = !strcmp(val, "2");
        } else if (!strcmp(opt, "ro")) {
                c->read_only = true;
        } else if (!strcmp(opt, "allow_other")) {
                c->allow_other = true;
        } else if (!strcmp(opt, "writeback")) {
                c->writeback = !val || strcmp(val, "0") != 0;
        } else if (!strcmp(opt, "debug")) {
                c->debug = true;
        } else if (!strcmp(opt, "fsname") && val) {
                free(c->fsname);
                c->fsname = xstrdup(val);
        } else if (!strcmp(opt, "timeout") && val) {
                char *end;
                double t = strtod(val, &end);
                if (*end || t < 0)
                        return err_setx(e, EINVAL, "timeout=%s: not a number of seconds", val);
                c->timeout = t;
        } else if (!strcmp(opt, "no_open")) {
                c->open_handles = val && (!strcmp(val, "0") || !strcmp(val, "no"));
        } else if (!strcmp(opt, "splice") && val) {
                c->no_splice = !strcmp(val, "0") || !strcmp(val, "no");
        } else if (!strcmp(opt, "prefetch") && val) {
                c->no_prefetch = !strcmp(val, "0") || !strcmp(val, "no");
        } else if (!strcmp(opt, "readdirplus") && val) {
                if (strcmp(val, "auto") && strcmp(val, "yes") && strcmp(val, "no"))
                        return err_setx(e, EINVAL, "readdirplus=%s: auto, yes or no", val);
                c->readdirplus = !strcmp(val, "yes") ? 1 : !strcmp(val, "no") ? -1 : 2;
        } else if (!strcmp(opt, "max_threads") && val) {
                c->max_threads = (unsigned)strtoul(val, NULL, 10);
        } else if (in_list(passed_on, ARRAY_SIZE(passed_on), opt) && !val) {
                add_mount_opt(c, opt);
        } else if (in_list(ignored, ARRAY_SIZE(ignored), opt)) {
                return 0;
        } else if (warn) {
                if (val)
                        val[-1] = '=';
                warn(opt);
        }
        return 0;
}

int fs_parse_options(struct fs_config *c, const char *opts, void (*warn)(const char *), struct err *e)
{
        /* split on commas; "\," is a comma inside a value */
        _cleanup_free_ char *cur = xmalloc(strlen(opts) + 1);
        size_t n = 0;
        for (const char *p = opts;; p++) {
                if (*p == '\\' && p[1] == ',') {
                        cur[n++] = ',';
                        p++;
                        continue;
                }
                if (*p == ',' || *p == '\0') {
                        cur[n] = '\0';
                        int r = apply_option(c, cur, warn, e);
                        if (r < 0)
                                return r;
                        n = 0;
                        if (*p == '\0')
                                break;
                        continue;
                }
                cur[n++] = *p;
        }
        return 0;
}

/* One word per field: "key" for a flag that is set, "key=value" otherwise
 * (values may hold any byte but NUL: each is its own argv word). */
char **fs_config_argv(const struct fs_config *c)
{
        size_t n = 0, cap = c->n_lowers + 24;
        char **v = xcalloc(cap, sizeof(*v));
        for (size_t i = 0; i < c->n_lowers; i++)
                v[n++] = xasprintf("lower=%s", c->lowers[i]);
        if (c->upper)
                v[n++] = xasprintf("upper=%s", c->upper);
        if (c->work)
                v[n++] = xasprintf("work=%s", c->work);
        if (c->fsname)
                v[n++] = xasprintf("fsname=%s", c->fsname);
        if (c->mount_opts)
                v[n++] = xasprintf("mount_opts=%s", c->mount_opts);
        if (c->uidmapping)
                v[n++] = xasprintf("uidmapping=%s", c->uidmapping);
        if (c->gidmapping)
                v[n++] = xasprintf("gidmapping=%s", c->gidmapping);
        v[n++] = xasprintf("timeout=%a", c->timeout);
        v[n++] = xasprintf("max_threads=%u", c->max_threads);
        v[n++] = xasprintf("readdirplus=%d", c->readdirplus);
        static const char *const flag[] = { "ro", "allow_other", "writeback", "debug", "quiet", "no_splice", "open_handles",
                                            "no_prefetch", "userxattr", "userns", "override_stat" };
        const bool set[] = { c->read_only, c->allow_other, c->writeback, c->debug, c->quiet_after_ready,
                             c->no_splice, c->open_handles, c->no_prefetch, c->userxattr, c->userns,
                             c->override_stat };
        for (size_t i = 0; i < ARRAY_SIZE(flag); i++)
                if (set[i])
                        v[n++] = xstrdup(flag[i]);
        v[n] = NULL;
        return v;
}

void fs_config_argv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

int fs_config_from_argv(struct fs_config *c, char *const *v, struct err *e)
{
        for (; *v; v++) {
                const char *w = *v, *eq = strchr(w, '=');
                size_t klen = eq ? (size_t)(eq - w) : strlen(w);
                const char *val = eq ? eq + 1 : NULL;
#define KEY(k) (klen == strlen(k) && !strncmp(w, k, klen))
                if (KEY("lower") && val) {
                        c->lowers = xrealloc(c->lowers, (c->n_lowers + 1) * sizeof(*c->lowers));
                        c->lowers[c->n_lowers++] = xstrdup(val);
                } else if (KEY("upper") && val) {
                        free(c->upper);
                        c->upper = xstrdup(val);
                } else if (KEY("work") && val) {
                        free(c->work);
                        c->work = xstrdup(val);
                } else if (KEY("fsname") && val) {
                        free(c->fsname);
                        c->fsname = xstrdup(val);
                } else if (KEY("mount_opts") && val) {
                        free(c->mount_opts);
                        c->mount_opts = xstrdup(val);
                } else if ((KEY("uidmapping") || KEY("gidmapping")) && val) {
                        char **dst = w[0] == 'u' ? &c->uidmapping : &c->gidmapping;
                        free(*dst);
                        *dst = xstrdup(val);
                } else if (KEY("userxattr") && !val) {
                        c->userxattr = true;
                } else if (KEY("userns") && !val) {
                        c->userns = true;
                } else if (KEY("override_stat") && !val) {
                        c->override_stat = true;
                } else if (KEY("timeout") && val) {
                        c->timeout = strtod(val, NULL);
                } else if (KEY("max_threads") && val) {
                        c->max_threads = (unsigned)strtoul(val, NULL, 10);
                } else if (KEY("readdirplus") && val) {
                        c->readdirplus = atoi(val);
                } else if (KEY("ro") && !val) {
                        c->read_only = true;
                } else if (KEY("allow_other") && !val) {
                        c->allow_other = true;
                } else if (KEY("writeback") && !val) {
                        c->writeback = true;
                } else if (KEY("debug") && !val) {
                        c->debug = true;
                } else if (KEY("quiet") && !val) {
                        c->quiet_after_ready = true;
                } else if (KEY("no_splice") && !val) {
                        c->no_splice = true;
                } else if (KEY("open_handles") && !val) {
                        c->open_handles = true;
                } else if (KEY("no_prefetch") && !val) {
                        c->no_prefetch = true;
                } else {
                        return err_setx(e, EINVAL, "daemon argument %s: not a configuration word", w);
                }
#undef KEY
        }
        return 0;
}

static int check_dir(const char *what, const char *path, struct err *e)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return err_set(e, errno, "%s %s", what, path);
        if (!S_ISDIR(st.st_mode))
                return err_setx(e, ENOTDIR, "%s %s: not a directory", what, path);
        return 0;
}

int fs_check_config(const struct fs_config *c, struct err *e)
{
        if (c->n_lowers == 0)
                return err_setx(e, EINVAL, "no lowerdir= given");
        if (!c->upper != !c->work)
                return err_setx(e, EINVAL, "upperdir= and workdir= go together");
        for (size_t i = 0; i < c->n_lowers; i++) {
                int r = check_dir("lowerdir", c->lowers[i], e);
                if (r < 0)
                        return r;
        }
        if (c->upper) {
                int r = check_dir("upperdir", c->upper, e);
                if (r == 0)
                        r = check_dir("workdir", c->work, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void raise_nofile(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static void signal_ready(int *ready_fd)
{
        if (*ready_fd >= 0) {
                (void)!write(*ready_fd, "1", 1);
                close(*ready_fd);
                *ready_fd = -1;
        }
}

static void free_session(struct fuse_session **se)
{
        if (*se)
                fuse_session_destroy(*se);
}

static struct fuse_session *new_session(const struct fs_config *c, bool read_only, struct fs_session *s,
                                        struct err *e)
{
        _cleanup_free_ char *opts = xasprintf("fsname=%s,subtype=strata,default_permissions%s%s%s%s",
                                              c->fsname ? c->fsname : "strata",
                                              c->allow_other ? ",allow_other" : "",
                                              read_only ? ",ro" : "",
                                              c->mount_opts ? "," : "", c->mount_opts ? c->mount_opts : "");
        char *argv[] = { "strata", "-o", opts, c->debug ? "-d" : NULL, NULL };
        struct fuse_args args = FUSE_ARGS_INIT(c->debug ? 4 : 3, argv);
        struct fuse_session *se = fuse_session_new(&args, &fs_fuse_ops, sizeof(fs_fuse_ops), s);
        fuse_opt_free_args(&args);
        if (!se)
                err_setx(e, EINVAL, "cannot start a FUSE session with -o %s", opts);
        return se;
}

int fs_serve(const struct fs_config *c, const char *mountpoint, int ready_fd, struct err *e)
{
        /* checked here so that a bad mount point is our one line, not libfuse's too */
        struct stat mst;
        int errnum = stat(mountpoint, &mst) < 0 ? errno : !S_ISDIR(mst.st_mode) ? ENOTDIR : 0;
        if (errnum) {
                if (ready_fd >= 0)
                        close(ready_fd);
                return err_set(e, errnum, "mount point %s", mountpoint);
        }
        bool read_only = !c->upper || c->read_only;     /* o->read_only, before there is an o */
        struct fs_session s = {
                .timeout = c->timeout > 0 ? c->timeout : 86400.0,
                .writeback = c->writeback && !read_only,
                .splice = !c->no_splice,
                .readdirplus = c->readdirplus,
                .no_open = !c->open_handles,
                .override_stat = c->override_stat,
        };
        if ((c->uidmapping && idmap_parse(c->uidmapping, s.umap, &s.n_umap) < 0) ||
            (c->gidmapping && idmap_parse(c->gidmapping, s.gmap, &s.n_gmap) < 0)) {
                if (ready_fd >= 0)
                        close(ready_fd);
                return err_setx(e, EINVAL, "uidmapping=%s, gidmapping=%s: not IN:OUT:COUNT[:...]",
                                c->uidmapping ? c->uidmapping : "", c->gidmapping ? c->gidmapping : "");
        }
        _cleanup_(free_session) struct fuse_session *se = NULL;
        int r = 0;
        if (c->userns) {
                /* rootless: mounted by fusermount3 as the user, in the user's
                 * namespaces; then served as root of the store's user
                 * namespace, which owns the layers' files (util/userns.h) */
                se = new_session(c, read_only, &s, e);
                if (!se)
                        r = -EINVAL;
                else if (fuse_session_mount(se, mountpoint) < 0)
                        r = err_setx(e, EIO, "mount %s failed (see the line above)", mountpoint);
                if (r == 0) {
                        struct idmap m = { .n_uid = s.n_umap, .n_gid = s.n_gmap, .rootless = true };
                        memcpy(m.uid, s.umap, sizeof m.uid);
                        memcpy(m.gid, s.gmap, sizeof m.gid);
                        m.single = s.n_umap == 1 && s.umap[0].count == 1;
                        r = userns_enter(&m, false, e);
                        if (r < 0)
                                fuse_session_unmount(se);
                }
                if (r < 0) {
                        if (ready_fd >= 0)
                                close(ready_fd);
                        return r;
                }
        }
        struct ovl *o = NULL;
        r = ovl_new(c, &o, e);
        if (r == 0 && !c->no_prefetch && ovl_prefetch_start(o) < 0) {
                ovl_free(TAKE_PTR(o));
                r = err_setx(e, EAGAIN, "cannot start a thread");
        }
        if (r < 0) {
                if (se)
                        fuse_session_unmount(se);
                if (ready_fd >= 0)
                        close(ready_fd);
                return r;
        }
        s.o = o;
        raise_nofile();
        /* the kernel applied the caller's umask to the mode of every new
         * entry before the request came (no FUSE_CAP_DONT_MASK): ours must
         * not narrow it again */
        umask(0);
        bool mounted = se != NULL;
        if (!se)
                se = new_session(c, read_only, &s, e);
        if (!se) {
                r = -EINVAL;
                goto out;
        }
        s.se = se;
        r = fs_inval_start(&s);
        if (r < 0) {
                r = err_set(e, -r, "cannot start a thread");
                goto out;
        }
        o->inval = fs_inval_node;
        o->inval_ctx = &s;
        /* without OPEN, the stores of small files' data come from a thread:
         * only where no page can be written (invariant 10) unless asked for,
         * and never over the writeback cache, whose writes send nothing */
        if (s.no_open && !c->no_prefetch && !s.writeback && o->read_only &&
            fs_push_start(&s) < 0) {
                r = err_setx(e, EAGAIN, "cannot start a thread");
                goto out;
        }
        if (fuse_set_signal_handlers(se) < 0) {
                r = err_setx(e, EIO, "cannot set signal handlers");
                goto out;
        }
        if (!mounted && fuse_session_mount(se, mountpoint) < 0) {
                r = err_setx(e, EIO, "mount %s failed (see the line above)", mountpoint);
                fuse_remove_signal_handlers(se);
                goto out;
        }
        signal_ready(&ready_fd);
        if (c->quiet_after_ready) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDERR_FILENO);
                        close(null);
                }
        }
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        unsigned threads = c->max_threads ? c->max_threads : 2 * (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
        if (threads < 4)
                threads = 4;
        fuse_loop_cfg_set_clone_fd(lc, 1);
        fuse_loop_cfg_set_max_threads(lc, threads);
        fuse_loop_cfg_set_idle_threads(lc, threads);
        int lr = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
        fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
        r = lr < 0 ? err_set(e, -lr, "serving %s", mountpoint) : 0;
out:
        if (ready_fd >= 0)
                close(ready_fd);
        fs_push_stop(&s);
        fs_inval_stop(&s);
        free_session(&se);
        se = NULL;
        ovl_free(o);
        return r;
}

static int run_fusermount(const char *mountpoint, bool lazy)
{
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--", mountpoint, (char *)NULL);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int fs_umount(const char *mountpoint, struct err *e)
{
        if (geteuid() == 0) {
                if (umount2(mountpoint, UMOUNT_NOFOLLOW) == 0)
                        return 0;
                if (errno == ENOTCONN && umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                        return 0;
                return err_set(e, errno, "umount %s", mountpoint);
        }
        if (run_fusermount(mountpoint, false) == 0 || run_fusermount(mountpoint, true) == 0)
                return 0;
        return err_setx(e, EIO, "fusermount3 -u %s failed", mountpoint);
}
