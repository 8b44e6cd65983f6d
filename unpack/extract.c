/* The libarchive read loop and the file creation of unpack/ (see the
 * invariants in unpack.h).
 *
 * Why not archive_write_disk: its ARCHIVE_EXTRACT_SECURE_* flags are off by
 * default, and when on they check each path with lstat() before using it by
 * name, which races and follows whatever the path holds at open time.  We
 * create every object ourselves with *at() calls relative to a directory fd
 * that the kernel resolved below the layer root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV):
 *  - RESOLVE_BENEATH rather than RESOLVE_IN_ROOT: a path that tries to leave
 *    must fail, not be silently reinterpreted inside the root;
 *  - RESOLVE_NO_SYMLINKS: a layer directory is stacked by overlayfs, so a
 *    symlink in an entry's path (even one to a place inside the layer, even
 *    one the same layer created a moment earlier) would make the entry land
 *    somewhere the merged view does not show it: such entries are refused.
 * It is also faster: no per-entry lstat chain, no fsync, no name lookups. */
#include "unpack-internal.h"
#include "util/userns.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#define RESOLVE_SAFE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

struct dirtime {
        char *path;
        struct timespec ts[2];
};

struct x {
        struct archive *a;
        struct unpack_source *src;
        int root;
        enum unpack_mode mode;
        const char *layer;
        struct unpack_stats *st;
        struct err *e;
        bool is_root;
        bool rootless;            /* opts.rootless */
        bool owner_xattr;         /* opts.owner_xattr */
        uint32_t max_id;          /* opts.max_id */
        char opaque_name[64];     /* opts.ovl_prefix + "opaque", or "" (the old way) */
        uid_t euid;
        gid_t egid;
        mode_t umask;
        bool root_seen;
        bool topdir;              /* spread_hint() took: see mkdir_at() */

        /* the entry being applied */
        struct archive_entry *ent;
        const char *raw;
        char path[PATH_MAX];
        size_t plen, dlen;        /* whole path; its parent part ("" = root) */
        const char *base;

        /* resolved parent directories (O_PATH fds) */
        struct unpack_dircache dc;
        bool cstale;              /* clear dc before its next use */
        bool rsgid;
        gid_t rgid;

        struct dirtime *dt;
        size_t ndt, capdt;
        struct unpack_strset made;   /* UNPACK_FLATTEN: paths this layer created */
        uint64_t max_bytes;          /* invariant (6) */
        uint64_t declared;           /* sum of the regular files' declared sizes */
        uint64_t last_end;           /* stream offset where the last entry's data ends */
        bool last_end_exact;
};

static int openat2_safe(int dirfd, const char *path, int flags)
{
        struct open_how how = { .flags = (uint64_t)flags, .resolve = RESOLVE_SAFE };
        for (int tries = 0;; tries++) {
                long r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
                if (r >= 0)
                        return (int)r;
                if (errno != EAGAIN || tries > 16)
                        return -errno;
        }
}

/* ------------------------------------------------------------- messages */

static int refuse(struct x *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct x *x, int code, const char *fmt, ...)
{
        char q[UNPACK_QUOTE_MAX], why[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        if (x->raw)
                return err_setx(x->e, code, "%s: entry \"%s\": %s", x->layer,
                                unpack_quote(x->raw, q, sizeof q), why);
        return err_setx(x->e, code, "%s: %s", x->layer, why);
}

static int sysfail(struct x *x, int errnum, const char *what)
{
        return refuse(x, errnum, "%s: %s", what, strerror(errnum));
}

/* stream_fail() - a read error from libarchive: prefer the source's own
 * message (bomb, corrupt gzip...) over libarchive's. */
static int stream_fail(struct x *x, const char *what)
{
        const char *m = unpack_source_error(x->src);
        if (m)
                return refuse(x, unpack_source_errno(x->src), "%s", m);
        const char *am = archive_error_string(x->a);
        return refuse(x, EBADMSG, "%s: %s", what, am ? am : "corrupt tar stream");
}

/* ------------------------------------------------------ parent dirs */

static void cache_drop(struct x *x)
{
        unpack_dircache_clear(&x->dc);
        x->cstale = false;
}

static int resolve_fail(struct x *x, int errnum, const char *which)
{
        switch (errnum) {
        case ELOOP:
                return refuse(x, EPERM, "%s goes through a symlink", which);
        case ENOTDIR:
                return refuse(x, EPERM, "%s goes through something that is not a directory", which);
        case EXDEV:
                return refuse(x, EPERM, "%s leaves the layer", which);
        default:
                return refuse(x, errnum, "resolve %s: %s", which, strerror(errnum));
        }
}

/* mkdir_at() - mkdirat(), except that a directory made directly in the layer
 * root (marked a "top directory" by spread_hint()) is made under a random
 * name and renamed into place: ext4's Orlov allocator places it by a hash
 * of its name, and a fixed name ("usr") would land in the very block group
 * the same layer used before it was deleted.  Fails with errno set, EEXIST
 * when @name exists. */
static int mkdir_at(struct x *x, int pfd, const char *name, mode_t mode)
{
        if (pfd != x->root || !x->topdir)
                return mkdirat(pfd, name, mode);
        uint64_t rnd;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = now_ns() ^ ((uint64_t)getpid() << 32);
        char tmp[64];
        snprintf(tmp, sizeof tmp, ".strata-mkdir-%016llx", (unsigned long long)rnd);
        if (mkdirat(pfd, tmp, mode) < 0)
                return mkdirat(pfd, name, mode);
        if (renameat2(pfd, tmp, pfd, name, RENAME_NOREPLACE) == 0)
                return 0;
        int s = errno;
        unlinkat(pfd, tmp, AT_REMOVEDIR);
        if (s == EINVAL)                          /* no RENAME_NOREPLACE here */
                return mkdirat(pfd, name, mode);
        errno = s;
        return -1;
}

/* set_opaque() - the store's opaque marker (opts.ovl_prefix) on the
 * directory open as @fd (an O_PATH fd is fine); without a prefix,
 * trusted.overlay.opaque=y, user.overlay.opaque when not root. */
static int set_opaque(struct x *x, int fd)
{
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (x->opaque_name[0])
                return setxattr(proc, x->opaque_name, "y", 1, 0) == 0 ? 0
                                                                      : sysfail(x, errno, "mark directory opaque");
        if (setxattr(proc, "trusted.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        if (!x->is_root && errno == EPERM && setxattr(proc, "user.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        return sysfail(x, errno, "mark directory opaque");
}

/* whiteout_to_dir() - UNPACK_OVERLAY: @name below @at is a whiteout this
 * layer made (a 0/0 character device: the layer started empty) and an entry
 * now needs a directory there: "delete, then create again" is an opaque
 * directory in overlayfs terms.  Returns 1 when converted, 0 when @name is
 * not a whiteout, or -errno. */
static int whiteout_to_dir(struct x *x, int at, const char *name, mode_t mode)
{
        struct stat st;
        if (x->mode != UNPACK_OVERLAY || fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISCHR(st.st_mode) || st.st_rdev != 0)
                return 0;
        if (unlinkat(at, name, 0) < 0 || mkdirat(at, name, mode) < 0)
                return sysfail(x, errno, "replace a whiteout by a directory");
        int fd = openat2_safe(at, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return resolve_fail(x, -fd, "path");
        int r = set_opaque(x, fd);
        close(fd);
        if (r < 0)
                return r;
        x->st->opaques++;
        return 1;
}

/* walk_create() - open @dir (a clean relative path) component by component,
 * making missing directories (0755, the caller's owner), never following. */
static int walk_create(struct x *x, const char *dir, size_t len)
{
        char buf[PATH_MAX];
        memcpy(buf, dir, len);
        buf[len] = '\0';
        int fd = -1;
        char *comp = buf;
        for (;;) {
                char *slash = strchr(comp, '/');
                if (slash)
                        *slash = '\0';
                int at = fd >= 0 ? fd : x->root;
                int nfd = openat2_safe(at, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (nfd == -ENOTDIR) {
                        int w = whiteout_to_dir(x, at, comp, 0755);
                        if (w < 0) {
                                if (fd >= 0)
                                        close(fd);
                                return w;
                        }
                        if (w > 0)
                                nfd = openat2_safe(at, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
                }
                if (nfd == -ENOENT) {
                        if (mkdir_at(x, at, comp, 0755) < 0 && errno != EEXIST) {
                                int s = errno;
                                if (fd >= 0)
                                        close(fd);
                                return sysfail(x, s, "create parent directory");
                        }
                        nfd = openat2_safe(at, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
                }
                if (fd >= 0)
                        close(fd);
                if (nfd < 0)
                        return resolve_fail(x, -nfd, "path");
                fd = nfd;
                if (!slash)
                        return fd;
                comp = slash + 1;
        }
}

/* get_parent() - an O_PATH fd of the current entry's parent directory,
 * created when missing.  The fd belongs to the cache (or is the root). */
static int get_parent(struct x *x, bool create, bool *sgid, gid_t *gid)
{
        if (x->dlen == 0) {
                *sgid = x->rsgid;
                *gid = x->rgid;
                return x->root;
        }
        if (x->cstale)
                cache_drop(x);
        struct unpack_pdir *d = unpack_dircache_get(&x->dc, x->path, x->dlen);
        if (d) {
                *sgid = d->sgid;
                *gid = d->gid;
                return d->fd;
        }
        char dir[PATH_MAX];
        memcpy(dir, x->path, x->dlen);
        dir[x->dlen] = '\0';
        int fd = openat2_safe(x->root, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -EMFILE || fd == -ENFILE) {     /* the cache's fds are the first to go */
                cache_drop(x);
                fd = openat2_safe(x->root, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        if ((fd == -ENOENT || fd == -ENOTDIR) && create)
                fd = walk_create(x, dir, x->dlen);     /* refuses what is no whiteout */
        else if (fd < 0)
                return resolve_fail(x, -fd, "path");
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int s = errno;
                close(fd);
                return sysfail(x, s, "stat parent directory");
        }
        d = unpack_dircache_put(&x->dc, x->path, x->dlen, fd, (st.st_mode & S_ISGID) != 0, st.st_gid);
        *sgid = d->sgid;
        *gid = d->gid;
        return fd;
}

/* remove_existing() - make room for a new entry at @name below @pfd. */
static int remove_existing(struct x *x, int pfd, const char *name)
{
        if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR)
                return sysfail(x, errno, "replace existing entry");
        /* a directory goes with its whole tree: cached parents may be in
         * it.  Dropped at the next lookup: @pfd may be a cached fd. */
        x->cstale = true;
        struct err e2 = { 0 };
        int r = rm_rf_at(pfd, name, &e2);
        if (r < 0)
                return refuse(x, -r, "replace existing directory: %s", e2.msg);
        return 0;
}

/* ------------------------------------------------------------ metadata */

static bool need_chown(struct x *x, uid_t uid, gid_t gid, bool psgid, gid_t pgid)
{
        if (!x->is_root || x->owner_xattr)
                return false;
        return uid != x->euid || gid != (psgid ? pgid : x->egid);
}

static bool need_chmod(struct x *x, mode_t mode, bool isdir, bool psgid)
{
        mode_t got = (mode & 0777 & ~x->umask) | (isdir && psgid ? S_ISGID : 0);
        return (mode & 07777) != got;
}

/* override_owner() - opts.owner_xattr: the entry's owner and mode, which one
 * mapped id cannot hold, in containers-storage's xattr on @fd (or, fd < 0,
 * @pfd/@name unfollowed); nothing when the file says it already. */
static int override_owner(struct x *x, int fd, int pfd, const char *name)
{
        struct archive_entry *ent = x->ent;
        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        mode_t mode = archive_entry_perm(ent) & 07777;
        mode_t ft = archive_entry_filetype(ent);
        if (!x->owner_xattr || (uid == 0 && gid == 0 && !(mode & 07000)))
                return 0;
        const char *type = ft == AE_IFDIR ? "dir" : ft == AE_IFLNK ? "symlink" : ft == AE_IFIFO ? "pipe" : "file";
        char v[96], proc[64 + NAME_MAX];
        int n = snprintf(v, sizeof v, "%u:%u:0%o:%s", (unsigned)uid, (unsigned)gid, (unsigned)mode, type);
        int r;
        if (fd >= 0) {
                r = fsetxattr(fd, OVERRIDE_STAT_XATTR, v, (size_t)n, 0);
        } else {
                snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", pfd, name);
                r = lsetxattr(proc, OVERRIDE_STAT_XATTR, v, (size_t)n, 0);
        }
        return r < 0 && errno != EPERM ? sysfail(x, errno, "keep the owner in " OVERRIDE_STAT_XATTR) : 0;
}

static void entry_times(struct archive_entry *ent, struct timespec ts[2])
{
        ts[1].tv_sec = archive_entry_mtime(ent);
        ts[1].tv_nsec = archive_entry_mtime_nsec(ent);
        if (archive_entry_atime_is_set(ent)) {
                ts[0].tv_sec = archive_entry_atime(ent);
                ts[0].tv_nsec = archive_entry_atime_nsec(ent);
        } else {
                ts[0] = ts[1];
        }
}

static bool overlay_xattr(const char *name)
{
        return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

/* apply_xattrs() - the entry's xattrs on @fd, or (fd < 0) on @pfd/@name
 * without following it. */
static int apply_xattrs(struct x *x, int fd, int pfd, const char *name)
{
        if (archive_entry_xattr_reset(x->ent) == 0)
                return 0;
        const char *k;
        const void *v;
        size_t n;
        char proc[64 + NAME_MAX];
        if (fd < 0)
                snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", pfd, name);
        while (archive_entry_xattr_next(x->ent, &k, &v, &n) == ARCHIVE_OK) {
                if (overlay_xattr(k) || (x->owner_xattr && !strcmp(k, OVERRIDE_STAT_XATTR))) {
                        /* would let a layer forge overlayfs metadata
                         * (redirect, metacopy, opaque): never applied */
                        x->st->xattrs_dropped++;
                        continue;
                }
                int r = fd >= 0 ? fsetxattr(fd, k, v, n, 0) : lsetxattr(proc, k, v, n, 0);
                if (r < 0) {
                        if (!x->is_root && (errno == EPERM || errno == ENOTSUP))
                                continue;
                        if (x->rootless && errno == EPERM && !strncmp(k, "trusted.", 8)) {
                                x->st->xattrs_dropped++;     /* root's namespace only */
                                continue;
                        }
                        char q[UNPACK_QUOTE_MAX];
                        return refuse(x, errno, "set xattr \"%s\": %s", unpack_quote(k, q, sizeof q),
                                      strerror(errno));
                }
                x->st->xattrs++;
        }
        return 0;
}

static void dirtime_add(struct x *x, const char *path, size_t len)
{
        if (x->ndt == x->capdt) {
                x->capdt = x->capdt ? x->capdt * 2 : 256;
                x->dt = xrealloc(x->dt, x->capdt * sizeof *x->dt);
        }
        struct dirtime *d = &x->dt[x->ndt++];
        d->path = xstrndup(path, len);
        entry_times(x->ent, d->ts);
}

/* ------------------------------------------------------------- entries */

static int do_file(struct x *x, int pfd, bool psgid, gid_t pgid)
{
        struct archive_entry *ent = x->ent;
        mode_t mode = archive_entry_perm(ent);
        int fd;
        for (int tries = 0;; tries++) {
                fd = openat(pfd, x->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || tries > 0)
                        return sysfail(x, errno, "create file");
                int r = remove_existing(x, pfd, x->base);
                if (r < 0)
                        return r;
        }
        _cleanup_close_ int cfd = fd;
        int64_t size = archive_entry_size(ent);
        int64_t end = 0;
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(x->a, &buf, &len, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return stream_fail(x, "read data");
                const char *p = buf;
                while (len > 0) {
                        ssize_t w = pwrite(fd, p, len, off);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return sysfail(x, errno, "write file");
                        }
                        p += w;
                        off += w;
                        len -= (size_t)w;
                }
                if (off > end)
                        end = off;
        }
        if (size > end && ftruncate(fd, size) < 0)       /* a trailing hole stays a hole */
                return sysfail(x, errno, "extend sparse file");
        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        if (need_chown(x, uid, gid, psgid, pgid) && fchown(fd, uid, gid) < 0)
                return sysfail(x, errno, "chown");
        if (need_chmod(x, mode, false, false) && fchmod(fd, mode & 07777) < 0)
                return sysfail(x, errno, "chmod");
        int r = override_owner(x, fd, -1, NULL);
        if (r == 0)
                r = apply_xattrs(x, fd, -1, NULL);
        if (r < 0)
                return r;
        struct timespec ts[2];
        entry_times(ent, ts);
        if (futimens(fd, ts) < 0)
                return sysfail(x, errno, "set times");
        x->st->files++;
        x->st->file_bytes += (uint64_t)(size > 0 ? size : 0);
        return 0;
}

static int do_dir(struct x *x, int pfd, bool psgid, gid_t pgid)
{
        struct archive_entry *ent = x->ent;
        mode_t mode = archive_entry_perm(ent);
        bool existed = false, opaque = false;
        if (mkdir_at(x, pfd, x->base, mode & 0777) < 0) {
                if (errno != EEXIST)
                        return sysfail(x, errno, "create directory");
                struct stat st;
                if (fstatat(pfd, x->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return sysfail(x, errno, "stat existing entry");
                if (S_ISDIR(st.st_mode)) {
                        existed = true;         /* a directory over a directory: merge */
                } else {
                        /* over this layer's own whiteout: deleted, then made
                         * again = an opaque directory (see whiteout_to_dir()) */
                        opaque = x->mode == UNPACK_OVERLAY && S_ISCHR(st.st_mode) && st.st_rdev == 0;
                        int r = remove_existing(x, pfd, x->base);
                        if (r < 0)
                                return r;
                        if (mkdir_at(x, pfd, x->base, mode & 0777) < 0)
                                return sysfail(x, errno, "create directory");
                }
        }
        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        bool chown_ = existed ? x->is_root : need_chown(x, uid, gid, psgid, pgid);
        bool chmod_ = existed || need_chmod(x, mode, true, psgid);
        bool xattrs = archive_entry_xattr_count(ent) > 0 || x->owner_xattr;
        if (chown_ || chmod_ || xattrs || opaque) {
                _cleanup_close_ int fd = openat(pfd, x->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return sysfail(x, errno, "open directory");
                if (opaque) {
                        int r = set_opaque(x, fd);
                        if (r < 0)
                                return r;
                        x->st->opaques++;
                }
                if (chown_ && fchown(fd, uid, gid) < 0)
                        return sysfail(x, errno, "chown");
                if (chmod_ && fchmod(fd, mode & 07777) < 0)
                        return sysfail(x, errno, "chmod");
                int r = override_owner(x, fd, -1, NULL);
                if (r == 0)
                        r = apply_xattrs(x, fd, -1, NULL);
                if (r < 0)
                        return r;
        }
        if (existed)
                x->cstale = true;       /* the cache may hold its old setgid bit and group */
        dirtime_add(x, x->path, x->plen);
        x->st->dirs++;
        return 0;
}

/* nofollow_meta() - owner, mode, xattrs and times of a just-made symlink,
 * device or FIFO, by name below @pfd, never following it. */
static int nofollow_meta(struct x *x, int pfd, bool psgid, gid_t pgid, bool chmod_ok)
{
        struct archive_entry *ent = x->ent;
        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        mode_t mode = archive_entry_perm(ent);
        if (need_chown(x, uid, gid, psgid, pgid) &&
            fchownat(pfd, x->base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return sysfail(x, errno, "chown");
        /* fchmodat() follows, but @base was just made by us and is not a symlink */
        if (chmod_ok && need_chmod(x, mode, false, false) && fchmodat(pfd, x->base, mode & 07777, 0) < 0)
                return sysfail(x, errno, "chmod");
        int r = override_owner(x, -1, pfd, x->base);
        if (r == 0)
                r = apply_xattrs(x, -1, pfd, x->base);
        if (r < 0)
                return r;
        struct timespec ts[2];
        entry_times(ent, ts);
        if (utimensat(pfd, x->base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return sysfail(x, errno, "set times");
        return 0;
}

static int do_symlink(struct x *x, int pfd, bool psgid, gid_t pgid)
{
        const char *target = archive_entry_symlink(x->ent);
        if (!target || !*target)
                return refuse(x, EPERM, "symlink with an empty target");
        for (int tries = 0;; tries++) {
                if (symlinkat(target, pfd, x->base) == 0)
                        break;
                if (errno != EEXIST || tries > 0)
                        return sysfail(x, errno, "create symlink");
                int r = remove_existing(x, pfd, x->base);
                if (r < 0)
                        return r;
        }
        x->st->symlinks++;
        return nofollow_meta(x, pfd, psgid, pgid, false);
}

static int do_node(struct x *x, int pfd, bool psgid, gid_t pgid, mode_t type)
{
        struct archive_entry *ent = x->ent;
        dev_t dev = 0;
        if (type != S_IFIFO) {
                unsigned ma = (unsigned)archive_entry_rdevmajor(ent), mi = (unsigned)archive_entry_rdevminor(ent);
                if (!x->is_root || x->rootless)
                        return refuse(x, EPERM, "%s device %u:%u: device nodes need root%s",
                                      type == S_IFCHR ? "character" : "block", ma, mi,
                                      x->rootless ? " (a rootless store cannot hold them)" : "");
                dev = makedev(ma, mi);
        }
        for (int tries = 0;; tries++) {
                if (mknodat(pfd, x->base, type | (archive_entry_perm(ent) & 0777), dev) == 0)
                        break;
                if (errno != EEXIST || tries > 0)
                        return sysfail(x, errno, type == S_IFIFO ? "create fifo" : "create device node");
                int r = remove_existing(x, pfd, x->base);
                if (r < 0)
                        return r;
        }
        if (type == S_IFIFO)
                x->st->fifos++;
        else
                x->st->devices++;
        return nofollow_meta(x, pfd, psgid, pgid, true);
}

static int do_hardlink(struct x *x, int pfd, const char *link)
{
        char target[PATH_MAX];
        const char *why;
        int n = unpack_clean_path(link, target, &why);
        if (n < 0)
                return refuse(x, EPERM, "hard link target: %s", why);
        if (n == 0)
                return refuse(x, EPERM, "hard link to the layer root");
        if ((size_t)n == x->plen && !memcmp(target, x->path, x->plen)) {
                x->st->hardlinks++;          /* a link to itself: nothing to do */
                return 0;
        }
        const char *tbase = strrchr(target, '/');
        _cleanup_close_ int tfd = -1;
        if (tbase) {
                *(char *)tbase = '\0';
                tbase++;
                tfd = openat2_safe(x->root, target, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (tfd == -ENOENT)
                        return refuse(x, EPERM, "hard link target does not exist in the layer");
                if (tfd < 0)
                        return resolve_fail(x, -tfd, "hard link target");
        } else {
                tbase = target;
        }
        const char *wt;
        if (unpack_whiteout(tbase, &wt) != UNPACK_WH_NONE)
                return refuse(x, EPERM, "hard link to a whiteout");
        int at = tfd >= 0 ? tfd : x->root;
        for (int tries = 0;; tries++) {
                if (linkat(at, tbase, pfd, x->base, 0) == 0)
                        break;
                if (errno == ENOENT)
                        return refuse(x, EPERM, "hard link target does not exist in the layer");
                if (errno == EPERM)
                        return refuse(x, EPERM, "hard link target is a directory");
                if (errno != EEXIST || tries > 0)
                        return sysfail(x, errno, "create hard link");
                int r = remove_existing(x, pfd, x->base);
                if (r < 0)
                        return r;
        }
        x->st->hardlinks++;
        return 0;
}

static bool made_here(struct x *x, const char *name)
{
        char p[PATH_MAX];
        int n = x->dlen ? snprintf(p, sizeof p, "%.*s/%s", (int)x->dlen, x->path, name)
                        : snprintf(p, sizeof p, "%s", name);
        return n > 0 && (size_t)n < sizeof p && unpack_strset_has(&x->made, p, (size_t)n);
}

static int clear_lower(struct x *x, int dfd, const char *rel);

/* do_whiteout() - .wh.@target (invariant (3)): hides what the layers below
 * have at @target.  When this layer made @target itself, it stays; if it is
 * a directory, what the layers below had inside it is hidden too (opaque). */
static int do_whiteout(struct x *x, int pfd, const char *target)
{
        x->st->whiteouts++;
        if (x->mode == UNPACK_OVERLAY) {
                if (mknodat(pfd, target, S_IFCHR, makedev(0, 0)) == 0)
                        return 0;
                if (errno != EEXIST)
                        return sysfail(x, errno, "create whiteout");
        } else if (!made_here(x, target)) {
                return remove_existing(x, pfd, target);
        }
        int fd = openat2_safe(pfd, target, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd == -ENOTDIR || fd == -ELOOP)
                return 0;                   /* a file, symlink...: hides the lower one alone */
        if (fd < 0)
                return resolve_fail(x, -fd, "whiteout target");
        int r;
        if (x->mode == UNPACK_OVERLAY) {
                r = set_opaque(x, fd);
                x->st->opaques += r == 0;
        } else {
                char rel[PATH_MAX];
                int n = x->dlen ? snprintf(rel, sizeof rel, "%.*s/%s", (int)x->dlen, x->path, target)
                                : snprintf(rel, sizeof rel, "%s", target);
                r = n > 0 && (size_t)n < sizeof rel ? clear_lower(x, fd, rel) : 0;
        }
        close(fd);
        return r;
}

/* clear_lower() - UNPACK_FLATTEN opaque directory @rel (open as @dfd): remove
 * everything below it that this layer did not create, recursively (a lower
 * entry below a directory this layer also lists is hidden too). */
static int clear_lower(struct x *x, int dfd, const char *rel)
{
        DIR *d = opendir_at(dfd, ".");
        if (!d)
                return sysfail(x, errno, "open directory");
        struct dirent *de;
        int r = 0;
        while (r == 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                char p[PATH_MAX];
                int n = *rel ? snprintf(p, sizeof p, "%s/%s", rel, de->d_name)
                             : snprintf(p, sizeof p, "%s", de->d_name);
                if (n < 0 || (size_t)n >= sizeof p)
                        continue;
                if (!unpack_strset_has(&x->made, p, (size_t)n)) {
                        r = remove_existing(x, dfd, de->d_name);
                } else if (de->d_type == DT_DIR) {
                        int cfd = openat(dfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                r = sysfail(x, errno, "open directory");
                        else {
                                r = clear_lower(x, cfd, p);
                                close(cfd);
                        }
                }
        }
        closedir(d);
        return r;
}

static int do_opaque(struct x *x, int pfd)
{
        x->st->opaques++;
        if (x->mode == UNPACK_FLATTEN) {
                char rel[PATH_MAX];
                memcpy(rel, x->path, x->dlen);
                rel[x->dlen] = '\0';
                return clear_lower(x, pfd, rel);
        }
        return set_opaque(x, pfd);
}

static int do_root(struct x *x)
{
        struct archive_entry *ent = x->ent;
        if (archive_entry_filetype(ent) != AE_IFDIR)
                return refuse(x, EPERM, "the layer root is not a directory");
        x->root_seen = true;
        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        if (x->is_root && !x->owner_xattr && fchownat(x->root, "", uid, gid, AT_EMPTY_PATH) < 0)
                return sysfail(x, errno, "chown layer root");
        if (fchmodat(x->root, ".", archive_entry_perm(ent) & 07777, 0) < 0)
                return sysfail(x, errno, "chmod layer root");
        x->rsgid = (archive_entry_perm(ent) & S_ISGID) != 0;
        if (x->is_root)
                x->rgid = gid;
        dirtime_add(x, "", 0);
        x->st->dirs++;
        return 0;
}

static void note_made(struct x *x)
{
        /* the path and its ancestors: an opaque marker keeps them */
        size_t n = x->plen;
        while (n > 0 && unpack_strset_add(&x->made, x->path, n)) {
                while (n > 0 && x->path[n - 1] != '/')
                        n--;
                if (n > 0)
                        n--;
        }
}

static int apply_entry(struct x *x)
{
        struct archive_entry *ent = x->ent;
        const char *why;
        if (unpack_aufs_meta(x->raw))
                return 0;
        int64_t bad;
        mode_t ft = archive_entry_filetype(ent);
        const char *field = unpack_bad_number(archive_entry_uid(ent), archive_entry_gid(ent),
                                              ft == AE_IFCHR || ft == AE_IFBLK,
                                              (uint64_t)archive_entry_rdevmajor(ent),
                                              (uint64_t)archive_entry_rdevminor(ent), &bad);
        if (field)
                return refuse(x, EPERM, "%s %lld does not fit its type (refused, not truncated)", field,
                              (long long)bad);
        if (x->max_id && (archive_entry_uid(ent) > x->max_id || archive_entry_gid(ent) > x->max_id)) {
                bool u = archive_entry_uid(ent) > x->max_id;
                return refuse(x, EPERM, "%s %lld is outside the ids this user's namespace maps (0..%u)",
                              u ? "uid" : "gid", (long long)(u ? archive_entry_uid(ent) : archive_entry_gid(ent)),
                              (unsigned)x->max_id);
        }
        int n = unpack_clean_path(x->raw, x->path, &why);
        if (n < 0)
                return refuse(x, EPERM, "%s", why);
        x->plen = (size_t)n;
        if (n == 0)
                return do_root(x);
        const char *slash = strrchr(x->path, '/');
        x->base = slash ? slash + 1 : x->path;
        x->dlen = slash ? (size_t)(slash - x->path) : 0;

        const char *wtarget;
        enum unpack_wh wh = unpack_whiteout(x->base, &wtarget);
        if (wh == UNPACK_WH_BAD)
                return refuse(x, EPERM, "whiteout of an invalid name");
        if (wh == UNPACK_WH_META)
                return 0;

        bool psgid = false;
        gid_t pgid = 0;
        int pfd = get_parent(x, true, &psgid, &pgid);
        if (pfd < 0)
                return pfd;

        int r;
        if (wh == UNPACK_WH_FILE)
                return do_whiteout(x, pfd, wtarget);
        if (wh == UNPACK_WH_OPAQUE)
                return do_opaque(x, pfd);

        const char *link = archive_entry_hardlink(ent);
        if (link) {
                r = do_hardlink(x, pfd, link);
        } else {
                switch (archive_entry_filetype(ent)) {
                case AE_IFREG: r = do_file(x, pfd, psgid, pgid); break;
                case AE_IFDIR: r = do_dir(x, pfd, psgid, pgid); break;
                case AE_IFLNK: r = do_symlink(x, pfd, psgid, pgid); break;
                case AE_IFCHR: r = do_node(x, pfd, psgid, pgid, S_IFCHR); break;
                case AE_IFBLK: r = do_node(x, pfd, psgid, pgid, S_IFBLK); break;
                case AE_IFIFO: r = do_node(x, pfd, psgid, pgid, S_IFIFO); break;
                default:
                        return refuse(x, EPERM, "unsupported entry type 0%o", archive_entry_filetype(ent));
                }
        }
        if (r == 0 && x->mode == UNPACK_FLATTEN)
                note_made(x);
        return r;
}

/* --------------------------------------------------------------- driver */

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
        struct x *x = ud;
        ssize_t n = unpack_source_read(x->src, buf);
        if (n < 0) {
                const char *m = unpack_source_error(x->src);
                archive_set_error(a, (int)-n, "%s", m ? m : strerror((int)-n));
                return -1;
        }
        return n;
}

static mode_t read_umask(void)
{
        _cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        char buf[4096];
        ssize_t n = fd >= 0 ? read_full(fd, buf, sizeof buf - 1) : -1;
        if (n > 0) {
                buf[n] = '\0';
                const char *u = strstr(buf, "\nUmask:");
                if (u)
                        return (mode_t)strtoul(u + 7, NULL, 8) & 0777;
        }
        return 022;
}

uint64_t unpack_max_expanded(const struct unpack_opts *o)
{
        if (o && o->max_expanded)
                return o->max_expanded;
        const char *env = getenv("STRATA_MAX_LAYER_BYTES");
        if (env && *env) {
                char *end;
                unsigned long long v = strtoull(env, &end, 10);
                unsigned long long mul = 1;
                switch (*end) {
                case 'k': case 'K': mul = 1ULL << 10; end++; break;
                case 'm': case 'M': mul = 1ULL << 20; end++; break;
                case 'g': case 'G': mul = 1ULL << 30; end++; break;
                case 't': case 'T': mul = 1ULL << 40; end++; break;
                }
                if (v > 0 && (*end == '\0' || !strcmp(end, "iB") || !strcmp(end, "B")))
                        return v * mul;
        }
        return UNPACK_DEFAULT_MAX_EXPANDED;
}

/* count_declared() - invariant (6) for what the files will be: a sparse
 * entry carries a few KiB and declares gigabytes of holes; the ceiling
 * counts the declared size (archive_entry_size() is the real size of a
 * sparse file), before anything is written. */
static int count_declared(struct x *x)
{
        int64_t size = archive_entry_size(x->ent);
        if (size < 0 || (uint64_t)size > x->max_bytes || x->declared + (uint64_t)size > x->max_bytes)
                return refuse(x, EFBIG, "files declare more than the limit of %llu bytes "
                              "(%llu before this entry of %lld; raise STRATA_MAX_LAYER_BYTES)",
                              (unsigned long long)x->max_bytes, (unsigned long long)x->declared,
                              (long long)size);
        x->declared += (uint64_t)size;
        return 0;
}

static int finish_dirs(struct x *x)
{
        /* Setting a directory's times does not touch its parent's, so the
         * order only matters for a directory listed twice: in tar order, the
         * later entry wins. */
        for (size_t i = 0; i < x->ndt; i++) {
                struct dirtime *d = &x->dt[i];
                if (!d->path[0]) {
                        if (utimensat(x->root, ".", d->ts, 0) < 0)
                                return refuse(x, errno, "set times of the layer root: %s", strerror(errno));
                        continue;
                }
                int fd = openat2_safe(x->root, d->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                        continue;           /* replaced or removed by a later entry */
                if (fd < 0)
                        return refuse(x, -fd, "set times of \"%s\": %s", d->path, strerror(-fd));
                char proc[64];
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                int r = utimensat(AT_FDCWD, proc, d->ts, 0);
                int s = errno;
                close(fd);
                if (r < 0)
                        return refuse(x, s, "set times of \"%s\": %s", d->path, strerror(s));
        }
        return 0;
}

/* spread_hint() - mark the layer root as a "top directory" for ext4's Orlov
 * allocator (chattr +T): its subdirectories then go to block groups with
 * the fewest directories instead of the root's own group.  On a filesystem
 * without a journal, ext4 skips inodes freed in the last ~5 minutes one by
 * one, so extracting where a store was just removed (what every cold-pull
 * benchmark does) costs up to a millisecond per inode in the old groups; in
 * fresh groups it is back to microseconds.  A hint only: errors ignored. */
static bool spread_hint(int root)
{
        const char *env = getenv("STRATA_UNPACK_TOPDIR");
        if (env && !strcmp(env, "0"))
                return false;
        int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        int flags = 0;
        bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
        if (ok && !(flags & FS_TOPDIR_FL)) {
                flags |= FS_TOPDIR_FL;
                ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
        }
        close(fd);
        return ok;
}

static void x_free(struct x *x)
{
        unpack_dircache_free(&x->dc);
        for (size_t i = 0; i < x->ndt; i++)
                free(x->dt[i].path);
        free(x->dt);
        unpack_strset_free(&x->made);
        if (x->a)
                archive_read_free(x->a);
        unpack_source_free(x->src);
}

static int run(struct x *x, const struct unpack_opts *o, char diff_id[DIGEST_STR_LEN + 1])
{
        struct stat rst;
        if (fstat(x->root, &rst) < 0)
                return refuse(x, errno, "stat destination: %s", strerror(errno));
        if (!S_ISDIR(rst.st_mode))
                return refuse(x, ENOTDIR, "destination is not a directory");
        x->rsgid = (rst.st_mode & S_ISGID) != 0;
        x->rgid = rst.st_gid;
        x->topdir = spread_hint(x->root);

        x->a = archive_read_new();
        if (!x->a)
                return refuse(x, ENOMEM, "libarchive: out of memory");
        archive_read_support_format_tar(x->a);     /* ustar, pax, GNU; no filters */
        if (archive_read_open(x->a, x, NULL, read_cb, NULL) != ARCHIVE_OK) {
                if (unpack_source_error(x->src))
                        return refuse(x, unpack_source_errno(x->src), "%s", unpack_source_error(x->src));
                /* an empty stream is an empty layer */
                if (unpack_source_real_end(x->src) == UINT64_MAX) {
                        uint64_t in, out;
                        unpack_source_totals(x->src, &in, &out);
                        if (out != 0)
                                return stream_fail(x, "not a tar archive");
                }
        } else {
                for (;;) {
                        x->raw = NULL;
                        int r = archive_read_next_header(x->a, &x->ent);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                                char what[UNPACK_QUOTE_MAX + 64] = "read tar header", q[UNPACK_QUOTE_MAX];
                                if (x->st->entries)
                                        snprintf(what, sizeof what, "read tar header after entry \"%s\"",
                                                 unpack_quote(x->path, q, sizeof q));
                                return stream_fail(x, what);
                        }
                        x->raw = archive_entry_pathname(x->ent);
                        if (!x->raw)
                                return refuse(x, EPERM, "entry without a name");
                        x->st->entries++;
                        x->last_end = (uint64_t)archive_filter_bytes(x->a, 0);
                        x->last_end_exact = archive_entry_sparse_count(x->ent) == 0;
                        if (archive_entry_filetype(x->ent) == AE_IFREG && !archive_entry_hardlink(x->ent)) {
                                x->last_end += (uint64_t)archive_entry_size(x->ent);
                                int dr = count_declared(x);
                                if (dr < 0)
                                        return dr;
                        }
                        int ar = apply_entry(x);
                        if (ar < 0)
                                return ar;
                }
                /* invariant (7): the zeros we added may complete the end of
                 * the stream, never an entry */
                uint64_t real = unpack_source_real_end(x->src);
                if (real != UINT64_MAX && x->last_end_exact && x->last_end > real) {
                        x->raw = x->path;
                        return refuse(x, EBADMSG, "tar stream truncated inside this entry");
                }
        }
        x->raw = NULL;
        if (unpack_source_drain(x->src) < 0)
                return refuse(x, unpack_source_errno(x->src), "%s", unpack_source_error(x->src));
        int r = finish_dirs(x);
        if (r < 0)
                return r;
        if (o->mode == UNPACK_OVERLAY && !x->root_seen &&
            (rst.st_mode & 07777) != 0755 && fchmodat(x->root, ".", 0755, 0) < 0)
                return refuse(x, errno, "chmod layer root: %s", strerror(errno));
        unpack_source_finish(x->src, diff_id);
        if (o->sync && syncfs(x->root) < 0)
                return refuse(x, errno, "syncfs: %s", strerror(errno));
        return 0;
}

int unpack_layer(unpack_read_fn rd, void *ctx, int dest_dirfd, const struct unpack_opts *o,
                 char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e)
{
        static const struct unpack_opts defaults;
        struct unpack_stats dummy;
        uint64_t t0 = now_ns();
        if (!o)
                o = &defaults;
        if (!st)
                st = &dummy;
        memset(st, 0, sizeof *st);
        struct x x = {
                .root = dest_dirfd,
                .mode = o->mode,
                .layer = o->name ? o->name : "layer",
                .st = st,
                .e = e,
                .euid = geteuid(),
                .egid = getegid(),
        };
        x.is_root = x.euid == 0;
        x.rootless = o->rootless;
        x.owner_xattr = o->owner_xattr;
        x.max_id = o->max_id;
        if (o->ovl_prefix)
                snprintf(x.opaque_name, sizeof x.opaque_name, "%sopaque", o->ovl_prefix);
        x.umask = read_umask();
        int comp = unpack_media_comp(o->media_type);
        if (comp < 0) {
                char q[UNPACK_QUOTE_MAX];
                return err_setx(e, EMEDIUMTYPE, "%s: unsupported layer media type \"%s\"", x.layer,
                                unpack_quote(o->media_type, q, sizeof q));
        }
        const char *th = getenv("STRATA_UNPACK_THREADS");
        bool threaded = !(th && !strcmp(th, "0"));
        x.max_bytes = unpack_max_expanded(o);
        int r = unpack_source_new(rd, ctx, comp, x.max_bytes, threaded, &x.src, e);
        if (r < 0)
                return err_wrap(e, "%s", x.layer);
        unpack_dircache_init(&x.dc);
        r = run(&x, o, diff_id);
        unpack_source_stop(x.src);       /* on an error it may still be running */
        unpack_source_totals(x.src, &st->blob_bytes, &st->bytes);
        st->compression = unpack_comp_name(unpack_source_comp(x.src));
        x_free(&x);
        st->elapsed_ns = now_ns() - t0;
        return r;
}

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
        int fd = *(int *)ctx;
        for (;;) {
                ssize_t r = read(fd, buf, n);
                if (r >= 0)
                        return r;
                if (errno != EINTR)
                        return -errno;
        }
}

int unpack_layer_fd(int fd, int dest_dirfd, const struct unpack_opts *o,
                    char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e)
{
        return unpack_layer(fd_read, &fd, dest_dirfd, o, diff_id, st, e);
}

char *unpack_stats_json(const struct unpack_stats *st, const char *diff_id)
{
        return xasprintf("{\"diff_id\":\"%s\",\"compression\":\"%s\",\"entries\":%llu,\"files\":%llu,"
                         "\"dirs\":%llu,\"symlinks\":%llu,\"hardlinks\":%llu,\"devices\":%llu,"
                         "\"fifos\":%llu,\"whiteouts\":%llu,\"opaques\":%llu,\"bytes\":%llu,"
                         "\"file_bytes\":%llu,\"blob_bytes\":%llu,\"xattrs\":%llu,"
                         "\"xattrs_dropped\":%llu}",
                         diff_id ? diff_id : "", st->compression ? st->compression : "none",
                         (unsigned long long)st->entries, (unsigned long long)st->files,
                         (unsigned long long)st->dirs, (unsigned long long)st->symlinks,
                         (unsigned long long)st->hardlinks, (unsigned long long)st->devices,
                         (unsigned long long)st->fifos, (unsigned long long)st->whiteouts,
                         (unsigned long long)st->opaques, (unsigned long long)st->bytes,
                         (unsigned long long)st->file_bytes, (unsigned long long)st->blob_bytes,
                         (unsigned long long)st->xattrs, (unsigned long long)st->xattrs_dropped);
}
