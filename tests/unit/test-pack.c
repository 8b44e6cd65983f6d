/* Unit tests for pack/: -c changes, configs, manifests, media types, and the
 * tar of a layer directory (PACK INVARIANTS in pack.h). */
#include "pack/pack-internal.h"
#include "tests/unit/tap.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

static json_t *cfg_with(const char *instr, int *r)
{
        json_t *c = json_pack("{s:[s], s:[s]}", "Env", "PATH=/bin", "Cmd", "/bin/sh");
        struct err e = { 0 };
        *r = pack_apply_change(c, instr, &e);
        return c;
}

static void test_changes(void)
{
        int r;
        json_t *c = cfg_with("CMD [\"/bin/echo\", \"hi\"]", &r);
        _cleanup_free_ char *s = pack_json_dump(json_object_get(c, "Cmd"));
        is_str(s, "[\"/bin/echo\",\"hi\"]", "CMD exec form");
        json_decref(c);

        c = cfg_with("cmd echo hi there", &r);
        _cleanup_free_ char *s2 = pack_json_dump(json_object_get(c, "Cmd"));
        is_str(s2, "[\"/bin/sh\",\"-c\",\"echo hi there\"]", "CMD shell form, lowercase keyword");
        json_decref(c);

        c = cfg_with("ENV A=1 PATH=/usr/bin \"B=x y\"", &r);
        _cleanup_free_ char *s3 = pack_json_dump(json_object_get(c, "Env"));
        is_str(s3, "[\"PATH=/usr/bin\",\"A=1\",\"B=x y\"]", "ENV replaces in place, appends, quotes");
        json_decref(c);

        c = cfg_with("ENV GREETING hello world", &r);
        is_int(r, 0, "ENV old form accepted");
        _cleanup_free_ char *s4 = pack_json_dump(json_object_get(c, "Env"));
        is_str(s4, "[\"PATH=/bin\",\"GREETING=hello world\"]", "ENV old form: the rest of the line");
        json_decref(c);

        c = cfg_with("EXPOSE 80 53/UDP", &r);
        _cleanup_free_ char *s5 = pack_json_dump(json_object_get(c, "ExposedPorts"));
        is_str(s5, "{\"53/udp\":{},\"80/tcp\":{}}", "EXPOSE: tcp default, protocol lowercased");
        json_decref(c);

        c = cfg_with("EXPOSE 70000", &r);
        is_int(r, -EINVAL, "EXPOSE refuses a port past 65535");
        json_decref(c);

        c = cfg_with("VOLUME [\"/a\", \"/b\"]", &r);
        _cleanup_free_ char *s6 = pack_json_dump(json_object_get(c, "Volumes"));
        is_str(s6, "{\"/a\":{},\"/b\":{}}", "VOLUME JSON form");
        json_decref(c);

        c = cfg_with("LABEL a=b \"c d\"=e", &r);
        _cleanup_free_ char *s7 = pack_json_dump(json_object_get(c, "Labels"));
        is_str(s7, "{\"a\":\"b\",\"c d\":\"e\"}", "LABEL pairs with quotes");
        json_decref(c);

        c = cfg_with("WORKDIR relative", &r);
        is_int(r, -EINVAL, "WORKDIR must be absolute");
        json_decref(c);
        c = cfg_with("USER 1000:1000", &r);
        is_str(json_string_value(json_object_get(c, "User")), "1000:1000", "USER");
        json_decref(c);
        c = cfg_with("RUN true", &r);
        is_int(r, -EINVAL, "RUN is refused");
        json_decref(c);
        c = cfg_with("LABEL \"unterminated=x", &r);
        is_int(r, -EINVAL, "an unterminated quote is refused");
        json_decref(c);
}

static void test_config(void)
{
        json_t *parent = json_loads("{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"]},"
                                    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:aa\"]},"
                                    "\"history\":[{\"created_by\":\"base\"}],\"container_config\":{}}",
                                    0, NULL);
        const char *changes[] = { "ENV B=2" };
        struct pack_commit_info ci = { .created_by = "sh -c x", .author = "me", .comment = "msg", .created = 0 };
        json_t *out = NULL;
        struct err e = { 0 };
        is_int(pack_config_commit(parent, changes, 1, "sha256:bb", &ci, &out, &e), 0, "config commit");
        _cleanup_free_ char *s = pack_json_dump(out);
        is_str(s,
               "{\"architecture\":\"arm64\",\"author\":\"me\",\"config\":{\"Env\":[\"A=1\",\"B=2\"]},"
               "\"created\":\"1970-01-01T00:00:00Z\",\"history\":[{\"created_by\":\"base\"},{\"author\":\"me\","
               "\"comment\":\"msg\",\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"sh -c x\"}],"
               "\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"sha256:aa\",\"sha256:bb\"],\"type\":\"layers\"}}",
               "config: changes, diff_id appended, history, author; container_config gone");
        _cleanup_free_ char *ps = pack_json_dump(parent);
        ok(strstr(ps, "container_config") && !strstr(ps, "sha256:bb"), "the parent is not changed");
        json_decref(out);
        const char *bad[] = { "FROM x" };
        is_int(pack_config_commit(parent, bad, 1, "sha256:bb", &ci, &out, &e), -EINVAL, "a bad change fails");
        ok(strstr(e.msg, "FROM") != NULL, "and names it");
        json_decref(parent);
}

static void test_manifest(void)
{
        is_str(pack_convert_media_type(PACK_FORMAT_OCI, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
               MT_OCI_LAYER "+gzip", "docker gzip layer in OCI words");
        is_str(pack_convert_media_type(PACK_FORMAT_DOCKER, MT_OCI_LAYER), MT_DOCKER_LAYER,
               "OCI tar layer in docker words");
        ok(pack_convert_media_type(PACK_FORMAT_DOCKER, MT_OCI_LAYER "+zstd") == NULL, "docker has no zstd");
        ok(pack_layer_media_type(PACK_FORMAT_DOCKER, PACK_ZSTD) == NULL, "nor makes one");
        struct pack_desc cfg = { NULL, "sha256:cc", 10 };
        struct pack_desc l[] = { { MT_OCI_LAYER "+gzip", "sha256:11", 5 } };
        char *m = NULL;
        struct err e = { 0 };
        is_int(pack_manifest(PACK_FORMAT_DOCKER, &cfg, l, 1, &m, &e), 0, "docker manifest");
        is_str(m,
               "{\"config\":{\"digest\":\"sha256:cc\",\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"size\":10},"
               "\"layers\":[{\"digest\":\"sha256:11\",\"mediaType\":\"" MT_DOCKER_LAYER ".gzip\",\"size\":5}],"
               "\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"schemaVersion\":2}",
               "docker manifest text");
        free(m);
        struct pack_desc z[] = { { MT_OCI_LAYER "+zstd", "sha256:11", 5 } };
        is_int(pack_manifest(PACK_FORMAT_DOCKER, &cfg, z, 1, &m, &e), -EINVAL, "zstd layer in docker refused");
        enum pack_compression c;
        is_int(pack_compression_parse("brotli", &c, &e), -EINVAL, "unknown compression refused");
}

/* ---------------------------------------------------------------- tar */

struct mem {
        struct buf b;
};

static int mem_write(void *ctx, const void *p, size_t n, struct err *e)
{
        struct mem *m = ctx;
        return buf_append(&m->b, p, n) < 0 ? err_setx(e, EFBIG, "too big") : 0;
}

static void mk(int dfd, const char *path, const char *data, mode_t mode)
{
        int fd = openat(dfd, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
        if (data)
                write(fd, data, strlen(data));
        fchmod(fd, mode);
        close(fd);
}

/* Read the tar back with libarchive: "name type size [-> link]" lines. */
static char *listing(const struct buf *b)
{
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_filter_all(a);
        archive_read_open_memory(a, b->data, b->len);
        struct buf out = BUF_INIT(1 << 20);
        struct archive_entry *ae;
        while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
                const char *hl = archive_entry_hardlink(ae), *sl = archive_entry_symlink(ae);
                buf_printf(&out, "%s %o %lld%s%s%s\n", archive_entry_pathname(ae),
                           (unsigned)archive_entry_filetype(ae) >> 12, (long long)archive_entry_size(ae),
                           hl ? " => " : sl ? " -> " : "", hl ? hl : "", sl ? sl : "");
                const char *xn;
                const void *xv;
                size_t xs;
                archive_entry_xattr_reset(ae);
                while (archive_entry_xattr_next(ae, &xn, &xv, &xs) == ARCHIVE_OK)
                        buf_printf(&out, "  xattr %s=%.*s\n", xn, (int)xs, (const char *)xv);
        }
        archive_read_free(a);
        return buf_steal(&out);
}

static void test_tar(void)
{
        char dir[64];
        snprintf(dir, sizeof dir, "/tmp/strata-test-pack-%d", (int)getpid());
        mkdir(dir, 0755);
        int d = open(dir, O_RDONLY | O_DIRECTORY);
        mkdirat(d, "sub", 0755);
        mkdirat(d, "opq", 0755);
        mk(d, "opq/in", "x", 0644);
        mk(d, "sub/b", "bbb", 0600);
        mk(d, "a", "hello", 0644);
        linkat(d, "a", d, "sub/a-link", 0);
        symlinkat("../a", d, "sub/sym");
        mknodat(d, "gone", S_IFCHR | 0, makedev(0, 0));     /* a whiteout */
        bool root = geteuid() == 0;
        char p[128];
        snprintf(p, sizeof p, "%s/opq", dir);
        setxattr(p, "trusted.overlay.opaque", "y", 1, 0);
        snprintf(p, sizeof p, "%s/a", dir);
        setxattr(p, "user.keep", "1", 1, 0);
        if (root)
                setxattr(p, "trusted.overlay.strata.origin", "9", 1, 0);
        struct pack_tar_opts o = { .compression = PACK_NONE, .clamp = true, .epoch = 1000 };
        struct mem m1 = { BUF_INIT(1 << 24) }, m2 = { BUF_INIT(1 << 24) };
        struct pack_tar_result r1, r2;
        struct err e = { 0 };
        is_int(pack_tar(&d, 1, &o, mem_write, &m1, &r1, &e), 0, "tar a layer dir");
        _cleanup_free_ char *l = listing(&m1.b);
        is_str(l,
               "a 10 5\n  xattr user.keep=1\n"
               ".wh.gone 10 0\n"
               "opq/ 4 0\nopq/.wh..wh..opq 10 0\nopq/in 10 1\n"
               "sub/ 4 0\nsub/a-link 0 0 => a\nsub/b 10 3\nsub/sym 12 0 -> ../a\n",
               "entries sorted, whiteout and opaque in OCI form, hard link, no overlay xattrs (3)");
        is_int((long long)r1.tar_bytes, (long long)m1.b.len, "tar bytes counted");
        ok(!strcmp(r1.diff_id, r1.digest), "uncompressed: diff_id == digest (4)");
        /* (2): the same tree gives the same bytes, compressed too */
        o.compression = PACK_GZIP;
        buf_reset(&m1.b);
        is_int(pack_tar(&d, 1, &o, mem_write, &m1, &r1, &e), 0, "gzip tar");
        is_int(pack_tar(&d, 1, &o, mem_write, &m2, &r2, &e), 0, "gzip tar again");
        is_str(r1.digest, r2.digest, "same tree, same gzip digest (2)");
        ok(strcmp(r1.digest, r1.diff_id) != 0, "gzip: digest differs from diff_id");
        _cleanup_free_ char *l2 = listing(&m2.b);
        is_str(l2, l, "the gzip tar reads back the same");
        o.compression = PACK_ZSTD;
        buf_reset(&m1.b);
        buf_reset(&m2.b);
        pack_tar(&d, 1, &o, mem_write, &m1, &r1, &e);
        pack_tar(&d, 1, &o, mem_write, &m2, &r2, &e);
        is_str(r1.digest, r2.digest, "same tree, same zstd digest (2)");
        _cleanup_free_ char *l3 = listing(&m2.b);
        is_str(l3, l, "the zstd tar reads back the same");
        buf_free(&m1.b);
        buf_free(&m2.b);
        close(d);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        system(cmd);
}

/* --------------------------------------------------------- the sink */

static int fail_write(void *ctx, const void *p, size_t n, struct err *e)
{
        int *calls = ctx;
        return ++*calls >= 2 ? err_setx(e, ENOSPC, "disk full") : 0;
}

static void zdigest(enum pack_compression c, const uint8_t *d, size_t n, size_t piece, char out[DIGEST_STR_LEN + 1])
{
        struct mem m = { BUF_INIT(64 << 20) };
        struct pack_zsink *z = NULL;
        struct pack_tar_result res;
        struct err e = { 0 };
        pack_zsink_new(c, mem_write, &m, &z, &e);
        for (size_t off = 0; off < n; off += piece)
                pack_zsink_write(z, d + off, n - off < piece ? n - off : piece, &e);
        pack_zsink_finish(z, &res, &e);
        memcpy(out, res.digest, DIGEST_STR_LEN + 1);
        buf_free(&m.b);
}

static void test_sink(void)
{
        size_t n = (5u << 20) + 123;
        uint8_t *d = xmalloc(n);
        for (size_t i = 0; i < n; i++)
                d[i] = (uint8_t)((i * 2654435761u) >> (i % 7));
        char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1], c[DIGEST_STR_LEN + 1];
        for (int k = 0; k < 2; k++) {
                enum pack_compression comp = k ? PACK_ZSTD : PACK_GZIP;
                zdigest(comp, d, n, n, a);
                zdigest(comp, d, n, 4093, b);
                setenv("STRATA_PACK_THREADS", "0", 1);
                zdigest(comp, d, n, 512, c);
                unsetenv("STRATA_PACK_THREADS");
                is_str(b, a, k ? "zstd: the same bytes in other pieces, the same digest (2)"
                               : "gzip: the same bytes in other pieces, the same digest (2)");
                is_str(c, a, k ? "zstd: without the thread, the same digest" : "gzip: without the thread, the same digest");
        }
        /* a sink that fails: the error comes back, nothing hangs */
        int calls = 0;
        struct pack_zsink *z = NULL;
        struct pack_tar_result res;
        struct err e = { 0 };
        pack_zsink_new(PACK_NONE, fail_write, &calls, &z, &e);
        int r = 0;
        for (size_t off = 0; off < n && r >= 0; off += 65536)
                r = pack_zsink_write(z, d + off, 65536 < n - off ? 65536 : n - off, &e);
        if (r >= 0)
                r = pack_zsink_finish(z, &res, &e);
        else
                pack_zsink_free(z);
        is_int(r, -ENOSPC, "a failing sink's error comes back");
        ok(strstr(e.msg, "disk full") != NULL, "with its message");
        free(d);
}

int main(void)
{
        test_sink();
        test_changes();
        test_config();
        test_manifest();
        test_tar();
        return tap_done();
}
