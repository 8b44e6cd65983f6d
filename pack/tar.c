/* A layer directory (store format) -> an OCI layer tar (PACK invariants 2-4),
 * written by libarchive (pax: ustar headers, pax records only where ustar
 * cannot say it — long names, big numbers, xattrs as SCHILY.xattr.*). */
#include "pack-internal.h"
#include "util/userns.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>

#define DATA_CHUNK (1u << 20)
#define XATTR_MAX_ (64u << 10)

struct tw {
        struct archive *a;
        struct pack_zsink *z;
        const struct pack_tar_opts *o;
        struct inomap links;       /* (layer, ino) of files with several names -> first name */
        struct err *e;
        int werr;                  /* the sink's error, kept across libarchive */
        struct err serr;
        uint8_t *buf;
        uint64_t entries;
};

static la_ssize_t aw_write(struct archive *a, void *ctx, const void *p, size_t n)
{
        struct tw *t = ctx;
        (void)a;
        int r = pack_zsink_write(t->z, p, n, &t->serr);
        if (r < 0) {
                t->werr = -r;
                archive_set_error(a, -r, "%s", t->serr.msg);
                return -1;
        }
        return (la_ssize_t)n;
}

static int arch_fail(struct tw *t, const char *what, const char *path)
{
        if (t->werr) {
                *t->e = t->serr;
                return err_wrap(t->e, "%s %s", what, path);
        }
        int no = archive_errno(t->a);
        return err_setx(t->e, no > 0 ? no : EIO, "%s %s: %s", what, path,
                        archive_error_string(t->a) ? archive_error_string(t->a) : "libarchive failed");
}

static time_t clamp(const struct tw *t, time_t m)
{
        return t->o->clamp && m > t->o->epoch ? t->o->epoch : m;
}

/* containers-storage's "UID:GID:0MODE[:TYPE]" onto @ae (the file could
 * not hold them: util/userns.h); a value that does not parse is ignored. */
static void override_owner(struct archive_entry *ae, const struct buf *val)
{
        uint32_t uid, gid;
        mode_t mode;
        if (!override_stat_parse(val->data, val->len, &uid, &gid, &mode))
                return;
        archive_entry_set_uid(ae, uid);
        archive_entry_set_gid(ae, gid);
        archive_entry_set_perm(ae, mode);
}

/* The entry's attributes that are not overlay's. */
static int add_xattrs(struct tw *t, struct archive_entry *ae, int layer_fd, const char *path)
{
        _cleanup_close_ int fd = openat(layer_fd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return err_set(t->e, errno, "%s: open", path);
        struct buf names = BUF_INIT(XATTR_MAX_), val = BUF_INIT(XATTR_MAX_);
        int r = pack_xattr_list(fd, &names, t->e);
        /* sorted, so the pax records come in one order */
        size_t cnt = 0;
        for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1)
                cnt++;
        const char **v = xcalloc(cnt ? cnt : 1, sizeof *v);
        cnt = 0;
        for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1)
                v[cnt++] = names.data + off;
        for (size_t i = 1; i < cnt; i++)
                for (size_t k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
                        const char *x = v[k];
                        v[k] = v[k - 1];
                        v[k - 1] = x;
                }
        for (size_t i = 0; r >= 0 && i < cnt; i++) {
                if (pack_xattr_private(v[i]))
                        continue;
                if (userns_rootless() && !strcmp(v[i], OVERRIDE_STAT_XATTR)) {
                        /* a store of one id: the owner and mode it keeps aside */
                        r = pack_xattr_get(fd, v[i], &val, t->e);
                        if (r >= 0)
                                override_owner(ae, &val);
                        continue;
                }
                r = pack_xattr_get(fd, v[i], &val, t->e);
                if (r >= 0)
                        archive_entry_xattr_add_entry(ae, v[i], val.data ? val.data : "", val.len);
        }
        free(v);
        buf_free(&names);
        buf_free(&val);
        return r < 0 ? err_wrap(t->e, "%s", path) : 0;
}

static int put_header(struct tw *t, struct archive_entry *ae, const char *path)
{
        if (archive_write_header(t->a, ae) < ARCHIVE_WARN)
                return arch_fail(t, "write header of", path);
        t->entries++;
        return 0;
}

/* An empty regular file: a whiteout `.wh.NAME` or an opaque marker. */
static int put_marker(struct tw *t, const char *name, time_t mtime)
{
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, name);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0);
        archive_entry_set_size(ae, 0);
        archive_entry_set_mtime(ae, clamp(t, mtime), 0);
        int r = put_header(t, ae, name);
        archive_entry_free(ae);
        return r;
}

static int put_data(struct tw *t, int layer_fd, const char *path, uint64_t size)
{
        _cleanup_close_ int fd = openat(layer_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return err_set(t->e, errno, "%s: open", path);
        uint64_t done = 0;
        while (done < size) {
                size_t want = size - done < DATA_CHUNK ? (size_t)(size - done) : DATA_CHUNK;
                ssize_t n = read(fd, t->buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return err_set(t->e, errno, "%s: read", path);
                if (n == 0)
                        return err_setx(t->e, EIO, "%s: shrank while being read (%llu of %llu bytes)", path,
                                        (unsigned long long)done, (unsigned long long)size);
                if (archive_write_data(t->a, t->buf, (size_t)n) != n)
                        return arch_fail(t, "write data of", path);
                done += (uint64_t)n;
        }
        return 0;
}

static int entry_cb(const struct pack_entry *en, void *ctx)
{
        struct tw *t = ctx;
        const struct stat *st = &en->st;
        if (S_ISSOCK(st->st_mode))
                return 0;
        if (en->whiteout) {
                const char *slash = strrchr(en->path, '/');
                _cleanup_free_ char *wh = slash ? xasprintf("%.*s/.wh.%s", (int)(slash - en->path), en->path, slash + 1)
                                                : xasprintf(".wh.%s", en->path);
                return put_marker(t, wh, st->st_mtime);
        }
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, en->path);
        archive_entry_set_uid(ae, st->st_uid);
        archive_entry_set_gid(ae, st->st_gid);
        archive_entry_set_mode(ae, st->st_mode);
        archive_entry_set_mtime(ae, clamp(t, st->st_mtime), 0);
        int r = 0;
        bool data = false;
        if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
                /* the layer's index in the device keeps layers apart in a merged walk */
                const char *first = inomap_get(&t->links, st->st_dev + en->layer, st->st_ino);
                if (first) {
                        archive_entry_set_hardlink(ae, first);
                        archive_entry_set_size(ae, 0);
                        r = put_header(t, ae, en->path);
                        archive_entry_free(ae);
                        return r;
                }
                inomap_put(&t->links, st->st_dev + en->layer, st->st_ino, en->path);
        }
        if (S_ISREG(st->st_mode)) {
                archive_entry_set_size(ae, st->st_size);
                data = st->st_size > 0;
        } else if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(en->layer_fd, en->path, target, PATH_MAX);
                if (n < 0) {
                        archive_entry_free(ae);
                        return err_set(t->e, errno, "%s: readlink", en->path);
                }
                target[n] = '\0';
                archive_entry_set_symlink(ae, target);
                archive_entry_set_size(ae, 0);
        } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
                archive_entry_set_rdevmajor(ae, major(st->st_rdev));
                archive_entry_set_rdevminor(ae, minor(st->st_rdev));
        }
        if (!S_ISLNK(st->st_mode))
                r = add_xattrs(t, ae, en->layer_fd, en->path);
        if (r >= 0)
                r = put_header(t, ae, en->path);
        archive_entry_free(ae);
        if (r >= 0 && data)
                r = put_data(t, en->layer_fd, en->path, (uint64_t)st->st_size);
        if (r >= 0 && en->opaque && !t->o->flatten) {
                _cleanup_free_ char *m = xasprintf("%s/.wh..wh..opq", en->path);
                r = put_marker(t, m, st->st_mtime);
        }
        return r;
}

static int write_tree(struct tw *t, const int *fds, size_t n)
{
        if (t->o->flatten)
                return pack_walk_merged(fds, n, entry_cb, t, t->e);
        /* an opaque layer root hides everything below the layer */
        if (pack_is_opaque(fds[0])) {
                struct stat st;
                if (fstat(fds[0], &st) < 0)
                        return err_set(t->e, errno, "stat the layer root");
                int r = put_marker(t, ".wh..wh..opq", st.st_mtime);
                if (r < 0)
                        return r;
        }
        return pack_walk_raw(fds[0], entry_cb, t, t->e);
}

int pack_tar(const int *dir_fds, size_t n, const struct pack_tar_opts *o, pack_write_fn wr, void *ctx,
             struct pack_tar_result *res, struct err *e)
{
        if (!o->flatten && n != 1)
                return err_setx(e, EINVAL, "a layer tar is made of one directory");
        memset(res, 0, sizeof *res);
        struct tw t = { .o = o, .e = e };
        int r = pack_zsink_new(o->compression, wr, ctx, &t.z, e);
        if (r < 0)
                return r;
        inomap_init(&t.links);
        t.buf = xmalloc(DATA_CHUNK);
        t.a = archive_write_new();
        archive_write_set_format_pax_restricted(t.a);
        /* SCHILY.xattr.* only (what Go's archive/tar, so docker, reads): one record per xattr */
        archive_write_set_format_option(t.a, "pax", "xattrheader", "SCHILY");
        archive_write_set_bytes_per_block(t.a, 64 << 10);   /* the sink gets 64 KiB at a time */
        archive_write_set_bytes_in_last_block(t.a, 1);
        if (archive_write_open2(t.a, &t, NULL, aw_write, NULL, NULL) != ARCHIVE_OK) {
                r = arch_fail(&t, "start", "tar");
                goto out;
        }
        r = write_tree(&t, dir_fds, n);
        if (r >= 0 && archive_write_close(t.a) != ARCHIVE_OK)
                r = arch_fail(&t, "finish", "tar");
        if (r >= 0) {
                r = pack_zsink_finish(t.z, res, e);
                t.z = NULL;
                res->entries = t.entries;
        }
out:
        archive_write_free(t.a);
        pack_zsink_free(t.z);
        inomap_free(&t.links);
        free(t.buf);
        return r;
}
