/* Small file helpers: mkdir -p, atomic replace, bounded reads, rm -rf. */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

ssize_t write_all(int fd, const void *p, size_t n)
{
        const char *c = p;
        size_t done = 0;
        while (done < n) {
                ssize_t w = write(fd, c + done, n - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)w;
        }
        return (ssize_t)done;
}

ssize_t read_full(int fd, void *p, size_t n)
{
        char *c = p;
        size_t done = 0;
        while (done < n) {
                ssize_t r = read(fd, c + done, n - done);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        break;
                done += (size_t)r;
        }
        return (ssize_t)done;
}

int mkdir_p(const char *path, mode_t mode, struct err *e)
{
        _cleanup_free_ char *p = xstrdup(path);
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
                p[--len] = '\0';
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return err_set(e, errno, "mkdir %s", p);
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return err_set(e, errno, "mkdir %s", p);
        return 0;
}

static int fsync_dir_of(const char *path)
{
        _cleanup_free_ char *d = xstrdup(path);
        _cleanup_close_ int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
        _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return err_set(e, errno, "create %s", tmp);
        ssize_t w = write_all(fd, data, len);
        if (w < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                int s = w < 0 ? (int)-w : errno;
                close(fd);
                unlink(tmp);
                return err_set(e, s, "write %s", tmp);
        }
        if (close(fd) < 0) {
                int s = errno;
                unlink(tmp);
                return err_set(e, s, "close %s", tmp);
        }
        if (rename(tmp, path) < 0) {
                int s = errno;
                unlink(tmp);
                return err_set(e, s, "rename %s", path);
        }
        int r = fsync_dir_of(path);
        if (r < 0)
                return err_set(e, -r, "fsync directory of %s", path);
        return 0;
}

int read_file_bounded(const char *path, size_t max, struct buf *out, struct err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, errno, "open %s", path);
        out->max = max;
        buf_reset(out);
        char tmp[65536];
        for (;;) {
                ssize_t r = read(fd, tmp, sizeof tmp);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return err_set(e, errno, "read %s", path);
                }
                if (r == 0)
                        break;
                if (buf_append(out, tmp, (size_t)r) < 0)
                        return err_setx(e, EFBIG, "read %s: larger than %zu bytes", path, max);
        }
        if (!out->data)
                buf_append(out, "", 0);
        return 0;
}

static int rm_rf_children(int dfd, dev_t dev, struct err *e)
{
        DIR *d = fdopendir(dfd);
        if (!d) {
                int s = errno;
                close(dfd);
                return err_set(e, s, "opendir");
        }
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = err_set(e, errno, "stat %s", de->d_name);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                r = err_setx(e, EBUSY, "%s is a mount point", de->d_name);
                                break;
                        }
                        int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                r = err_set(e, errno, "open %s", de->d_name);
                                break;
                        }
                        r = rm_rf_children(cfd, dev, e);
                        if (r < 0) {
                                err_wrap(e, "%s", de->d_name);
                                break;
                        }
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                                r = err_set(e, errno, "rmdir %s", de->d_name);
                                break;
                        }
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
                        r = err_set(e, errno, "unlink %s", de->d_name);
                        break;
                }
        }
        closedir(d);
        return r;
}

DIR *opendir_at(int dirfd, const char *path)
{
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        DIR *d = fdopendir(fd);
        if (!d) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return d;
}

int rm_rf_at(int dirfd, const char *name, struct err *e)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return err_set(e, errno, "stat %s", name);
        }
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                        return err_set(e, errno, "unlink %s", name);
                return 0;
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, errno, "open %s", name);
        int r = rm_rf_children(fd, st.st_dev, e);
        if (r < 0)
                return err_wrap(e, "remove %s", name);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return err_set(e, errno, "rmdir %s", name);
        return 0;
}

void human_size(uint64_t bytes, char *out, size_t outlen)
{
        static const char *units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
        double v = (double)bytes;
        unsigned u = 0;
        while (v >= 1000.0 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1000.0;
                u++;
        }
        /* docker prints 3 significant digits: 129MB, 5.59kB, 1.23GB */
        if (u == 0)
                snprintf(out, outlen, "%uB", (unsigned)bytes);
        else
                snprintf(out, outlen, "%.3g%s", v, units[u]);
}

uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
