/* fs/ core without FUSE: option parsing, merged lookup and listing over
 * both whiteout forms, whiteouts and opaque directories written to the
 * upper layer, copy-up (data, mode, sparse, metadata only, lower hard links
 * through the index), node lifetimes. */
#include "fs/fs-internal.h"
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

static char base[] = "/tmp/strata-test-fs-XXXXXX";

static void put(const char *rel, const char *data)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", base, rel);
        _cleanup_free_ char *dir = xstrdup(p);
        *strrchr(dir, '/') = '\0';
        struct err e;
        mkdir_p(dir, 0755, &e);
        if (!data) {
                mkdir(p, 0755);
                return;
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
                (void)!write(fd, data, strlen(data));
                close(fd);
        }
}

static void whiteout(const char *rel)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", base, rel);
        mknod(p, S_IFCHR, makedev(0, 0));
}

static void warned(const char *opt)
{
        ok(!strcmp(opt, "bogus=1"), "unknown option reported: %s", opt);
}

static void test_options(void)
{
        struct fs_config c = { 0 };
        struct err e = { 0 };
        int r = fs_parse_options(&c, "lowerdir=/a:/b\\,c,upperdir=/u,workdir=/w,ro,allow_other,bogus=1,squash_to_root,nodev", warned, &e);
        is_int(r, 0, "fuse-overlayfs options parse");
        is_int((long long)c.n_lowers, 2, "two lower dirs");
        is_str(c.lowers[1], "/b,c", "\\, is a comma in a value");
        is_str(c.upper, "/u", "upperdir");
        ok(c.read_only && c.allow_other, "ro and allow_other");
        is_str(c.mount_opts, "nodev", "mount flags passed on");
        fs_config_free(&c);
        r = fs_parse_options(&c, "timeout=abc", NULL, &e);
        is_int(r, -EINVAL, "bad timeout refused");
        fs_config_free(&c);
}

/* the daemon's configuration survives the trip through argv words */
static void test_config_argv(void)
{
        struct fs_config c = { 0 }, d = { 0 };
        struct err e = { 0 };
        int r = fs_parse_options(&c, "lowerdir=/a:/b\\,c=d,upperdir=/u,workdir=/w,ro,allow_other,writeback,"
                                     "fsname=x=y,timeout=0.25,max_threads=3,readdirplus=no,splice=0,no_open=0,nodev",
                                 NULL, &e);
        is_int(r, 0, "options for the round trip parse");
        c.debug = c.quiet_after_ready = true;
        char **v = fs_config_argv(&c);
        r = fs_config_from_argv(&d, v, &e);
        is_int(r, 0, "argv words read back");
        is_int((long long)d.n_lowers, 2, "two lower dirs back");
        is_str(d.lowers[1], "/b,c=d", "a lower dir with , and = back");
        is_str(d.upper, "/u", "upper back");
        is_str(d.work, "/w", "work back");
        is_str(d.fsname, "x=y", "fsname back");
        is_str(d.mount_opts, "nodev", "mount flags back");
        ok(d.timeout == 0.25 && d.max_threads == 3 && d.readdirplus == -1, "timeout, threads, readdirplus back");
        ok(d.read_only && d.allow_other && d.writeback && d.debug && d.quiet_after_ready && d.no_splice && d.open_handles,
           "every flag back");
        fs_config_argv_free(v);
        fs_config_free(&d);
        fs_config_free(&c);
        /* no OPEN is the default; "no_open" alone says so again */
        r = fs_parse_options(&c, "lowerdir=/a,no_open", NULL, &e);
        ok(r == 0 && !c.open_handles, "no_open: no handles, the default");
        char *bad[] = { "lower=/a", "bogus", NULL };
        r = fs_config_from_argv(&d, bad, &e);
        is_int(r, -EINVAL, "an unknown word refused");
        fs_config_free(&d);
        fs_config_free(&c);
}

static struct ovl *setup(void)
{
        /* L0 (top) .. L1, upper U, work W */
        put("L1/etc/passwd", "root\n");
        put("L1/etc/motd", "motd\n");
        put("L1/etc/group", "g\n");
        put("L1/d/old", "old");
        put("L1/oci/hidden", "h");
        put("L1/ociopq/x", "x");
        put("L1/keep/a", "a");
        put("L0/etc/passwd", "root2\n");
        put("L0/keep/b", "b");
        put("L0/d", NULL);
        put("L0/ociopq/.wh..wh..opq", "");
        put("L0/ociopq/y", "y");
        put("L0/oci/.wh.hidden", "");
        whiteout("L0/etc/motd");
        put("U", NULL);
        put("W", NULL);
        _cleanup_free_ char *d = xasprintf("%s/L0/d", base);
        lsetxattr(d, OVL_XATTR_OPAQUE, "y", 1, 0);
        struct fs_config c = { 0 };
        c.n_lowers = 2;
        c.lowers = xcalloc(2, sizeof(char *));
        c.lowers[0] = xasprintf("%s/L0", base);
        c.lowers[1] = xasprintf("%s/L1", base);
        c.upper = xasprintf("%s/U", base);
        c.work = xasprintf("%s/W", base);
        struct ovl *o = NULL;
        struct err e = { 0 };
        int r = ovl_new(&c, &o, &e);
        is_int(r, 0, "ovl_new");
        if (r < 0)
                printf("# %s\n", e.msg);
        fs_config_free(&c);
        return o;
}

static int look(struct ovl *o, struct node *dir, const char *name, struct node **n)
{
        struct stat st;
        struct node *tmp;
        int r = ovl_lookup(o, dir, name, n ? n : &tmp, &st);
        if (r == 0 && !n)
                node_forget(o, tmp, 1);
        return r;
}

static bool listed(struct ovl *o, struct node *dir, const char *name)
{
        struct dir_snap *d;
        if (ovl_dir_read(o, dir, &d) < 0)
                return false;
        bool found = false;
        for (size_t i = 0; i < d->n; i++)
                found = found || !strcmp(d->ents[i].name, name);
        dir_snap_put(d);
        return found;
}

static bool upper_is_whiteout(const char *rel)
{
        _cleanup_free_ char *p = xasprintf("%s/U/%s", base, rel);
        struct stat st;
        return lstat(p, &st) == 0 && st_is_whiteout(&st);
}

static void test_merge(struct ovl *o)
{
        struct node *etc, *d, *oci, *opq, *keep;
        is_int(look(o, o->root, "etc", &etc), 0, "etc merged");
        is_int(look(o, etc, "motd", NULL), -ENOENT, "overlayfs whiteout hides motd");
        ok(!listed(o, etc, "motd"), "whiteout not listed");
        ok(listed(o, etc, "group") && listed(o, etc, "passwd"), "lower names listed");
        is_int(look(o, o->root, "d", &d), 0, "opaque dir");
        is_int(look(o, d, "old", NULL), -ENOENT, "opaque xattr hides lower");
        is_int(look(o, o->root, "oci", &oci), 0, "oci dir");
        is_int(look(o, oci, "hidden", NULL), -ENOENT, "OCI .wh.NAME hides NAME");
        is_int(look(o, oci, ".wh.hidden", NULL), -ENOENT, "OCI marker is no name");
        is_int(look(o, o->root, "ociopq", &opq), 0, "oci opaque dir");
        is_int(look(o, opq, "x", NULL), -ENOENT, "OCI .wh..wh..opq hides lower");
        is_int(look(o, opq, "y", NULL), 0, "its own names stay");
        ok(!listed(o, opq, ".wh..wh..opq") && !listed(o, opq, "x"), "opaque listing");
        is_int(look(o, o->root, "keep", &keep), 0, "merged dir");
        ok(listed(o, keep, "a") && listed(o, keep, "b"), "both layers listed");
        is_int(keep->ndirs, 2, "two layers merged");

        /* removing names */
        is_int(ovl_unlink(o, etc, "passwd", false), 0, "unlink lower file");
        ok(upper_is_whiteout("etc/passwd"), "whiteout written to the upper layer");
        is_int(look(o, etc, "passwd", NULL), -ENOENT, "gone");
        is_int(ovl_dir_empty(o, keep), -ENOTEMPTY, "merged dir not empty");
        is_int(ovl_unlink(o, keep, "a", false), 0, "unlink a");
        is_int(ovl_unlink(o, keep, "b", false), 0, "unlink b");
        is_int(ovl_dir_empty(o, keep), 0, "only whiteouts left");
        is_int(ovl_unlink(o, o->root, "keep", true), 0, "rmdir merged dir");
        ok(upper_is_whiteout("keep"), "dir whiteout");
        struct ovl_cred cr = { 0, 0 };
        struct node *nk;
        struct stat st;
        is_int(ovl_mknod(o, o->root, "keep", S_IFDIR | 0755, 0, NULL, &cr, &nk, &st), 0, "mkdir over whiteout");
        _cleanup_free_ char *kp = xasprintf("%s/U/keep", base);
        char v[2] = { 0 };
        ok(lgetxattr(kp, OVL_XATTR_OPAQUE, v, 1) == 1 && v[0] == 'y', "recreated dir is opaque");
        ok(!listed(o, nk, "a"), "nothing shows through");
        is_int(ovl_mknod(o, o->root, "wh", S_IFCHR | 0644, 0, NULL, &cr, &nk, &st), -EPERM, "no 0/0 devices");

        /* copy-up */
        struct node *grp;
        is_int(look(o, etc, "group", &grp), 0, "lower file");
        ino_t before = (ino_t)grp->ino;
        int fd = -1;
        is_int(ovl_open(o, grp, O_WRONLY | O_APPEND, &fd), 0, "open for writing copies up");
        (void)!write(fd, "more", 4);
        close(fd);
        is_int(node_layer(grp), 0, "now in the upper layer");
        is_int(ovl_getattr(o, grp, -1, &st), 0, "getattr");
        is_int((long long)st.st_ino, (long long)before, "st_ino kept through copy-up");
        is_int(st.st_size, 6, "data copied and appended");
        _cleanup_free_ char *lp = xasprintf("%s/L1/etc/group", base);
        struct stat ls;
        lstat(lp, &ls);
        is_int(ls.st_size, 2, "lower layer untouched");
        node_forget(o, grp, 1);
        node_forget(o, etc, 1);
        node_forget(o, d, 1);
        node_forget(o, oci, 1);
        node_forget(o, opq, 1);
        node_forget(o, keep, 1);
        node_forget(o, nk, 1);
}

static void test_sparse(void)
{
        put("S/L/big", "");
        _cleanup_free_ char *p = xasprintf("%s/S/L/big", base);
        truncate(p, 64 << 20);
        put("S/U", NULL);
        put("S/W", NULL);
        struct fs_config c = { 0 };
        c.n_lowers = 1;
        c.lowers = xcalloc(1, sizeof(char *));
        c.lowers[0] = xasprintf("%s/S/L", base);
        c.upper = xasprintf("%s/S/U", base);
        c.work = xasprintf("%s/S/W", base);
        struct ovl *o = NULL;
        struct err e;
        if (ovl_new(&c, &o, &e) < 0) {
                ok(false, "ovl_new: %s", e.msg);
                fs_config_free(&c);
                return;
        }
        struct node *n;
        struct stat st;
        is_int(ovl_lookup(o, o->root, "big", &n, &st), 0, "sparse file");
        is_int(ovl_copy_up(o, n), 0, "copy-up");
        _cleanup_free_ char *up = xasprintf("%s/S/U/big", base);
        struct stat us;
        lstat(up, &us);
        is_int(us.st_size, 64 << 20, "size kept");
        ok(us.st_blocks < 1024, "holes stay holes (%lld blocks)", (long long)us.st_blocks);
        node_forget(o, n, 1);
        ovl_free(o);
        fs_config_free(&c);
}

/* one lower layer @dir/L, upper @dir/U, work @dir/W */
static struct ovl *mount_dir(struct fs_config *c, const char *dir)
{
        memset(c, 0, sizeof(*c));
        c->n_lowers = 1;
        c->lowers = xcalloc(1, sizeof(char *));
        c->lowers[0] = xasprintf("%s/%s/L", base, dir);
        c->upper = xasprintf("%s/%s/U", base, dir);
        c->work = xasprintf("%s/%s/W", base, dir);
        struct ovl *o = NULL;
        struct err e;
        if (ovl_new(c, &o, &e) < 0) {
                ok(false, "ovl_new: %s", e.msg);
                return NULL;
        }
        return o;
}

static int read_node(struct ovl *o, struct node *n, char *buf, size_t size)
{
        int fd;
        int r = ovl_open(o, n, O_RDONLY, &fd);
        if (r < 0)
                return r;
        ssize_t len = pread(fd, buf, size - 1, 0);
        close(fd);
        buf[len < 0 ? 0 : len] = '\0';
        return 0;
}

/* invariant (7): a chmod copies the metadata up, the data stays below until written */
static void test_metacopy(void)
{
        put("M/L/f", "hello");
        put("M/U", NULL);
        put("M/W", NULL);
        struct fs_config c;
        struct ovl *o = mount_dir(&c, "M");
        if (!o) {
                fs_config_free(&c);
                return;
        }
        struct node *n;
        struct stat st, st2;
        char buf[64];
        is_int(ovl_lookup(o, o->root, "f", &n, &st), 0, "metacopy: lower file");
        uint64_t ino = st.st_ino;
        struct stat a = { .st_mode = 0600 };
        is_int(ovl_setattr(o, n, -1, &a, OVL_SET_MODE, &st2), 0, "chmod");
        is_int(st2.st_mode & 07777, 0600, "mode changed");
        ok(st2.st_ino == ino, "st_ino kept");
        is_int(node_layer(n), 0, "in the upper layer");
        is_int(atomic_load(&n->mc_layer), 1, "data in the lower layer");
        _cleanup_free_ char *up = xasprintf("%s/M/U/f", base);
        ok(lgetxattr(up, OVL_XATTR_METACOPY, NULL, 0) == 0, "marked metacopy (empty value)");
        ok(lgetxattr(up, OVL_XATTR_ORIGIN, NULL, 0) > 0, "origin recorded");
        int ufd = open(up, O_RDONLY);
        ok(ufd >= 0 && lseek(ufd, 0, SEEK_DATA) < 0 && errno == ENXIO, "upper file holds no data");
        if (ufd >= 0)
                close(ufd);
        lstat(up, &st);
        is_int(st.st_size, 5, "upper file has the size");
        is_int(read_node(o, n, buf, sizeof(buf)), 0, "read");
        is_str(buf, "hello", "reads see the lower data");
        node_forget(o, n, 1);
        ovl_free(o);
        fs_config_free(&c);

        /* a remount finds the mark */
        o = mount_dir(&c, "M");
        if (!o) {
                fs_config_free(&c);
                return;
        }
        is_int(ovl_lookup(o, o->root, "f", &n, &st), 0, "remounted");
        is_int(atomic_load(&n->mc_layer), 1, "still metacopy");
        ok(st.st_ino == ino, "st_ino kept across the remount");
        is_int(st.st_mode & 07777, 0600, "mode kept");
        is_int(read_node(o, n, buf, sizeof(buf)), 0, "read");
        is_str(buf, "hello", "lower data after the remount");
        int fd;
        is_int(ovl_open(o, n, O_WRONLY, &fd), 0, "open for writing");
        is_int(atomic_load(&n->mc_layer), -1, "copy-up completed");
        ok(lgetxattr(up, OVL_XATTR_METACOPY, NULL, 0) < 0 && errno == ENODATA, "mark removed");
        ok(pwrite(fd, "J", 1, 0) == 1, "write");
        close(fd);
        is_int(read_node(o, n, buf, sizeof(buf)), 0, "read");
        is_str(buf, "Jello", "data copied up and written");
        _cleanup_free_ char *lp = xasprintf("%s/M/L/f", base);
        lstat(lp, &st);
        is_int(st.st_mode & 07777, 0644, "lower file untouched");
        is_int(ovl_getattr(o, n, -1, &st), 0, "getattr");
        ok(st.st_ino == ino && (st.st_mode & 07777) == 0600, "number and mode kept");
        node_forget(o, n, 1);
        ovl_free(o);
        fs_config_free(&c);
}

/* invariant (8): the names of a lower hard link stay one file after copy-up */
static void test_index(void)
{
        put("H/L/f", "data");
        _cleanup_free_ char *lf = xasprintf("%s/H/L/f", base);
        _cleanup_free_ char *lg = xasprintf("%s/H/L/g", base);
        ok(link(lf, lg) == 0, "lower hard link");
        put("H/U", NULL);
        put("H/W", NULL);
        struct fs_config c;
        struct ovl *o = mount_dir(&c, "H");
        if (!o) {
                fs_config_free(&c);
                return;
        }
        struct node *f, *g;
        struct stat st, ust, gst;
        char buf[64];
        is_int(ovl_lookup(o, o->root, "f", &f, &st), 0, "f");
        is_int(ovl_lookup(o, o->root, "g", &g, &gst), 0, "g");
        ok(st.st_ino == gst.st_ino && st.st_nlink == 2, "one file, two names");
        uint64_t ino = st.st_ino;
        int fd;
        is_int(ovl_open(o, f, O_WRONLY, &fd), 0, "f opened for writing");
        ok(pwrite(fd, "D", 1, 0) == 1, "write through f");
        close(fd);
        is_int(node_layer(g), 1, "g not linked up yet");
        is_int(read_node(o, g, buf, sizeof(buf)), 0, "read g");
        is_str(buf, "Data", "g sees f's write");
        is_int(node_layer(g), 0, "g linked up to the index file");
        _cleanup_free_ char *uf = xasprintf("%s/H/U/f", base);
        _cleanup_free_ char *ug = xasprintf("%s/H/U/g", base);
        lstat(uf, &ust);
        lstat(ug, &gst);
        ok(ust.st_ino == gst.st_ino && ust.st_nlink == 3, "upper names are links of the index file");
        is_int(ovl_getattr(o, g, -1, &st), 0, "getattr g");
        ok(st.st_ino == ino && st.st_nlink == 2, "lower number and two names");
        lstat(lf, &st);
        is_int(st.st_size, 4, "lower untouched");
        is_int(ovl_unlink(o, o->root, "g", false), 0, "unlink g");
        is_int(ovl_getattr(o, f, -1, &st), 0, "getattr f");
        is_int(st.st_nlink, 1, "one name left");
        node_forget(o, f, 1);
        node_forget(o, g, 1);
        ovl_free(o);
        fs_config_free(&c);

        o = mount_dir(&c, "H");
        if (!o) {
                fs_config_free(&c);
                return;
        }
        is_int(ovl_lookup(o, o->root, "f", &f, &st), 0, "remounted");
        ok(st.st_ino == ino && st.st_nlink == 1, "number and count kept");
        is_int(look(o, o->root, "g", NULL), -ENOENT, "g stays removed");
        node_forget(o, f, 1);
        ovl_free(o);
        fs_config_free(&c);
}

int main(void)
{
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return 1;
        }
        test_options();
        test_config_argv();
        struct ovl *o = setup();
        if (o)
                test_merge(o);
        ovl_free(o);
        test_sparse();
        test_metacopy();
        test_index();
        struct err e;
        _cleanup_close_ int fd = open("/tmp", O_DIRECTORY);
        rm_rf_at(fd, base + strlen("/tmp/"), &e);
        return tap_done();
}
