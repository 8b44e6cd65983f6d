/* unpack_layer() on layers built here with libarchive's writer: every kind
 * of entry a rootfs holds, owners, modes (setuid after chown), times (dirs
 * after their contents), xattrs, duplicates, whiteouts in both modes, the
 * three compressions giving one diff_id, reader errors.
 * UNPACK INVARIANTS (3), (4), (5). */
#include "tap.h"
#include "unpack/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define T0 1600000000
#define T1 1600000100
#define T2 1600000200
#define T3 1600000300

static struct archive *w;
static char *mem;
static size_t memsz, memused;

static void begin(int filter)
{
        w = archive_write_new();
        archive_write_set_format_pax_restricted(w);
        if (filter == 1)
                archive_write_add_filter_gzip(w);
        else if (filter == 2)
                archive_write_add_filter_zstd(w);
        archive_write_set_bytes_in_last_block(w, 1);
        memsz = 8 << 20;
        free(mem);
        mem = xmalloc(memsz);
        if (archive_write_open_memory(w, mem, memsz, &memused) != ARCHIVE_OK)
                abort();
}

static struct archive_entry *ent(const char *name, mode_t type, mode_t perm, int uid, int gid, time_t mtime)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_uid(e, uid);
        archive_entry_set_gid(e, gid);
        archive_entry_set_mtime(e, mtime, 0);
        return e;
}

static void put(struct archive_entry *e, const char *data)
{
        if (data)
                archive_entry_set_size(e, (la_int64_t)strlen(data));
        if (archive_write_header(w, e) != ARCHIVE_OK)
                abort();
        if (data && *data)
                archive_write_data(w, data, strlen(data));
        archive_entry_free(e);
}

static void file(const char *name, mode_t perm, int uid, int gid, time_t t, const char *data)
{
        put(ent(name, AE_IFREG, perm, uid, gid, t), data);
}

static void dir(const char *name, mode_t perm, int uid, int gid, time_t t)
{
        put(ent(name, AE_IFDIR, perm, uid, gid, t), NULL);
}

static void end(void)
{
        archive_write_close(w);
        archive_write_free(w);
}

struct memsrc {
        const char *p;
        size_t n, off, fail_at;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
        struct memsrc *m = ctx;
        if (m->fail_at && m->off >= m->fail_at)
                return -EIO;
        if (n > 7000)
                n = 7000;                    /* odd chunk sizes on purpose */
        if (n > m->n - m->off)
                n = m->n - m->off;
        memcpy(buf, m->p + m->off, n);
        m->off += n;
        return (ssize_t)n;
}

static int unpack_mem(int dfd, const char *media, enum unpack_mode mode, char id[DIGEST_STR_LEN + 1],
                      struct unpack_stats *st, struct err *e)
{
        struct memsrc m = { mem, memused, 0, 0 };
        struct unpack_opts o = { .media_type = media, .name = "layer test", .mode = mode };
        return unpack_layer(mem_read, &m, dfd, &o, id, st, e);
}

static int fresh_dir(const char *path)
{
        rm_rf_at(AT_FDCWD, path, NULL);
        mkdir(path, 0700);
        return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void build_features(int filter)
{
        begin(filter);
        dir("./", 0755, 0, 0, T0);
        dir("d", 0750, 1000, 1000, T1);
        file("d/f", 0644, 1000, 2000, T2, "hello\n");
        struct archive_entry *e = ent("d/ln", AE_IFLNK, 0777, 7, 7, T3);
        archive_entry_set_symlink(e, "f");
        put(e, NULL);
        e = ent("d/hl", AE_IFREG, 0644, 1000, 2000, T2);
        archive_entry_set_hardlink(e, "d/f");
        put(e, NULL);
        file("suid", 04755, 0, 0, T2, "#!/bin/sh\n");
        file("sgid", 02711, 5, 6, T2, "x");
        dir("sticky", 01777, 0, 0, T1);
        e = ent("named", AE_IFREG, 0600, 4242, 4343, T2);
        archive_entry_set_uname(e, "root");            /* names are never looked up */
        archive_entry_set_gname(e, "root");
        put(e, "n");
        e = ent("dev/null", AE_IFCHR, 0666, 0, 0, T1);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        put(e, NULL);
        e = ent("dev/sda", AE_IFBLK, 0660, 0, 6, T1);
        archive_entry_set_rdevmajor(e, 8);
        archive_entry_set_rdevminor(e, 0);
        put(e, NULL);
        put(ent("fifo", AE_IFIFO, 0644, 0, 0, T1), NULL);
        /* a file capability: v2, cap_net_bind_service permitted+effective */
        static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
        e = ent("ping", AE_IFREG, 0755, 0, 0, T2);
        archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof cap);
        put(e, "ELF");
        e = ent("xdir", AE_IFDIR, 0755, 0, 0, T1);
        archive_entry_xattr_add_entry(e, "user.note", "v", 1);
        put(e, NULL);
        /* duplicates: the later entry wins */
        file("dup", 0644, 0, 0, T2, "one");
        file("dup", 0600, 0, 0, T2, "two");
        dir("x", 0755, 0, 0, T1);
        file("x/c", 0644, 0, 0, T1, "c");
        file("x", 0644, 0, 0, T1, "now a file");
        file("y", 0644, 0, 0, T1, "a file");
        dir("y", 0700, 0, 0, T1);
        file("y/c", 0644, 0, 0, T1, "c");
        /* whiteouts (overlay format) */
        file(".wh.gone", 0644, 0, 0, T1, "");
        file("d/.wh..wh..opq", 0644, 0, 0, T1, "");
        file("mine", 0644, 0, 0, T1, "mine");
        file(".wh.mine", 0644, 0, 0, T1, "");
        file(".wh..wh.plnk", 0644, 0, 0, T1, "");
        /* setgid directories: children keep the tar's group and mode */
        dir("sg", 02775, 0, 50, T1);
        file("sg/f", 0644, 0, 0, T1, "f");
        dir("sg/sub", 0755, 0, 0, T1);
        dir("sg2", 0755, 0, 50, T1);
        file("sg2/a", 0644, 0, 0, T1, "a");
        dir("sg2", 02775, 0, 50, T1);              /* becomes setgid after its first child */
        file("sg2/b", 0644, 0, 0, T1, "b");
        /* deleted, then made again in the same layer: an opaque directory */
        file(".wh.wd", 0644, 0, 0, T1, "");
        file("wd/x", 0644, 0, 0, T1, "x");
        file(".wh.wd2", 0644, 0, 0, T1, "");
        dir("wd2", 0750, 0, 0, T1);
        file("wd2/y", 0644, 0, 0, T1, "y");
        /* made, then whited out in the same layer: kept, opaque */
        dir("od", 0755, 0, 0, T1);
        file("od/x", 0644, 0, 0, T1, "x");
        file(".wh.od", 0644, 0, 0, T1, "");
        /* a directory listed before its contents, then filled: its time stays */
        dir("late", 0755, 0, 0, T3);
        file("late/deep/er/file", 0644, 0, 0, T1, "deep");
        end();
}

static void check_features(int dfd, const struct unpack_stats *us)
{
        struct stat st;
        ok(fstatat(dfd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
                   (st.st_mode & 07777) == 0750 && st.st_uid == 1000 && st.st_gid == 1000,
           "dir: mode 0750, owner 1000:1000");
        ok(st.st_mtim.tv_sec == T1, "dir mtime set after its contents (%lld)", (long long)st.st_mtim.tv_sec);
        ok(fstatat(dfd, "d/f", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_size == 6 &&
                   st.st_uid == 1000 && st.st_gid == 2000 && st.st_mtim.tv_sec == T2,
           "file: size, owner, mtime");
        ino_t ino = st.st_ino;
        ok(st.st_nlink == 2, "hard link counted (nlink %lu)", (unsigned long)st.st_nlink);
        ok(fstatat(dfd, "d/hl", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == ino, "hard link: same inode");
        char buf[64] = { 0 };
        ok(readlinkat(dfd, "d/ln", buf, sizeof buf) == 1 && !strcmp(buf, "f"), "symlink target");
        ok(fstatat(dfd, "d/ln", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) && st.st_uid == 7 &&
                   st.st_mtim.tv_sec == T3,
           "symlink owner and mtime (not the target's)");
        ok(fstatat(dfd, "suid", &st, 0) == 0 && (st.st_mode & 07777) == 04755, "setuid kept (0%o)",
           st.st_mode & 07777);
        ok(fstatat(dfd, "sgid", &st, 0) == 0 && (st.st_mode & 07777) == 02711 && st.st_uid == 5 && st.st_gid == 6,
           "setgid set after chown (0%o %u:%u)", st.st_mode & 07777, st.st_uid, st.st_gid);
        ok(fstatat(dfd, "sticky", &st, 0) == 0 && (st.st_mode & 07777) == 01777, "sticky dir 01777");
        ok(fstatat(dfd, "named", &st, 0) == 0 && st.st_uid == 4242 && st.st_gid == 4343,
           "numeric owner from the tar, uname ignored");
        ok(fstatat(dfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
                   major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 && (st.st_mode & 0777) == 0666,
           "char device 1:3");
        ok(fstatat(dfd, "dev/sda", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISBLK(st.st_mode) &&
                   major(st.st_rdev) == 8 && st.st_gid == 6,
           "block device 8:0");
        ok(fstatat(dfd, "fifo", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode), "fifo");
        int fd = openat(dfd, "ping", O_RDONLY);
        unsigned char cap[32];
        ok(fd >= 0 && fgetxattr(fd, "security.capability", cap, sizeof cap) == 20 && cap[4] == 0x00 &&
                   cap[5] == 0x04,
           "security.capability survives chown");
        close(fd);
        fd = openat(dfd, "xdir", O_RDONLY | O_DIRECTORY);
        ok(fd >= 0 && fgetxattr(fd, "user.note", buf, sizeof buf) == 1, "xattr on a directory");
        close(fd);
        fd = openat(dfd, "dup", O_RDONLY);
        ssize_t n = read(fd, buf, sizeof buf);
        ok(n == 3 && !memcmp(buf, "two", 3), "duplicate file: later wins");
        close(fd);
        ok(fstatat(dfd, "x", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode), "dir replaced by a file");
        ok(fstatat(dfd, "y/c", &st, AT_SYMLINK_NOFOLLOW) == 0, "file replaced by a dir");
        ok(fstatat(dfd, "gone", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0,
           "whiteout: 0/0 char device");
        ok(fstatat(dfd, ".wh.gone", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT, "no .wh. file");
        ok(fstatat(dfd, ".wh..wh.plnk", &st, AT_SYMLINK_NOFOLLOW) < 0, "aufs meta skipped");
        fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
        ok(fd >= 0 && fgetxattr(fd, "trusted.overlay.opaque", buf, sizeof buf) == 1 && buf[0] == 'y',
           "opaque dir: trusted.overlay.opaque=y");
        close(fd);
        ok(fstatat(dfd, "d/.wh..wh..opq", &st, AT_SYMLINK_NOFOLLOW) < 0, "no opaque marker file");
        ok(fstatat(dfd, "mine", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
           "whiteout of this layer's own file keeps the file");
        ok(fstatat(dfd, "sg/f", &st, 0) == 0 && st.st_gid == 0, "file in a setgid dir keeps gid 0 (%u)", st.st_gid);
        ok(fstatat(dfd, "sg/sub", &st, 0) == 0 && st.st_gid == 0 && (st.st_mode & 07777) == 0755,
           "dir in a setgid dir: gid 0, no inherited setgid (0%o %u)", st.st_mode & 07777, st.st_gid);
        ok(fstatat(dfd, "sg2/b", &st, 0) == 0 && st.st_gid == 0, "dir made setgid by a later entry (%u)", st.st_gid);
        ok(fstatat(dfd, "sg2", &st, 0) == 0 && (st.st_mode & 07777) == 02775, "later dir entry's mode wins");
        for (int i = 0; i < 2; i++) {
                const char *wn = i ? "wd2" : "wd";
                fd = openat(dfd, wn, O_RDONLY | O_DIRECTORY);
                ok(fd >= 0 && fgetxattr(fd, "trusted.overlay.opaque", buf, sizeof buf) == 1,
                   "%s: whiteout then child in one layer: opaque directory", wn);
                if (fd >= 0)
                        close(fd);
        }
        ok(fstatat(dfd, "wd/x", &st, 0) == 0 && fstatat(dfd, "wd2/y", &st, 0) == 0, "children there");
        fd = openat(dfd, "od", O_RDONLY | O_DIRECTORY);
        ok(fd >= 0 && fgetxattr(fd, "trusted.overlay.opaque", buf, sizeof buf) == 1 &&
                   fstatat(dfd, "od/x", &st, 0) == 0,
           "dir then its whiteout in one layer: kept, opaque");
        if (fd >= 0)
                close(fd);
        ok(fstatat(dfd, "wd2", &st, 0) == 0 && (st.st_mode & 07777) == 0750, "the dir entry's mode");
        ok(fstatat(dfd, "late", &st, 0) == 0 && st.st_mtim.tv_sec == T3, "dir time kept after filling");
        ok(fstatat(dfd, "late/deep/er/file", &st, 0) == 0, "missing parents created");
        ok(fstatat(dfd, ".", &st, 0) == 0 && (st.st_mode & 07777) == 0755 && st.st_mtim.tv_sec == T0,
           "root entry applied to the layer dir");
        ok(us->files == 19 && us->hardlinks == 1 && us->symlinks == 1 && us->devices == 2 && us->fifos == 1 &&
                   us->whiteouts == 5 && us->opaques == 4,
           "stats: %llu files %llu hardlinks %llu devices %llu whiteouts", (unsigned long long)us->files,
           (unsigned long long)us->hardlinks, (unsigned long long)us->devices,
           (unsigned long long)us->whiteouts);
}

static void test_features(void)
{
        static const char *media[] = { "application/vnd.oci.image.layer.v1.tar",
                                       "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "application/vnd.oci.image.layer.v1.tar+zstd" };
        char want[DIGEST_STR_LEN + 1] = "";
        for (int f = 0; f < 3; f++) {
                build_features(0);
                if (f == 0)
                        sha256_digest(mem, memused, want);
                build_features(f);
                int dfd = fresh_dir("/tmp/strata-unpack-test");
                char id[DIGEST_STR_LEN + 1];
                struct unpack_stats us;
                struct err e = { 0 };
                int r = unpack_mem(dfd, media[f], UNPACK_OVERLAY, id, &us, &e);
                ok(r == 0, "%s: unpacks (%s)", media[f], r ? e.msg : "ok");
                is_str(id, want, "diff_id is the sha256 of the uncompressed tar");
                if (f == 0 && geteuid() == 0)
                        check_features(dfd, &us);
                close(dfd);
        }
}

static void test_flatten(void)
{
        int dfd = fresh_dir("/tmp/strata-unpack-flat");
        char id[DIGEST_STR_LEN + 1];
        struct err e = { 0 };
        begin(1);
        dir("a", 0755, 0, 0, T1);
        file("a/1", 0644, 0, 0, T1, "1");
        file("a/2", 0644, 0, 0, T1, "2");
        file("b", 0644, 0, 0, T1, "b");
        dir("o", 0755, 0, 0, T1);
        file("o/old", 0644, 0, 0, T1, "old");
        dir("o/sub", 0755, 0, 0, T1);
        file("o/sub/deep", 0644, 0, 0, T1, "deep");
        end();
        ok(unpack_mem(dfd, NULL, UNPACK_FLATTEN, id, NULL, &e) == 0, "flatten: lower layer (%s)", e.msg);
        begin(0);
        file(".wh.b", 0644, 0, 0, T1, "");
        file("a/.wh.1", 0644, 0, 0, T1, "");
        file("o/new2", 0644, 0, 0, T1, "new2");
        dir("o/sub", 0755, 0, 0, T1);
        file("o/sub/mine", 0644, 0, 0, T1, "m");
        file("o/.wh..wh..opq", 0644, 0, 0, T1, "");
        file("o/new", 0644, 0, 0, T1, "new");
        file("c", 0644, 0, 0, T1, "c");
        file(".wh.c", 0644, 0, 0, T1, "");
        dir("a", 0755, 0, 0, T1);
        file("a/3", 0644, 0, 0, T1, "3");
        file(".wh.a", 0644, 0, 0, T1, "");
        end();
        ok(unpack_mem(dfd, NULL, UNPACK_FLATTEN, id, NULL, &e) == 0, "flatten: upper layer (%s)", e.msg);
        struct stat st;
        ok(fstatat(dfd, "b", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT, "whiteout deletes b");
        ok(fstatat(dfd, "a/1", &st, AT_SYMLINK_NOFOLLOW) < 0, "whiteout deletes a/1");
        ok(fstatat(dfd, "a/2", &st, AT_SYMLINK_NOFOLLOW) < 0, "a/2 of the lower layer goes with .wh.a");
        ok(fstatat(dfd, "a/3", &st, AT_SYMLINK_NOFOLLOW) == 0, "a/3 of this layer stays");
        ok(fstatat(dfd, "o/old", &st, AT_SYMLINK_NOFOLLOW) < 0, "opaque dir loses the lower o/old");
        ok(fstatat(dfd, "o/sub/deep", &st, AT_SYMLINK_NOFOLLOW) < 0, "and the lower o/sub/deep");
        ok(fstatat(dfd, "o/sub/mine", &st, AT_SYMLINK_NOFOLLOW) == 0, "but keeps o/sub/mine of this layer");
        ok(fstatat(dfd, "o/new2", &st, AT_SYMLINK_NOFOLLOW) == 0, "and o/new2 listed before the marker");
        ok(fstatat(dfd, "o/new", &st, AT_SYMLINK_NOFOLLOW) == 0, "and o/new after it");
        ok(fstatat(dfd, "c", &st, AT_SYMLINK_NOFOLLOW) == 0, "whiteout of this layer's own file keeps it");
        ok(fstatat(dfd, "gone", &st, AT_SYMLINK_NOFOLLOW) < 0, "no whiteout devices in flatten mode");
        close(dfd);
        rm_rf_at(AT_FDCWD, "/tmp/strata-unpack-flat", NULL);
}

static void test_reader_error(void)
{
        build_features(1);
        int dfd = fresh_dir("/tmp/strata-unpack-test");
        struct memsrc m = { mem, memused, 0, memused / 2 };
        struct unpack_opts o = { .media_type = "application/vnd.oci.image.layer.v1.tar+gzip", .name = "layer R" };
        char id[DIGEST_STR_LEN + 1];
        struct err e = { 0 };
        int r = unpack_layer(mem_read, &m, dfd, &o, id, NULL, &e);
        ok(r == -EIO && strstr(e.msg, "layer R") && strstr(e.msg, "read layer blob"),
           "a reader error is reported as such (%s)", e.msg);
        close(dfd);

        /* an unknown media type is refused before reading */
        dfd = fresh_dir("/tmp/strata-unpack-test");
        o.media_type = "application/vnd.oci.image.layer.v1.tar+lz4";
        m.off = 0;
        r = unpack_layer(mem_read, &m, dfd, &o, id, NULL, &e);
        ok(r == -EMEDIUMTYPE && strstr(e.msg, "unsupported layer media type") && m.off == 0,
           "unknown media type refused (%s)", e.msg);
        close(dfd);

        /* the single-threaded path gives the same result */
        build_features(2);
        setenv("STRATA_UNPACK_THREADS", "0", 1);
        dfd = fresh_dir("/tmp/strata-unpack-test");
        struct unpack_stats us;
        r = unpack_mem(dfd, NULL, UNPACK_OVERLAY, id, &us, &e);
        ok(r == 0 && !strcmp(us.compression, "zstd"), "single-threaded, zstd detected from the magic");
        unsetenv("STRATA_UNPACK_THREADS");
        close(dfd);

        /* the ceiling from the environment */
        setenv("STRATA_MAX_LAYER_BYTES", "4k", 1);
        dfd = fresh_dir("/tmp/strata-unpack-test");
        r = unpack_mem(dfd, NULL, UNPACK_OVERLAY, id, &us, &e);
        ok(r == -EFBIG && strstr(e.msg, "limit of 4096 bytes"), "STRATA_MAX_LAYER_BYTES=4k (%s)", e.msg);
        unsetenv("STRATA_MAX_LAYER_BYTES");
        close(dfd);
        rm_rf_at(AT_FDCWD, "/tmp/strata-unpack-test", NULL);
}

/* Entries that alternate between more directories than the parent cache
 * holds, and a cached directory replaced (by a file, then a directory
 * again) in the middle: every file lands in the directory its name says. */
#define NDIRS 600
static void build_many_dirs(void)
{
        begin(1);
        char name[64], data[64];
        for (int d = 0; d < NDIRS; d++) {
                snprintf(name, sizeof name, "m/d%d", d);
                dir(name, 0755, 0, 0, T1);
        }
        for (int i = 0; i < 3 * NDIRS; i++) {
                snprintf(name, sizeof name, "m/d%d/f%d", i % NDIRS, i);
                snprintf(data, sizeof data, "file %d", i);
                file(name, 0644, 0, 0, T2, data);
                if (i == NDIRS + 5) {
                        file("m/d5", 0644, 0, 0, T2, "a file now");
                        dir("m/d5", 0700, 0, 0, T3);
                        file("m/d5/again", 0644, 0, 0, T2, "again");
                }
        }
        end();
}

static void test_many_dirs(void)
{
        struct rlimit rl0;
        getrlimit(RLIMIT_NOFILE, &rl0);
        for (int pass = 0; pass < 3; pass++) {
                if (pass == 2) {
                        /* a low fd limit: the cache holds 64 fds (a quarter of it) */
                        struct rlimit rl = { 256, rl0.rlim_max };
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
                build_many_dirs();
                int dfd = fresh_dir("/tmp/strata-unpack-test");
                char id[DIGEST_STR_LEN + 1];
                struct unpack_stats us;
                struct err e = { 0 };
                if (pass)
                        setenv("STRATA_UNPACK_THREADS", "0", 1);
                int r = unpack_mem(dfd, NULL, UNPACK_OVERLAY, id, &us, &e);
                unsetenv("STRATA_UNPACK_THREADS");
                ok(r == 0, "%s: %d directories, round robin, unpack (%s)",
                   pass == 2 ? "fd limit 256" : pass ? "one thread" : "threaded",
                   NDIRS, r ? e.msg : "ok");
                int bad = 0, missing = 0;
                for (int i = 0; i < 3 * NDIRS; i++) {
                        char name[64], want[64], got[64] = "";
                        snprintf(name, sizeof name, "m/d%d/f%d", i % NDIRS, i);
                        snprintf(want, sizeof want, "file %d", i);
                        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
                        bool gone = i % NDIRS == 5 && i <= NDIRS + 5;     /* went with the old m/d5 */
                        if (fd < 0) {
                                missing += !gone;
                                continue;
                        }
                        bad += gone || read(fd, got, sizeof got) != (ssize_t)strlen(want) ||
                               memcmp(got, want, strlen(want));
                        close(fd);
                }
                ok(!bad && !missing, "every file in its directory with its bytes (%d wrong, %d missing)", bad,
                   missing);
                struct stat st;
                int sr = fstatat(dfd, "m/d5", &st, AT_SYMLINK_NOFOLLOW);
                ok(sr == 0 && S_ISDIR(st.st_mode) &&
                           (st.st_mode & 07777) == 0700 && st.st_mtim.tv_sec == T3,
                   "a cached directory replaced twice: the last entry's (0%o)", st.st_mode & 07777);
                ok(fstatat(dfd, "m/d5/again", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 5,
                   "a file in the directory made again");
                ok(us.files == 3 * NDIRS + 2 && us.dirs == NDIRS + 1, "stats: %llu files, %llu dirs",
                   (unsigned long long)us.files, (unsigned long long)us.dirs);
                close(dfd);
        }
        setrlimit(RLIMIT_NOFILE, &rl0);
        rm_rf_at(AT_FDCWD, "/tmp/strata-unpack-test", NULL);
}

int main(void)
{
        test_features();
        test_flatten();
        test_reader_error();
        test_many_dirs();
        free(mem);
        return tap_done();
}
