/* COPY for `strata build`: see buildcopy.h and build.h invariant 4. */
#include "buildcopy.h"
#include "unpack/unpack.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COPY_MAX_MATCHES 100000

static int open_how(int dirfd, const char *path, int flags, mode_t mode, unsigned long long resolve)
{
        struct open_how how = { .flags = (unsigned long long)(flags | O_CLOEXEC), .mode = mode, .resolve = resolve };
        int fd;
        do
                fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        while (fd < 0 && errno == EAGAIN);
        return fd;
}

/* A path of the source: in the context, beneath it (a '..' or a symlink out
 * is EXDEV); in an image (COPY --from), resolved inside its root. */
static int open_beneath(const struct copy_src *c, const char *rel, int flags, struct err *e)
{
        int fd = open_how(c->fd, *rel ? rel : ".", flags, 0,
                          (c->image ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | RESOLVE_NO_MAGICLINKS);
        if (fd < 0 && errno == EXDEV)
                return err_setx(e, EXDEV, "%s: outside the build context (forbidden path)", rel);
        if (fd < 0)
                return err_set(e, errno, "%s", *rel ? rel : ".");
        return fd;
}

static void strv_push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

/* .dockerignore: @rel is left out.  An excluded directory is still walked
 * when exceptions ('!') could bring back something under it. */
static bool ignored(const struct bf_ignore *ig, const char *rel, bool dir)
{
        if (!bf_ignore_match(ig, rel))
                return false;
        for (size_t i = 0; dir && i < ig->n; i++)
                if (ig->neg[i])
                        return false;
        return true;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

/* The names in the directory @dfd matching @pattern (NULL: all), sorted
 * bytewise. */
static int sorted_names(int dfd, const char *pattern, const char *rel, char ***names, size_t *nn, struct err *e)
{
        *names = NULL;
        *nn = 0;
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return err_set(e, errno, "%s", rel);
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    (!pattern || fnmatch(pattern, de->d_name, 0) == 0))
                        strv_push(names, nn, xstrdup(de->d_name));
        closedir(d);
        if (*nn)
                qsort(*names, *nn, sizeof **names, cmp_str);
        return 0;
}

static void names_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Matches of the components @rest under the context directory @prefix. */
static int glob_in(const struct copy_src *ctxfd, const char *prefix, const char *rest, char ***out, size_t *n, struct err *e)
{
        while (*rest == '/')
                rest++;
        if (!*rest) {
                if (!(ctxfd->ignore && bf_ignore_match(ctxfd->ignore, prefix)))
                        strv_push(out, n, xstrdup(*prefix ? prefix : "."));
                return 0;
        }
        size_t cl = strcspn(rest, "/");
        _cleanup_free_ char *comp = xstrndup(rest, cl);
        const char *next = rest + cl;
        if (!has_glob(comp)) {
                _cleanup_free_ char *p = *prefix ? xasprintf("%s/%s", prefix, comp) : xstrdup(comp);
                if (!strcmp(comp, "..") || !strcmp(comp, ".")) {
                        if (!strcmp(comp, "..")) {
                                /* checked lexically: ".." may not climb above the context */
                                int fd = open_beneath(ctxfd, p, O_PATH, e);
                                if (fd < 0)
                                        return fd;
                                close(fd);
                        }
                        return glob_in(ctxfd, p, next, out, n, e);
                }
                int fd = open_beneath(ctxfd, p, O_PATH, e);
                if (fd < 0)
                        return fd;
                close(fd);
                return glob_in(ctxfd, p, next, out, n, e);
        }
        int dfd = open_beneath(ctxfd, *prefix ? prefix : ".", O_RDONLY | O_DIRECTORY, e);
        if (dfd < 0)
                return dfd;
        char **names;
        size_t nn;
        int r = sorted_names(dfd, comp, prefix, &names, &nn, e);
        close(dfd);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nn && r >= 0; i++) {
                _cleanup_free_ char *p = *prefix ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
                if (*next) {
                        struct stat st;
                        int fd = open_how(ctxfd->fd, p, O_PATH, 0,
                                          (ctxfd->image ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | RESOLVE_NO_MAGICLINKS);
                        bool dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
                        if (fd >= 0)
                                close(fd);
                        if (!dir)
                                continue;
                }
                r = glob_in(ctxfd, p, next, out, n, e);
                if (*n > COPY_MAX_MATCHES)
                        r = err_setx(e, E2BIG, "more than %d sources", COPY_MAX_MATCHES);
        }
        names_free(names, nn);
        return r;
}

int copy_expand_sources(const struct copy_src *ctxfd, char *const *srcs, size_t n, char ***out, size_t *n_out, struct err *e)
{
        char **v = xcalloc(1, sizeof *v);
        size_t cnt = 0;
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                size_t before = cnt;
                r = glob_in(ctxfd, "", srcs[i], &v, &cnt, e);
                if (r == -EXDEV)   /* name the source as written, not the part that climbed out */
                        r = err_setx(e, EXDEV, "%s: outside the build context (forbidden path)", srcs[i]);
                if (r >= 0 && cnt == before)
                        r = err_setx(e, ENOENT, "%s: no such file in the build context (or excluded by .dockerignore)", srcs[i]);
        }
        if (r < 0) {
                for (size_t i = 0; i < cnt; i++)
                        free(v[i]);
                free(v);
                return r;
        }
        *out = v;
        *n_out = cnt;
        return 0;
}

/* --------------------------------------------------------------- digest */

static int hash_fd(struct sha256 *h, int fd, struct err *e)
{
        char buf[65536];
        for (;;) {
                ssize_t k = read(fd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return err_set(e, errno, "read");
                if (k == 0)
                        return 0;
                sha256_update(h, buf, (size_t)k);
        }
}

static int hash_entry(struct sha256 *h, int dfd0, const char *name, const char *rel, int depth,
                      const struct bf_ignore *ig, struct err *e)
{
        struct stat st;
        if (fstatat(dfd0, name, &st, depth ? AT_SYMLINK_NOFOLLOW : 0) < 0)
                return err_set(e, errno, "%s", rel);
        if (depth && ig && ignored(ig, rel, S_ISDIR(st.st_mode)))
                return 0;
        char head[64];
        int hl = snprintf(head, sizeof head, "%o %llu ", (unsigned)st.st_mode,
                          S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0ULL);
        sha256_update(h, rel, strlen(rel) + 1);
        sha256_update(h, head, (size_t)hl);
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int fd = openat(dfd0, name, O_RDONLY | O_CLOEXEC | (depth ? O_NOFOLLOW : 0));
                if (fd < 0)
                        return err_set(e, errno, "%s", rel);
                return hash_fd(h, fd, e);
        }
        if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX + 1];
                ssize_t k = readlinkat(dfd0, name, t, PATH_MAX);
                if (k < 0)
                        return err_set(e, errno, "%s", rel);
                sha256_update(h, t, (size_t)k);
                return 0;
        }
        if (!S_ISDIR(st.st_mode))
                return 0;
        _cleanup_close_ int dfd = openat(dfd0, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (depth ? O_NOFOLLOW : 0));
        if (dfd < 0)
                return err_set(e, errno, "%s", rel);
        char **names;
        size_t nn;
        int r = sorted_names(dfd, NULL, rel, &names, &nn, e);
        for (size_t i = 0; i < nn && r >= 0; i++) {
                _cleanup_free_ char *sub = xasprintf("%s/%s", rel, names[i]);
                r = hash_entry(h, dfd, names[i], sub, depth + 1, ig, e);
        }
        names_free(names, nn);
        return r;
}

int copy_sources_digest(const struct copy_src *ctxfd, char *const *srcs, size_t n, char out[DIGEST_STR_LEN + 1], struct err *e)
{
        struct sha256 h;
        sha256_init(&h);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                /* checked beneath the context; a top-level symlink is followed */
                int fd = open_beneath(ctxfd, srcs[i], O_PATH, e);
                if (fd < 0) {
                        r = fd;
                        break;
                }
                close(fd);
                r = hash_entry(&h, ctxfd->fd, srcs[i], srcs[i], 0, ctxfd->ignore, e);
        }
        if (r < 0) {
                sha256_free(&h);
                return r;
        }
        sha256_final(&h, out);
        return 0;
}

/* ----------------------------------------------------------------- copy */

int copy_mkdir_p(int rootfd, const char *path, uid_t uid, gid_t gid, struct err *e)
{
        _cleanup_free_ char *p = xstrdup(path);
        int cur = open_how(rootfd, "/", O_PATH | O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (cur < 0)
                return err_set(e, errno, "open the image's root");
        char *save = NULL;
        for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, "."))
                        continue;
                /* the prefix so far, resolved inside the root */
                size_t off = (size_t)(c - p) + strlen(c);
                _cleanup_free_ char *prefix = xstrndup(path, off);
                int next = open_how(rootfd, prefix, O_PATH | O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
                if (next < 0 && errno == ENOENT) {
                        if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
                                close(cur);
                                return err_set(e, errno, "mkdir %s", prefix);
                        }
                        if (fchownat(cur, c, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
                                close(cur);
                                return err_set(e, errno, "chown %s", prefix);
                        }
                        next = open_how(rootfd, prefix, O_PATH | O_DIRECTORY, 0,
                                        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
                }
                if (next < 0) {
                        int er = errno;
                        close(cur);
                        return err_set(e, er == ENOTDIR ? ENOTDIR : er, "%s", prefix);
                }
                close(cur);
                cur = next;
        }
        close(cur);
        return 0;
}

/* @path's parent opened inside @rootfd (made when missing), its last name
 * into *@base (points into @path; "" for the root). */
static int open_parent(int rootfd, const char *path, const char **base, const struct copy_spec *cs, struct err *e)
{
        const char *slash = strrchr(path, '/');
        *base = slash ? slash + 1 : path;
        _cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("/");
        if (!*dir) {
                free(dir);
                dir = xstrdup("/");
        }
        int r = copy_mkdir_p(rootfd, dir, cs->uid, cs->gid, e);
        if (r < 0)
                return r;
        int fd = open_how(rootfd, dir, O_RDONLY | O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        return fd < 0 ? err_set(e, errno, "%s", dir) : fd;
}

static int copy_data(int in, int out, const char *rel, struct err *e)
{
        for (;;) {
                ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (k == 0)
                        return 0;
                if (k > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
                        return err_set(e, errno, "copy %s", rel);
                break;
        }
        char buf[65536];
        for (;;) {
                ssize_t k = read(in, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return err_set(e, errno, "read %s", rel);
                if (k == 0)
                        return 0;
                if (write_all(out, buf, (size_t)k) < 0)
                        return err_set(e, errno, "write %s", rel);
        }
}

/* Make way for a non-directory at @name in @dfd: a file or link there goes. */
static int clear_slot(int dfd, const char *name, const char *rel, struct err *e)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : err_set(e, errno, "%s", rel);
        if (S_ISDIR(st.st_mode))
                return err_setx(e, EISDIR, "cannot overwrite the directory %s with a non-directory", rel);
        if (unlinkat(dfd, name, 0) < 0)
                return err_set(e, errno, "remove %s", rel);
        return 0;
}

/* @sname in @sdir, not followed; or (@self) @sdir is an O_PATH fd of the
 * entry itself (a top-level source, resolved safely by the caller). */
static int entry_open(int sdir, const char *sname, bool self, int flags)
{
        if (!self)
                return openat(sdir, sname, flags | O_NOFOLLOW | O_CLOEXEC);
        if (flags & O_DIRECTORY)
                return openat(sdir, ".", flags | O_CLOEXEC);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", sdir);
        return open(p, flags | O_CLOEXEC);
}

static int copy_entry(int sdir, const char *sname, bool self, int ddir, const char *dname, const char *rel,
                      const struct copy_spec *cs, struct err *e)
{
        struct stat st;
        if ((self ? fstat(sdir, &st) : fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW)) < 0)
                return err_set(e, errno, "%s", rel);
        if (!self && cs->ignore && ignored(cs->ignore, rel, S_ISDIR(st.st_mode)))
                return 0;
        mode_t mode = cs->chmod_set ? cs->chmod : (st.st_mode & 07777);
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        if (S_ISDIR(st.st_mode)) {
                /* excluded, walked for an exception under it: a directory
                 * only implied by what is copied, 0755 as docker makes it */
                if (!self && cs->ignore && bf_ignore_match(cs->ignore, rel))
                        mode = 0755;
                struct stat dst;
                bool made = false;
                if (*dname && fstatat(ddir, dname, &dst, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (mkdirat(ddir, dname, 0700) < 0)
                                return err_set(e, errno, "mkdir %s", rel);
                        made = true;
                } else if (*dname && !S_ISDIR(dst.st_mode)) {
                        return err_setx(e, ENOTDIR, "cannot overwrite the non-directory %s with a directory", rel);
                }
                _cleanup_close_ int to = openat(ddir, *dname ? dname : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int from = entry_open(sdir, sname, self, O_RDONLY | O_DIRECTORY);
                if (to < 0 || from < 0) {
                        if (from >= 0)
                                close(from);
                        return err_set(e, errno, "open %s", rel);
                }
                DIR *d = fdopendir(from);
                if (!d) {
                        close(from);
                        return err_set(e, errno, "%s", rel);
                }
                int r = 0;
                struct dirent *de;
                while (r >= 0 && (de = readdir(d))) {
                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        _cleanup_free_ char *sub = xasprintf("%s/%s", rel, de->d_name);
                        r = copy_entry(dirfd(d), de->d_name, false, to, de->d_name, sub, cs, e);
                }
                closedir(d);
                if (r < 0)
                        return r;
                if (made) {
                        if (fchown(to, cs->uid, cs->gid) < 0 || fchmod(to, mode) < 0)
                                return err_set(e, errno, "%s: owner and mode", rel);
                }
                if (made && futimens(to, ts) < 0)
                        return err_set(e, errno, "%s: times", rel);
                return 0;
        }
        int r = clear_slot(ddir, dname, rel, e);
        if (r < 0)
                return r;
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int in = entry_open(sdir, sname, self, O_RDONLY);
                _cleanup_close_ int out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (in < 0 || out < 0)
                        return err_set(e, errno, "copy %s", rel);
                r = copy_data(in, out, rel, e);
                if (r >= 0 && (fchown(out, cs->uid, cs->gid) < 0 || fchmod(out, mode) < 0 || futimens(out, ts) < 0))
                        r = err_set(e, errno, "%s: owner, mode and times", rel);
                return r;
        }
        if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX + 1];
                ssize_t k = readlinkat(sdir, sname, t, PATH_MAX);
                if (k < 0)
                        return err_set(e, errno, "%s", rel);
                t[k] = '\0';
                if (symlinkat(t, ddir, dname) < 0 || fchownat(ddir, dname, cs->uid, cs->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return err_set(e, errno, "symlink %s", rel);
                return 0;
        }
        if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                if (mknodat(ddir, dname, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0 ||
                    fchownat(ddir, dname, cs->uid, cs->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return err_set(e, errno, "mknod %s", rel);
                return 0;
        }
        return 0;   /* sockets: left out */
}

bool copy_dest_dir(int rootfd, const char *path)
{
        size_t l = strlen(path);
        if (l && path[l - 1] == '/')
                return true;
        int fd = open_how(rootfd, path, O_PATH | O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

int copy_into(const struct copy_src *ctxfd, char *const *srcs, size_t n, int rootfd, const char *dest, const struct copy_spec *cs,
              struct err *e)
{
        size_t dl = strlen(dest);
        bool dest_dir = copy_dest_dir(rootfd, dest);
        if (n > 1 && !(dl && dest[dl - 1] == '/') && !dest_dir)
                return err_setx(e, EINVAL, COPY_MANY_NEED_DIR);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_close_ int src = open_beneath(ctxfd, srcs[i], O_PATH, e);
                if (src < 0)
                        return src;
                struct stat st;
                if (fstat(src, &st) < 0)
                        return err_set(e, errno, "%s", srcs[i]);
                _cleanup_free_ char *target = NULL;
                if (S_ISDIR(st.st_mode)) {
                        target = xstrdup(dest);
                        r = copy_mkdir_p(rootfd, target, cs->uid, cs->gid, e);
                } else if (dest_dir) {
                        const char *b = strrchr(srcs[i], '/');
                        target = xasprintf("%s%s%s", dest, dl && dest[dl - 1] == '/' ? "" : "/", b ? b + 1 : srcs[i]);
                } else {
                        target = xstrdup(dest);
                }
                for (size_t tl = strlen(target); tl > 1 && target[tl - 1] == '/'; tl--)
                        target[tl - 1] = '\0';
                if (r < 0)
                        break;
                const char *base;
                _cleanup_close_ int pfd = -1;
                if (S_ISDIR(st.st_mode) && !strcmp(target, "/")) {
                        pfd = open_how(rootfd, "/", O_RDONLY | O_DIRECTORY, 0, RESOLVE_IN_ROOT);
                        base = "";
                        if (pfd < 0)
                                return err_set(e, errno, "open /");
                } else {
                        pfd = open_parent(rootfd, target, &base, cs, e);
                        if (pfd < 0)
                                return pfd;
                }
                struct copy_spec spec = *cs;
                spec.ignore = ctxfd->ignore;
                r = copy_entry(src, "", true, pfd, base, srcs[i], &spec, e);
        }
        return r;
}

/* A tar archive: 1 (gzip, zstd, or a plain tar); 0 not one; -ENOTSUP for
 * the compressions the unpacker does not read. */
static int archive_kind(int fd)
{
        unsigned char h[512];
        ssize_t k = pread(fd, h, sizeof h, 0);
        if (k >= 2 && h[0] == 0x1f && h[1] == 0x8b)
                return 1;
        if (k >= 4 && !memcmp(h, "\x28\xb5\x2f\xfd", 4))
                return 1;
        if (k >= 3 && !memcmp(h, "BZh", 3))
                return -ENOTSUP;
        if (k >= 6 && !memcmp(h, "\xfd" "7zXZ\0", 6))
                return -ENOTSUP;
        if (k == 512 && !memcmp(h + 257, "ustar", 5))
                return 1;
        return 0;
}

int add_into(const struct copy_src *ctxfd, char *const *srcs, size_t n, int rootfd, const char *dest,
             const struct copy_spec *cs, struct err *e)
{
        char **plain = xcalloc(n + 1, sizeof *plain);
        size_t np = 0;
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                int fd = open_beneath(ctxfd, srcs[i], O_RDONLY, e);
                if (fd < 0) {
                        r = fd;
                        break;
                }
                struct stat st;
                int kind = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? archive_kind(fd) : 0;
                if (kind < 0) {
                        r = err_setx(e, ENOTSUP, "%s: a bzip2 or xz archive (ADD extracts tar, gzip and zstd only)",
                                     srcs[i]);
                } else if (kind == 0) {
                        plain[np++] = srcs[i];
                } else {
                        r = copy_mkdir_p(rootfd, dest, 0, 0, e);
                        int dfd = r < 0 ? -1 : open_how(rootfd, dest, O_RDONLY | O_DIRECTORY, 0,
                                                        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
                        if (r >= 0 && dfd < 0)
                                r = err_set(e, errno, "%s", dest);
                        if (r >= 0) {
                                struct unpack_opts uo = { .mode = UNPACK_FLATTEN, .name = srcs[i] };
                                char diff_id[DIGEST_STR_LEN + 1];
                                r = unpack_layer_fd(fd, dfd, &uo, diff_id, NULL, e);
                                close(dfd);
                        }
                }
                close(fd);
        }
        if (r >= 0 && np)
                r = copy_into(ctxfd, plain, np, rootfd, dest, cs, e);
        free(plain);
        return r;
}

/* @path's parent inside @rootfd without a symlink on the way (missing
 * parts made as COPY makes them); the parent's fd, *@base its last name. */
static int real_parent(int rootfd, const char *path, const char **base, uid_t uid, gid_t gid, struct err *e)
{
        const char *slash = strrchr(path, '/');
        *base = slash ? slash + 1 : path;
        _cleanup_free_ char *dir = slash && slash != path ? xstrndup(path, (size_t)(slash - path)) : xstrdup("/");
        int r = copy_mkdir_p(rootfd, dir, uid, gid, e);
        if (r < 0)
                return r;
        int fd = open_how(rootfd, dir[1] ? dir + 1 : ".", O_RDONLY | O_DIRECTORY, 0,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        return fd < 0 ? -errno : fd;
}

static bool dir_empty(int dfd, const char *name)
{
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        bool empty = true;
        struct dirent *de;
        while (empty && (de = readdir(d)))
                empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        closedir(d);
        return empty;
}

/* Copy @dfd up through the union: a probe file made and removed in it. */
static int copy_up(int dfd, const char *rel, struct err *e)
{
        char probe[64];
        snprintf(probe, sizeof probe, ".strata-build-probe-%d", (int)getpid());
        int fd = openat(dfd, probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return err_set(e, errno, "%s: copy up", rel);
        close(fd);
        if (unlinkat(dfd, probe, 0) < 0)
                return err_set(e, errno, "%s: copy up", rel);
        return 0;
}

int copy_direct_prepare(int rootfd, char *const *targets, const bool *is_dir, size_t n, uid_t uid, gid_t gid,
                        struct err *e)
{
        int *parents = xcalloc(n + 1, sizeof *parents);
        const char **bases = xcalloc(n + 1, sizeof *bases);
        int r = 1;
        for (size_t i = 0; i < n && r > 0; i++) {
                parents[i] = real_parent(rootfd, targets[i], &bases[i], uid, gid, e);
                if (parents[i] < 0) {
                        r = parents[i] == -ELOOP || parents[i] == -EXDEV || parents[i] == -ENOTDIR ? 0 : parents[i];
                        if (r < 0 && !e->msg[0])
                                err_set(e, -r, "%s", targets[i]);
                        break;
                }
                struct stat st;
                if (!*bases[i] || fstatat(parents[i], bases[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (*bases[i] && errno != ENOENT)
                                r = err_set(e, errno, "%s", targets[i]);
                        else if (!*bases[i])
                                r = 0;   /* the root itself */
                        continue;
                }
                if (is_dir[i] ? !(S_ISDIR(st.st_mode) && dir_empty(parents[i], bases[i])) : S_ISDIR(st.st_mode))
                        r = 0;
        }
        for (size_t i = 0; i < n && r > 0; i++) {
                struct stat st;
                bool here = fstatat(parents[i], bases[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
                _cleanup_close_ int t = here ? openat(parents[i], bases[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                      O_CLOEXEC) : -1;
                int cr = copy_up(here ? t : parents[i], targets[i], e);
                if (cr < 0)
                        r = cr;
        }
        for (size_t i = 0; i < n; i++)
                if (parents[i] > 0)
                        close(parents[i]);
        free(parents);
        free(bases);
        return r;
}
