/* unpack/names.c: entry path cleaning, whiteout names, media types, magic
 * bytes, message quoting, the string set (UNPACK INVARIANTS (2), (3)). */
#include "tap.h"
#include "unpack/unpack-internal.h"

#include <stdio.h>
#include <string.h>

static void clean_ok(const char *in, const char *want)
{
        char out[PATH_MAX];
        const char *why;
        int n = unpack_clean_path(in, out, &why);
        ok(n == (int)strlen(want) && !strcmp(out, want), "clean \"%s\" -> \"%s\" (got %d \"%s\")", in, want,
           n, n >= 0 ? out : why);
}

static void clean_refused(const char *in, const char *why_part)
{
        char out[PATH_MAX];
        const char *why = NULL;
        int n = unpack_clean_path(in, out, &why);
        ok(n == -EPERM && why && strstr(why, why_part), "refuse \"%.60s\" (%s)", in, why ? why : "accepted");
}

static void test_paths(void)
{
        clean_ok("etc/passwd", "etc/passwd");
        clean_ok("./etc/passwd", "etc/passwd");          /* mmdebstrap style */
        clean_ok("/etc/passwd", "etc/passwd");           /* absolute: relative to the root */
        clean_ok("//etc//./passwd/", "etc/passwd");
        clean_ok("./", "");
        clean_ok(".", "");
        clean_ok("/", "");
        clean_ok("", "");
        clean_ok("a/.../b", "a/.../b");                   /* "..." is an ordinary name */
        clean_ok("a/..b/c..", "a/..b/c..");
        clean_ok("dir/.wh.file", "dir/.wh.file");         /* whiteouts are the last component */
        clean_ok(".wh..wh..opq", ".wh..wh..opq");
        clean_refused("../etc/passwd", "\"..\"");
        clean_refused("a/../../etc", "\"..\"");
        clean_refused("a/../b", "\"..\"");                /* even when it would stay inside */
        clean_refused("/..", "\"..\"");
        clean_refused("..", "\"..\"");
        clean_refused("a/..", "\"..\"");
        clean_refused("./../x", "\"..\"");
        clean_refused(".wh.x/y", "whiteout");
        clean_refused("a/.wh.../b", "whiteout");
        clean_refused("a/.wh..wh..opq/b", "whiteout");

        char longc[400];
        memset(longc, 'x', sizeof longc - 1);
        longc[sizeof longc - 1] = '\0';
        clean_refused(longc, "NAME_MAX");
        static char longp[PATH_MAX + 300];
        size_t o = 0;
        while (o + 101 < sizeof longp - 1) {
                memset(longp + o, 'y', 100);
                longp[o + 100] = '/';
                o += 101;
        }
        longp[o] = '\0';
        clean_refused(longp, "PATH_MAX");
}

static void test_whiteouts(void)
{
        const char *t;
        is_int(unpack_whiteout("file", &t), UNPACK_WH_NONE, "plain name");
        is_int(unpack_whiteout(".whatever", &t), UNPACK_WH_NONE, ".whatever is not a whiteout");
        is_int(unpack_whiteout(".wh.motd", &t), UNPACK_WH_FILE, ".wh.motd");
        is_str(t, "motd", ".wh.motd hides motd");
        is_int(unpack_whiteout(".wh..hidden", &t), UNPACK_WH_FILE, ".wh..hidden");
        is_str(t, ".hidden", ".wh..hidden hides .hidden");
        is_int(unpack_whiteout(".wh..wh..opq", &t), UNPACK_WH_OPAQUE, "opaque marker");
        is_int(unpack_whiteout(".wh..wh.plnk", &t), UNPACK_WH_META, "aufs hard link dir is skipped");
        is_int(unpack_whiteout(".wh..wh.aufs", &t), UNPACK_WH_META, "aufs meta is skipped");
        is_int(unpack_whiteout(".wh.", &t), UNPACK_WH_BAD, "empty whiteout target");
        is_int(unpack_whiteout(".wh..", &t), UNPACK_WH_BAD, "whiteout of .");
        is_int(unpack_whiteout(".wh...", &t), UNPACK_WH_BAD, "whiteout of ..");
        is_int(unpack_whiteout(".wh....", &t), UNPACK_WH_FILE, "whiteout of ...");
}

static void test_aufs(void)
{
        ok(unpack_aufs_meta(".wh..wh.plnk/123.456"), "aufs hard link dir entry");
        ok(unpack_aufs_meta("./.wh..wh.plnk/"), "aufs hard link dir, ./ form");
        ok(unpack_aufs_meta("/.wh..wh.aufs"), "aufs meta file");
        ok(!unpack_aufs_meta(".wh..wh..opq"), "root opaque marker is no aufs meta");
        ok(!unpack_aufs_meta("./.wh..wh..opq"), "root opaque marker, ./ form");
        ok(unpack_aufs_meta(".wh..wh..opq/x"), "below a root opaque marker: skipped");
        ok(!unpack_aufs_meta("a/.wh..wh.plnk/x"), "only at the root");
        ok(!unpack_aufs_meta(".wh.x"), "a whiteout is no aufs meta");
}

static void test_media(void)
{
        is_int(unpack_media_comp("application/vnd.oci.image.layer.v1.tar"), UNPACK_COMP_NONE, "oci tar");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.v1.tar+gzip"), UNPACK_COMP_GZIP, "oci gzip");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.v1.tar+zstd"), UNPACK_COMP_ZSTD, "oci zstd");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
               UNPACK_COMP_GZIP, "oci nondistributable gzip");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
               UNPACK_COMP_ZSTD, "oci nondistributable zstd");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.nondistributable.v1.tar"),
               UNPACK_COMP_NONE, "oci nondistributable tar");
        is_int(unpack_media_comp("application/vnd.docker.image.rootfs.diff.tar.gzip"), UNPACK_COMP_GZIP,
               "docker gzip");
        is_int(unpack_media_comp("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
               UNPACK_COMP_GZIP, "docker foreign gzip");
        is_int(unpack_media_comp(NULL), UNPACK_COMP_AUTO, "no media type: by magic");
        is_int(unpack_media_comp("application/vnd.oci.image.config.v1+json"), -1, "a config is no layer");
        is_int(unpack_media_comp("application/vnd.oci.image.layer.v1.tar+bzip2"), -1, "bzip2 unsupported");
        is_int(unpack_media_comp(""), -1, "empty media type");
}

static void test_magic(void)
{
        is_int(unpack_sniff("\x1f\x8b\x08\x00", 4), UNPACK_COMP_GZIP, "gzip magic");
        is_int(unpack_sniff("\x1f\x8b", 2), UNPACK_COMP_GZIP, "gzip magic, 2 bytes");
        is_int(unpack_sniff("\x28\xb5\x2f\xfd\x00", 5), UNPACK_COMP_ZSTD, "zstd magic");
        is_int(unpack_sniff("\x50\x2a\x4d\x18", 4), UNPACK_COMP_ZSTD, "zstd skippable frame");
        is_int(unpack_sniff("BZh91AY", 7), UNPACK_COMP_OTHER, "bzip2");
        is_int(unpack_sniff("\xfd" "7zXZ\0\0", 7), UNPACK_COMP_OTHER, "xz");
        is_int(unpack_sniff("etc/passwd\0\0\0", 13), UNPACK_COMP_NONE, "a tar header");
        is_int(unpack_sniff("", 0), UNPACK_COMP_NONE, "empty");
        is_int(unpack_sniff("\x1f", 1), UNPACK_COMP_NONE, "one byte");
}

static void test_quote(void)
{
        char q[UNPACK_QUOTE_MAX];
        is_str(unpack_quote("a\nb\"c\\", q, sizeof q), "a\\x0ab\\\"c\\\\", "control bytes and quotes escaped");
        char big[2000];
        memset(big, 'z', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        unpack_quote(big, q, sizeof q);
        ok(strlen(q) < 230 && !strcmp(q + strlen(q) - 3, "..."), "long names are cut (%zu)", strlen(q));
        ok(!strchr(unpack_quote("x\ny\rz", q, sizeof q), '\n'), "one line");
}

static void test_strset(void)
{
        struct unpack_strset s = { 0 };
        ok(!unpack_strset_has(&s, "a", 1), "empty set");
        ok(unpack_strset_add(&s, "a/b", 3), "add a/b");
        ok(!unpack_strset_add(&s, "a/b", 3), "add a/b twice");
        ok(unpack_strset_has(&s, "a/bc", 3), "prefix length counts");
        ok(!unpack_strset_has(&s, "a", 1), "a not there");
        char k[32];
        for (int i = 0; i < 5000; i++) {
                int n = snprintf(k, sizeof k, "d%d/f", i);
                unpack_strset_add(&s, k, (size_t)n);
        }
        int found = 0;
        for (int i = 0; i < 5000; i++) {
                int n = snprintf(k, sizeof k, "d%d/f", i);
                found += unpack_strset_has(&s, k, (size_t)n);
        }
        is_int(found, 5000, "5000 keys survive growth");
        is_int((long long)s.n, 5001, "count");
        unpack_strset_free(&s);
        ok(s.n == 0 && !unpack_strset_has(&s, "a/b", 3), "freed");
}

static void test_numbers(void)
{
        int64_t v = 0;
        ok(!unpack_bad_number(0, 0, true, 0, 0, &v), "0:0, device 0,0");
        ok(!unpack_bad_number(4294967294LL, 4294967294LL, true, 4095, 1048575, &v), "the largest that fit");
        const char *f = unpack_bad_number(1LL << 32, 0, false, 0, 0, &v);
        ok(f && !strcmp(f, "uid") && v == 1LL << 32, "uid 2^32 (would truncate to root)");
        f = unpack_bad_number(4294967295LL, 0, false, 0, 0, &v);
        ok(f && !strcmp(f, "uid"), "uid 2^32-1 (chown's \"leave unchanged\")");
        f = unpack_bad_number(0, -1, false, 0, 0, &v);
        ok(f && !strcmp(f, "gid") && v == -1, "negative gid");
        f = unpack_bad_number(0, 0, true, (1ULL << 32) + 1, 1, &v);
        ok(f && !strcmp(f, "device major number") && v == (1LL << 32) + 1, "major 2^32+1 (would be 1)");
        f = unpack_bad_number(0, 0, true, 4096, 0, &v);
        ok(f && !strcmp(f, "device major number"), "major 4096: past the kernel's 12 bits");
        f = unpack_bad_number(0, 0, true, 1, 1048576, &v);
        ok(f && !strcmp(f, "device minor number"), "minor 2^20: past the kernel's 20 bits");
        ok(!unpack_bad_number(0, 0, false, 1ULL << 40, 1ULL << 40, &v), "rdev of a non-device is not looked at");
}

int main(void)
{
        test_numbers();
        test_paths();
        test_whiteouts();
        test_aufs();
        test_media();
        test_magic();
        test_quote();
        test_strset();
        return tap_done();
}
