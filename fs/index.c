/* The index: lower hard links that stay one file after copy-up (invariant 8).
 *
 * A lower regular file with several names is copied up once, into
 * workdir/strata-index/<key>, and each of its names in the upper layer is a
 * hard link to that file: whichever name is written, every name sees the
 * new data, also after a remount.  The key names the lower file: its
 * st_ino and st_ctime (a lower layer never changes, so its ctime is as
 * stable as its number and tells a re-extracted layer's file apart).  The
 * kernel's overlayfs does the same with index=on (keyed by file handle).
 *
 * Link counts: the index file carries o->xn.nlink (PREFIX.strata.nlink) = how many names of
 * the lower file are still visible without having been linked up (set to
 * the lower st_nlink when the copy is made, one less for each name linked
 * up).  A name is linked up before it is removed or renamed over, so
 * removals and new links need no bookkeeping: the merged st_nlink is the
 * upper file's count, minus the index's own name, plus that number. */
#include "fs-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define INDEX_DIR "strata-index"
/* a node's st_ino without the tag of the layer's filesystem (layer.c) */
#define INO_MASK ((1ULL << 48) - 1)

struct index_key {
        char s[64];
};

static struct index_key index_key(const struct stat *st)
{
        struct index_key k;
        snprintf(k.s, sizeof(k.s), "%" PRIx64 "-%llx.%09ld", (uint64_t)st->st_ino,
                 (unsigned long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
        return k;
}

/* ---- the numbers of the lower files in the index, sorted: a lookup of a
 * lower hard link asks here before asking the disk.  Under index_lock. */
static size_t set_pos(const struct ovl *o, uint64_t ino)
{
        size_t lo = 0, hi = o->index_n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (o->index_inos[mid] < ino)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static bool set_has(const struct ovl *o, uint64_t ino)
{
        size_t i = set_pos(o, ino);
        return i < o->index_n && o->index_inos[i] == ino;
}

static void set_add(struct ovl *o, uint64_t ino)
{
        size_t i = set_pos(o, ino);
        if (i < o->index_n && o->index_inos[i] == ino)
                return;
        if (o->index_n == o->index_cap) {
                o->index_cap = o->index_cap ? 2 * o->index_cap : 16;
                o->index_inos = xrealloc(o->index_inos, o->index_cap * sizeof(*o->index_inos));
        }
        memmove(o->index_inos + i + 1, o->index_inos + i, (o->index_n - i) * sizeof(*o->index_inos));
        o->index_inos[i] = ino;
        o->index_n++;
}

/* ---- the count of names not yet linked up, on the index file */
static long parse_pending(char *v, ssize_t n)
{
        if (n <= 0)
                return -1;      /* no mark: not an index file */
        v[n] = '\0';
        long x = strtol(v, NULL, 10);
        return x > 0 ? x : 0;
}

static long get_pending(const struct ovl *o, int fd)
{
        char v[24];
        ssize_t n = fgetxattr(fd, o->xn.nlink, v, sizeof(v) - 1);
        if (n < 0 && errno == ENODATA && o->xalt.nlink[0])
                n = fgetxattr(fd, o->xalt.nlink, v, sizeof(v) - 1);
        return parse_pending(v, n);
}

static int set_pending(const struct ovl *o, int fd, long x)
{
        char v[24];
        int len = snprintf(v, sizeof(v), "%ld", x);
        return fsetxattr(fd, o->xn.nlink, v, (size_t)len, 0) < 0 ? -errno : 0;
}

int ovl_index_open(struct ovl *o, int workdir_fd, const char *workdir, struct err *e)
{
        if (mkdirat(workdir_fd, INDEX_DIR, 0700) < 0 && errno != EEXIST)
                return err_set(e, errno, "workdir %s: mkdir " INDEX_DIR, workdir);
        o->index_fd = openat(workdir_fd, INDEX_DIR, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (o->index_fd < 0)
                return err_set(e, errno, "workdir %s: " INDEX_DIR, workdir);
        DIR *d = opendir_at(o->index_fd, ".");
        if (!d)
                return err_set(e, errno, "workdir %s: " INDEX_DIR, workdir);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char *end;
                uint64_t ino = strtoull(de->d_name, &end, 16);
                if (*end != '-')
                        continue;
                /* no name left, none to come: nothing refers to it any more */
                _cleanup_close_ int fd = openat(o->index_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 1 && get_pending(o, fd) <= 0) {
                        unlinkat(o->index_fd, de->d_name, 0);
                        continue;
                }
                set_add(o, ino);
        }
        closedir(d);
        return 0;
}

void ovl_index_free(struct ovl *o)
{
        if (o->index_fd >= 0)
                close(o->index_fd);
        free(o->index_inos);
        pthread_mutex_destroy(&o->index_lock);
}

/* Link the index file @k to @path in the upper layer; one name fewer to come. */
static int link_up(struct ovl *o, const struct index_key *k, const char *path)
{
        _cleanup_close_ int fd = openat(o->index_fd, k->s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, 0, path, &a);
        if (r < 0)
                return r;
        if (linkat(o->index_fd, k->s, a.fd, a.rel, 0) < 0)
                return -errno;
        long pending = get_pending(o, fd);
        if (pending > 0)
                return set_pending(o, fd, pending - 1);
        return 0;
}

int ovl_index_copy_up(struct ovl *o, struct node *n, int layer, const char *path, const struct stat *st)
{
        struct index_key k = index_key(st);
        pthread_mutex_lock(&o->index_lock);
        struct stat ist;
        int r = 0;
        if (fstatat(o->index_fd, k.s, &ist, AT_SYMLINK_NOFOLLOW) < 0) {
                r = errno == ENOENT ? 0 : -errno;
                _cleanup_free_ char *tmp = ovl_tmpname(o);
                if (r == 0)
                        r = ovl_build_copy(o, n, layer, path, st, tmp, false);
                if (r == 0) {
                        _cleanup_close_ int fd = openat(o->work_fd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        r = fd < 0 ? -errno : set_pending(o, fd, (long)st->st_nlink);
                }
                if (r == 0 && renameat2(o->work_fd, tmp, o->index_fd, k.s, RENAME_NOREPLACE) < 0)
                        r = -errno;
                if (r < 0) {
                        struct err e;
                        rm_rf_at(o->work_fd, tmp, &e);
                } else {
                        set_add(o, (uint64_t)st->st_ino);
                }
        }
        if (r == 0)
                r = link_up(o, &k, path);
        pthread_mutex_unlock(&o->index_lock);
        return r;
}

int ovl_index_follow(struct ovl *o, struct node *n)
{
        if (!ovl_indexed(o, n) || o->read_only || node_layer(n) == 0)
                return 0;
        pthread_mutex_lock(&o->index_lock);
        bool maybe = set_has(o, atomic_load(&n->ino) & INO_MASK);
        pthread_mutex_unlock(&o->index_lock);
        if (!maybe)
                return 0;
        _cleanup_free_ char *path = node_path(o, n);
        struct stat st, ist;
        int layer = node_layer(n);
        if (layer == 0 || layer_stat(o, layer, path, &st) < 0)
                return 0;               /* copied up meanwhile, or gone: nothing to follow */
        struct index_key k = index_key(&st);
        if (fstatat(o->index_fd, k.s, &ist, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        /* another name was copied up: this one becomes a link to the same file */
        return ovl_copy_up(o, n);
}

void ovl_index_fix_nlink(struct ovl *o, const char *path, struct stat *st)
{
        if (o->index_fd < 0 || !S_ISREG(st->st_mode) || st->st_nlink < 2)
                return;
        char v[24];
        long pending = parse_pending(v, OVL_GETXATTR(o, 0, path, nlink, v, sizeof(v) - 1));
        if (pending >= 0)       /* else a hard link made in the upper layer */
                st->st_nlink = st->st_nlink - 1 + (nlink_t)pending;
}
