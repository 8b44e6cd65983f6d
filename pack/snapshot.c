/* The writable layer -> a store layer directory (PACK invariant 1).
 *
 * A walk of the upper directory that copies each entry into the destination
 * in the store's layer format: whiteouts and opaque marks stay what they are
 * (the fs writes the kernel's form, which is the store's), overlay's and
 * strata's own attributes go, a metadata-only file gets its data from the
 * lower layer below it, the names of one file stay hard links of one file.
 * Lower names of an indexed hard link that were never linked up (the index
 * still counts them) are found by a walk of the merged lower tree and linked
 * too, since the mount shows the index's data under them. */
#include "pack-internal.h"
#include "util/userns.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define XATTR_LIST_MAX_ (64u << 10)
#define COPY_CHUNK (1u << 20)

struct snap {
        int upper, dest, index;
        const int *lowers;
        size_t n_lowers;
        bool is_root;
        bool userxattr;            /* a rootless store's (util/userns.h): user.overlay.* */
        struct pack_stats *st;
        struct inomap links;       /* upper (dev, ino) -> dest path of its first name */
        const char *const *skip;
        bool move;                 /* regular files renamed out of the upper, not copied */
        struct err *e;
};

bool pack_xattr_private(const char *name)
{
        return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

/* pack_fd_path() - "/proc/self/fd/N": the xattr calls on it reach the inode
 * of an O_PATH descriptor, symlinks and devices included. */
void pack_fd_path(int fd, char out[32])
{
        snprintf(out, 32, "/proc/self/fd/%d", fd);
}

int pack_xattr_list(int fd, struct buf *names, struct err *e)
{
        char p[32];
        pack_fd_path(fd, p);
        buf_reset(names);
        for (;;) {
                ssize_t n = listxattr(p, NULL, 0);
                if (n < 0)
                        return errno == ENOTSUP ? 0 : err_set(e, errno, "list xattrs");
                if (n == 0)
                        return 0;
                if ((size_t)n > XATTR_LIST_MAX_)
                        return err_setx(e, EFBIG, "list xattrs: more than %u bytes", XATTR_LIST_MAX_);
                char *tmp = xmalloc((size_t)n);
                ssize_t k = listxattr(p, tmp, (size_t)n);
                if (k < 0 && errno == ERANGE) {
                        free(tmp);
                        continue;
                }
                if (k < 0) {
                        free(tmp);
                        return err_set(e, errno, "list xattrs");
                }
                buf_append(names, tmp, (size_t)k);
                free(tmp);
                return 0;
        }
}

int pack_xattr_get(int fd, const char *name, struct buf *val, struct err *e)
{
        char p[32];
        pack_fd_path(fd, p);
        buf_reset(val);
        for (;;) {
                ssize_t n = getxattr(p, name, NULL, 0);
                if (n < 0)
                        return err_set(e, errno, "get xattr %s", name);
                if ((size_t)n > XATTR_LIST_MAX_)
                        return err_setx(e, EFBIG, "xattr %s: more than %u bytes", name, XATTR_LIST_MAX_);
                char *tmp = xmalloc((size_t)n + 1);
                ssize_t k = getxattr(p, name, tmp, (size_t)n);
                if (k < 0 && errno == ERANGE) {
                        free(tmp);
                        continue;
                }
                if (k < 0) {
                        free(tmp);
                        return err_set(e, errno, "get xattr %s", name);
                }
                buf_append(val, tmp, (size_t)k);
                free(tmp);
                return 0;
        }
}

bool pack_has_xattr(int fd, const char *name, const char *want)
{
        char p[32], v[8];
        pack_fd_path(fd, p);
        ssize_t n = getxattr(p, name, v, sizeof v);
        return n >= 0 && (!want || ((size_t)n == strlen(want) && !memcmp(v, want, (size_t)n)));
}

bool pack_is_opaque(int fd)
{
        return pack_has_xattr(fd, "trusted.overlay.opaque", "y") || pack_has_xattr(fd, "user.overlay.opaque", "y");
}

/* Copy the attributes that are not overlay's from @from to @to (both O_PATH). */
static int copy_xattrs(struct snap *s, int from, int to, const char *rel)
{
        struct buf names = BUF_INIT(XATTR_LIST_MAX_), val = BUF_INIT(XATTR_LIST_MAX_);
        int r = pack_xattr_list(from, &names, s->e);
        char tp[32];
        pack_fd_path(to, tp);
        for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1) {
                const char *n = names.data + off;
                if (pack_xattr_private(n))
                        continue;
                r = pack_xattr_get(from, n, &val, s->e);
                if (r >= 0 && setxattr(tp, n, val.data ? val.data : "", val.len, 0) < 0)
                        r = err_set(s->e, errno, "set xattr %s", n);
        }
        buf_free(&names);
        buf_free(&val);
        return r < 0 ? err_wrap(s->e, "%s", rel) : 0;
}

static int set_opaque(struct snap *s, int fd, const char *rel)
{
        char p[32];
        pack_fd_path(fd, p);
        if (!s->userxattr && setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        if ((s->userxattr || (!s->is_root && errno == EPERM)) && setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        return err_set(s->e, errno, "%s: mark opaque", rel);
}

/* Owner, then mode (chown clears setuid), then times; not for symlinks' mode. */
static int copy_meta(struct snap *s, const char *rel, const struct stat *st)
{
        if (fchownat(s->dest, rel, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return err_set(s->e, errno, "%s: chown", rel);
        if (!S_ISLNK(st->st_mode) && fchmodat(s->dest, rel, st->st_mode & 07777, 0) < 0)
                return err_set(s->e, errno, "%s: chmod", rel);
        return 0;
}

static int copy_times(struct snap *s, const char *rel, const struct stat *st)
{
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if (utimensat(s->dest, rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return err_set(s->e, errno, "%s: set times", rel);
        return 0;
}

int pack_copy_data(int in, int out, struct err *e)
{
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, COPY_CHUNK * 64, 0);
                if (n == 0)
                        return 0;
                if (n > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                        return err_set(e, errno, "copy data");
                break;
        }
        _cleanup_free_ char *b = xmalloc(COPY_CHUNK);
        for (;;) {
                ssize_t n = read(in, b, COPY_CHUNK);
                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return err_set(e, errno, "read data");
                }
                ssize_t w = write_all(out, b, (size_t)n);
                if (w < 0)
                        return err_set(e, (int)-w, "write data");
        }
}

/* The data of a metacopy file: the first regular file of its path below. */
static int open_lower_data(struct snap *s, const char *rel)
{
        for (size_t i = 0; i < s->n_lowers; i++) {
                struct stat lst;
                if (fstatat(s->lowers[i], rel, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(lst.st_mode))
                        return openat(s->lowers[i], rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fstatat(s->lowers[i], rel, &lst, AT_SYMLINK_NOFOLLOW) == 0)
                        break;   /* something else (a whiteout) hides what is below */
        }
        errno = ENOENT;
        return -1;
}

/* A file of the upper, which is discarded afterwards, renamed into the
 * snapshot: its data, owner, mode, times and xattrs go with it; only the
 * overlay's private xattrs are taken off. */
static int move_file(struct snap *s, int fd, const char *rel, const struct stat *st)
{
        struct buf names = BUF_INIT(XATTR_LIST_MAX_);
        int r = pack_xattr_list(fd, &names, s->e);
        for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1)
                if (pack_xattr_private(names.data + off) && fremovexattr(fd, names.data + off) < 0)
                        r = err_set(s->e, errno, "remove xattr %s", names.data + off);
        buf_free(&names);
        if (r < 0)
                return err_wrap(s->e, "%s", rel);
        if (renameat(s->upper, rel, s->dest, rel) < 0)
                return err_set(s->e, errno, "%s: move into the snapshot", rel);
        s->st->files++;
        s->st->file_bytes += (uint64_t)st->st_size;
        return 0;
}

static int snap_file(struct snap *s, const char *rel, const struct stat *st)
{
        if (st->st_nlink > 1) {
                const char *first = inomap_get(&s->links, st->st_dev, st->st_ino);
                if (first) {
                        if (linkat(s->dest, first, s->dest, rel, 0) < 0)
                                return err_set(s->e, errno, "%s: link to %s", rel, first);
                        s->st->hardlinks++;
                        return 0;
                }
                inomap_put(&s->links, st->st_dev, st->st_ino, rel);
        }
        _cleanup_close_ int in = openat(s->upper, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
                return err_set(s->e, errno, "%s: open", rel);
        const char *metacopy = s->userxattr ? "user.overlay.metacopy" : "trusted.overlay.metacopy";
        if (s->move && !pack_has_xattr(in, metacopy, NULL))
                return move_file(s, in, rel, st);
        if (pack_has_xattr(in, metacopy, NULL)) {
                close(in);
                in = open_lower_data(s, rel);
                if (in < 0)
                        return err_set(s->e, errno, "%s: metadata-only copy: open the lower data", rel);
                s->st->metacopies++;
        }
        _cleanup_close_ int out = openat(s->dest, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return err_set(s->e, errno, "%s: create", rel);
        int r = pack_copy_data(in, out, s->e);
        if (r < 0)
                return err_wrap(s->e, "%s", rel);
        _cleanup_close_ int up = openat(s->upper, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (up < 0)
                return err_set(s->e, errno, "%s: open", rel);
        r = copy_meta(s, rel, st);
        if (r >= 0)
                r = copy_xattrs(s, up, out, rel);
        if (r >= 0)
                r = copy_times(s, rel, st);
        s->st->files++;
        s->st->file_bytes += (uint64_t)st->st_size;
        return r;
}

static int snap_dir(struct snap *s, const char *rel);

static int snap_entry(struct snap *s, const char *rel)
{
        struct stat st;
        if (fstatat(s->upper, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : err_set(s->e, errno, "%s: stat", rel);   /* gone meanwhile */
        if (s->skip && S_ISREG(st.st_mode) && st.st_size == 0)
                for (const char *const *k = s->skip; *k; k++)
                        if (!strcmp(*k, rel))
                                return 0;
        s->st->entries++;
        int r = 0;
        switch (st.st_mode & S_IFMT) {
        case S_IFREG:
                return snap_file(s, rel, &st);
        case S_IFDIR:
                if (mkdirat(s->dest, rel, 0700) < 0)
                        return err_set(s->e, errno, "%s: mkdir", rel);
                s->st->dirs++;
                r = snap_dir(s, rel);
                break;
        case S_IFLNK: {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(s->upper, rel, target, PATH_MAX);
                if (n < 0)
                        return err_set(s->e, errno, "%s: readlink", rel);
                target[n] = '\0';
                if (symlinkat(target, s->dest, rel) < 0)
                        return err_set(s->e, errno, "%s: symlink", rel);
                s->st->symlinks++;
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
                if (mknodat(s->dest, rel, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0)
                        return err_set(s->e, errno, "%s: mknod", rel);
                if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
                        s->st->whiteouts++;
                else if (S_ISFIFO(st.st_mode))
                        s->st->fifos++;
                else
                        s->st->devices++;
                break;
        default:
                s->st->entries--;
                return 0;   /* sockets: docker leaves them out too */
        }
        if (r < 0)
                return r;
        _cleanup_close_ int from = openat(s->upper, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int to = openat(s->dest, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (from < 0 || to < 0)
                return err_set(s->e, errno, "%s: open", rel);
        r = copy_meta(s, rel, &st);
        if (r >= 0 && !S_ISLNK(st.st_mode))   /* Linux keeps no user xattrs on symlinks */
                r = copy_xattrs(s, from, to, rel);
        if (r >= 0 && S_ISDIR(st.st_mode) && pack_is_opaque(from)) {
                r = set_opaque(s, to, rel);
                s->st->opaques++;
        }
        if (r >= 0)
                r = copy_times(s, rel, &st);
        return r;
}

/* The children of @rel ("." for the root), in no particular order. */
static int snap_dir(struct snap *s, const char *rel)
{
        char **names = NULL;
        size_t n = 0;
        int r = pack_list_dir(s->upper, rel, &names, &n, s->e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *child = pack_join(rel, names[i]);
                r = snap_entry(s, child);
        }
        pack_names_free(names, n);
        return r;
}

/* ------------------------------------------ indexed lower hard links */

/* One index entry whose lower names are not all linked up. */
struct pending {
        char key[64];              /* "<ino hex>-<ctime>" as fs/index.c names it */
        char *first;               /* dest path of its upper name */
};

static void lower_key(const struct stat *st, char out[64])
{
        snprintf(out, 64, "%" PRIx64 "-%llx.%09ld", (uint64_t)st->st_ino, (unsigned long long)st->st_ctim.tv_sec,
                 st->st_ctim.tv_nsec);
}

struct pend_walk {
        struct snap *s;
        struct pending *p;
        size_t n;
};

static int find_pending(const struct pack_entry *en, void *ctx)
{
        struct pend_walk *w = ctx;
        if (en->layer == 0 || !S_ISREG(en->st.st_mode) || en->st.st_nlink < 2)
                return 0;
        char key[64];
        lower_key(&en->st, key);
        for (size_t i = 0; i < w->n; i++) {
                if (strcmp(w->p[i].key, key))
                        continue;
                /* make the parents the merged view shows, then the link */
                struct snap *s = w->s;
                _cleanup_free_ char *dir = xstrdup(en->path);
                for (char *sl = strchr(dir, '/'); sl; sl = strchr(sl + 1, '/')) {
                        *sl = '\0';
                        struct stat dst;
                        if (fstatat(s->dest, dir, &dst, AT_SYMLINK_NOFOLLOW) < 0) {
                                struct stat lst;
                                int fd = -1;
                                for (size_t k = 0; k < s->n_lowers && fd < 0; k++)
                                        if (fstatat(s->lowers[k], dir, &lst, AT_SYMLINK_NOFOLLOW) == 0)
                                                fd = s->lowers[k];
                                if (fd < 0 || mkdirat(s->dest, dir, 0700) < 0)
                                        return err_set(s->e, errno ? errno : ENOENT, "%s: mkdir", dir);
                                int r = copy_meta(s, dir, &lst);
                                if (r >= 0)
                                        r = copy_times(s, dir, &lst);
                                if (r < 0)
                                        return r;
                        }
                        *sl = '/';
                }
                if (linkat(s->dest, w->p[i].first, s->dest, en->path, 0) < 0)
                        return err_set(s->e, errno, "%s: link to %s", en->path, w->p[i].first);
                /* the link changed its directory's times: the merged view's again */
                char *sl = strrchr(dir, '/');
                if (sl) {
                        *sl = '\0';
                        struct stat dst;
                        int fd = fstatat(s->upper, dir, &dst, AT_SYMLINK_NOFOLLOW) == 0 ? s->upper : -1;
                        for (size_t k = 0; k < s->n_lowers && fd < 0; k++)
                                if (fstatat(s->lowers[k], dir, &dst, AT_SYMLINK_NOFOLLOW) == 0)
                                        fd = s->lowers[k];
                        if (fd >= 0) {
                                int r = copy_times(s, dir, &dst);
                                if (r < 0)
                                        return r;
                        }
                }
                s->st->indexed++;
                s->st->hardlinks++;
                return 0;
        }
        return 0;
}

static int snap_index(struct snap *s)
{
        char **names = NULL;
        size_t n = 0;
        int r = pack_list_dir(s->index, ".", &names, &n, s->e);
        struct pend_walk w = { .s = s };
        w.p = xcalloc(n ? n : 1, sizeof *w.p);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_close_ int fd = openat(s->index, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                char p[32], v[32];
                pack_fd_path(fd, p);
                ssize_t k = getxattr(p, s->userxattr ? "user.overlay.strata.nlink" : "trusted.overlay.strata.nlink",
                                     v, sizeof v - 1);
                if (k <= 0)
                        continue;
                v[k] = '\0';
                if (strtol(v, NULL, 10) <= 0)
                        continue;
                const char *first = inomap_get(&s->links, st.st_dev, st.st_ino);
                if (!first || strlen(names[i]) >= sizeof w.p[0].key)
                        continue;   /* no upper name of it in the snapshot */
                snprintf(w.p[w.n].key, sizeof w.p[w.n].key, "%s", names[i]);
                w.p[w.n].first = xstrdup(first);
                w.n++;
        }
        pack_names_free(names, n);
        if (r >= 0 && w.n) {
                /* the merged tree: the upper on top of the lowers */
                int *fds = xcalloc(s->n_lowers + 1, sizeof *fds);
                fds[0] = s->upper;
                if (s->n_lowers)
                        memcpy(fds + 1, s->lowers, s->n_lowers * sizeof *fds);
                r = pack_walk_merged(fds, s->n_lowers + 1, find_pending, &w, s->e);
                free(fds);
        }
        for (size_t i = 0; i < w.n; i++)
                free(w.p[i].first);
        free(w.p);
        return r;
}

int pack_snapshot(int upper_fd, const int *lower_fds, size_t n_lowers, int index_fd, int dest_fd,
                  const char *const *skip, struct pack_stats *st, struct err *e)
{
        return pack_snapshot_move(upper_fd, lower_fds, n_lowers, index_fd, dest_fd, skip, false, st, e);
}

int pack_snapshot_move(int upper_fd, const int *lower_fds, size_t n_lowers, int index_fd, int dest_fd,
                       const char *const *skip, bool move, struct pack_stats *st, struct err *e)
{
        struct pack_stats dummy;
        struct snap s = { .upper = upper_fd, .dest = dest_fd, .index = index_fd, .lowers = lower_fds, .skip = skip,
                          .n_lowers = n_lowers, .is_root = geteuid() == 0,
                          .userxattr = !strcmp(userns_ovl_prefix(), OVL_PREFIX_USER), .st = st ? st : &dummy, .e = e };
        s.move = move && s.is_root;   /* as root the upper's owners are the files' own */
        memset(s.st, 0, sizeof *s.st);
        inomap_init(&s.links);
        int r = snap_dir(&s, ".");
        if (r >= 0 && index_fd >= 0)
                r = snap_index(&s);
        /* the root: its owner, mode, attributes and opaque mark */
        struct stat rst;
        if (r >= 0 && fstat(upper_fd, &rst) < 0)
                r = err_set(e, errno, "stat the writable layer");
        if (r >= 0) {
                r = copy_meta(&s, ".", &rst);
                _cleanup_close_ int from = openat(upper_fd, ".", O_PATH | O_CLOEXEC);
                _cleanup_close_ int to = openat(dest_fd, ".", O_PATH | O_CLOEXEC);
                if (r >= 0)
                        r = copy_xattrs(&s, from, to, ".");
                if (r >= 0 && pack_is_opaque(from))
                        r = set_opaque(&s, to, ".");
                if (r >= 0)
                        r = copy_times(&s, ".", &rst);
        }
        inomap_free(&s.links);
        return r;
}
