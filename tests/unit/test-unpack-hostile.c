/* unpack_layer_fd() over every blob of tests/hostile/gen.py: each hostile
 * layer fails with one line naming the layer and the problem, each valid one
 * unpacks; and in every case nothing outside the destination changed (a
 * canary tree next to it, /etc/passwd).  UNPACK INVARIANTS (1), (2), (6), (7). */
#include "tap.h"
#include "unpack/unpack.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

static char T[64];

/* snapshot() - every name below @dir (skipping the top-level names in
 * @skip), with type, mode, owner, size, times, links and small contents. */
static void snapshot(int dfd, const char *rel, const char *skip1, const char *skip2, struct buf *out)
{
        DIR *d = fdopendir(dup(dfd));
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (!*rel && ((skip1 && !strcmp(de->d_name, skip1)) || (skip2 && !strcmp(de->d_name, skip2))))
                        continue;
                struct stat st;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                buf_printf(out, "%s/%s %o %u:%u %lld %lld.%ld %lu", rel, de->d_name, st.st_mode, st.st_uid,
                           st.st_gid, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec, (unsigned long)st.st_nlink);
                if (S_ISREG(st.st_mode) && st.st_size < 4096) {
                        int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW);
                        char c[4096];
                        ssize_t n = fd >= 0 ? read(fd, c, sizeof c) : -1;
                        if (fd >= 0)
                                close(fd);
                        buf_append(out, " ", 1);
                        for (ssize_t i = 0; i < n; i++)
                                buf_printf(out, "%02x", (unsigned char)c[i]);
                }
                buf_append(out, "\n", 1);
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                        if (cfd >= 0) {
                                char sub[4096];
                                snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
                                snapshot(cfd, sub, NULL, NULL, out);
                                close(cfd);
                        }
                }
        }
        closedir(d);
}

static char *outside_state(void)
{
        struct buf b = BUF_INIT(16 << 20);
        int fd = open(T, O_RDONLY | O_DIRECTORY);
        snapshot(fd, "", "dest", "blobs", &b);
        close(fd);
        struct stat st;
        if (stat("/etc/passwd", &st) == 0)
                buf_printf(&b, "/etc/passwd %lu %lu %lld %lld.%ld\n", (unsigned long)st.st_ino,
                           (unsigned long)st.st_nlink, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec);
        return buf_steal(&b);
}

/* has_whiteout_name() - any ".wh." name left below @dfd? */
static bool has_whiteout_name(int dfd)
{
        DIR *d = fdopendir(dup(dfd));
        bool found = false;
        struct dirent *de;
        while (d && !found && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (!strncmp(de->d_name, ".wh.", 4))
                        found = true;
                else if (de->d_type == DT_DIR) {
                        int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                        if (cfd >= 0) {
                                found = has_whiteout_name(cfd);
                                close(cfd);
                        }
                }
        }
        if (d)
                closedir(d);
        return found;
}

struct result {
        int r;
        char diff_id[DIGEST_STR_LEN + 1];
        char msg[ERR_MSG_MAX];
};

static void run_case(const char *blob, int dest, const struct unpack_opts *o, bool nonroot, struct result *res)
{
        memset(res, 0, sizeof *res);
        int fd = open(blob, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                res->r = -errno;
                snprintf(res->msg, sizeof res->msg, "open %s", blob);
                return;
        }
        struct err e = { 0 };
        if (!nonroot) {
                res->r = unpack_layer_fd(fd, dest, o, res->diff_id, NULL, &e);
                memcpy(res->msg, e.msg, sizeof res->msg);
                close(fd);
                return;
        }
        /* as an unprivileged user, in a child */
        int p[2];
        if (pipe(p) < 0 || fchown(dest, 65534, 65534) < 0)
                abort();
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(3);
                struct result cr = { 0 };
                cr.r = unpack_layer_fd(fd, dest, o, cr.diff_id, NULL, &e);
                memcpy(cr.msg, e.msg, sizeof cr.msg);
                if (write(p[1], &cr, sizeof cr) != (ssize_t)sizeof cr)
                        _exit(4);
                _exit(0);
        }
        close(p[1]);
        if (read_full(p[0], res, sizeof *res) != (ssize_t)sizeof *res) {
                res->r = -EIO;
                snprintf(res->msg, sizeof res->msg, "child failed");
        }
        close(p[0]);
        waitpid(pid, NULL, 0);
        close(fd);
}

/* Case-specific checks of what a valid layer left in the destination. */
static void check_ok_case(const char *name, int dest, const char *canary)
{
        struct stat st;
        if (!strcmp(name, "absolute-name")) {
                char p[4096];
                snprintf(p, sizeof p, "%s/pwned", canary + 1);
                ok(fstatat(dest, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
                   "%s: the absolute name landed inside the layer", name);
        } else if (!strcmp(name, "file-over-symlink") || !strcmp(name, "hardlink-to-symlink")) {
                const char *f = name[0] == 'f' ? "f" : "h";
                ok(fstatat(dest, f, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
                   "%s: the file replaced the symlink", name);
        } else if (!strcmp(name, "no-trailer-ok") || !strcmp(name, "no-trailer-gzip-ok")) {
                ok(fstatat(dest, "b", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 5000,
                   "%s: last entry complete", name);
        } else if (!strcmp(name, "aufs-meta-ok")) {
                ok(fstatat(dest, "a/f", &st, AT_SYMLINK_NOFOLLOW) == 0, "%s: the real entries are there", name);
        } else if (!strcmp(name, "pax-global-path-ok")) {
                ok(fstatat(dest, "ok.txt", &st, AT_SYMLINK_NOFOLLOW) == 0, "%s: the entry keeps its own name", name);
        } else if (!strcmp(name, "forged-overlay-xattr-ok")) {
                char v[16];
                int fd = openat(dest, "forged", O_RDONLY | O_DIRECTORY);
                ok(fd >= 0 && fgetxattr(fd, "trusted.overlay.redirect", v, sizeof v) < 0 && errno == ENODATA,
                   "%s: trusted.overlay.redirect from the tar was dropped", name);
                ok(fd >= 0 && fgetxattr(fd, "user.ok", v, sizeof v) == 1, "%s: other xattrs kept", name);
                if (fd >= 0)
                        close(fd);
        }
}

int main(void)
{
        snprintf(T, sizeof T, "/tmp/strata-hostile-XXXXXX");
        if (!mkdtemp(T))
                abort();
        char canary[128], blobs[128], cmd[512], tsv[160], dest[128];
        snprintf(canary, sizeof canary, "%s/canary", T);
        snprintf(blobs, sizeof blobs, "%s/blobs", T);
        snprintf(dest, sizeof dest, "%s/dest", T);
        snprintf(tsv, sizeof tsv, "%s/cases.tsv", blobs);
        mkdir(canary, 0755);
        char cdir[160];
        snprintf(cdir, sizeof cdir, "%s/dir", canary);
        mkdir(cdir, 0755);
        char cfile[160];
        snprintf(cfile, sizeof cfile, "%s/file", canary);
        write_file_atomic(cfile, "canary\n", 7, 0644, NULL);

        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/hostile/gen.py %s %s >/dev/null", blobs, canary);
        if (system(cmd) != 0) {
                printf("1..0 # SKIP tests/hostile/gen.py could not run\n");
                return 0;
        }
        FILE *f = fopen(tsv, "r");
        if (!f)
                abort();
        char line[2048];
        int n_cases = 0;
        bool root = geteuid() == 0;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                char *fld[7] = { 0 }, *save = NULL;
                char *s = line;
                for (int i = 0; i < 7; i++, s = NULL)
                        fld[i] = strtok_r(s, "\t", &save);
                if (!fld[6])
                        continue;
                const char *name = fld[0], *expect = fld[3];
                bool nonroot = strstr(fld[5], "nonroot") != NULL;
                if (nonroot && !root) {
                        ok(1, "# SKIP %s: needs root to switch users", name);
                        continue;
                }
                n_cases++;
                char blob[512];
                snprintf(blob, sizeof blob, "%s/%s", blobs, fld[1]);
                char layer[160];
                snprintf(layer, sizeof layer, "layer %s", name);
                struct unpack_opts o = {
                        .media_type = fld[2],
                        .max_expanded = strtoull(fld[4], NULL, 10),
                        .name = layer,
                };
                _cleanup_free_ char *before = outside_state();
                mkdir(dest, 0755);
                int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                struct result res;
                run_case(blob, dfd, &o, nonroot, &res);
                if (!strcmp(expect, "OK")) {
                        ok(res.r == 0, "%s: unpacks (%s)", name, res.r ? res.msg : "ok");
                        if (strcmp(fld[6], "-"))
                                is_str(res.diff_id, fld[6], "diff_id");
                        ok(!has_whiteout_name(dfd), "%s: no .wh. name left", name);
                        check_ok_case(name, dfd, canary);
                } else if (!strcmp(expect, "DIFF_ID_MISMATCH")) {
                        ok(res.r < 0 || strcmp(res.diff_id, fld[6]) != 0, "%s: damage shows in the diff_id", name);
                } else {
                        ok(res.r < 0, "%s: refused", name);
                        ok(strstr(res.msg, expect) != NULL, "%s: error says \"%s\": %s", name, expect, res.msg);
                        ok(!strncmp(res.msg, layer, strlen(layer)) && !strchr(res.msg, '\n'),
                           "%s: one line naming the layer", name);
                        /* `strata unpack` applies layers with UNPACK_FLATTEN: the
                         * same refusal there */
                        if (!nonroot) {
                                rm_rf_at(AT_FDCWD, dest, NULL);
                                mkdir(dest, 0755);
                                int ffd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                struct unpack_opts fo = o;
                                fo.mode = UNPACK_FLATTEN;
                                run_case(blob, ffd, &fo, false, &res);
                                close(ffd);
                                ok(res.r < 0 && strstr(res.msg, expect) != NULL && !strchr(res.msg, '\n'),
                                   "%s: refused when flattening too: %s", name, res.msg);
                        }
                }
                _cleanup_free_ char *after = outside_state();
                ok(!strcmp(before, after), "%s: nothing outside the destination changed", name);
                if (strcmp(before, after))
                        printf("# before:\n%s# after:\n%s", before, after);
                close(dfd);
                rm_rf_at(AT_FDCWD, dest, NULL);
        }
        fclose(f);
        ok(n_cases >= 20, "at least twenty kinds of layer (%d)", n_cases);
        rm_rf_at(AT_FDCWD, T, NULL);
        return tap_done();
}
