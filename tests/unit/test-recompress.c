/* cli/recompress.c (unpack_decompress() into pack/'s compressor): a layer
 * written anew in gzip or zstd gives back the same uncompressed bytes (and
 * diff_id), the same bytes every time, and reads gzip, zstd and plain input
 * alike. */
#include "cli/recompress.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define N (3u << 20)   /* 3 MiB, 512-aligned like a tar */

/* Recompress @in (@n bytes, compression by its magic) to @to; *@out is a
 * malloc'd copy of what was written. */
static int run(const void *in, size_t n, enum pack_compression to, struct recompressed *res,
               unsigned char **out, size_t *out_n)
{
        int fd = memfd_create("recompress", 0);
        int src = memfd_create("layer", 0);
        if (write(src, in, n) != (ssize_t)n || lseek(src, 0, SEEK_SET) != 0)
                return -EIO;
        struct err e = { 0 };
        int r = layer_recompress(src, NULL, to, fd, res, &e);
        close(src);
        if (r < 0)
                fprintf(stderr, "# %s\n", e.msg);
        off_t len = lseek(fd, 0, SEEK_END);
        *out = malloc((size_t)len + 1);
        *out_n = (size_t)pread(fd, *out, (size_t)len, 0);
        close(fd);
        return r;
}

int main(void)
{
        unsigned char *plain = malloc(N);
        for (size_t i = 0; i < N; i++)   /* compressible, not trivial */
                plain[i] = (unsigned char)((i * 7 + (i >> 10)) % 251);
        char want_diff[DIGEST_STR_LEN + 1];
        sha256_digest(plain, N, want_diff);

        struct recompressed gz, gz2, zs, back;
        unsigned char *g = NULL, *g2 = NULL, *z = NULL, *b = NULL;
        size_t gn = 0, g2n = 0, zn = 0, bn = 0;
        is_int(run(plain, N, PACK_GZIP, &gz, &g, &gn), 0, "plain -> gzip");
        is_str(gz.diff_id, want_diff, "  diff_id of the input");
        is_int((long long)gz.size, (long long)gn, "  size of what was written");
        char d[DIGEST_STR_LEN + 1];
        sha256_digest(g, gn, d);
        is_str(gz.digest, d, "  digest of what was written");
        ok(gn > 18 && g[0] == 0x1f && g[1] == 0x8b && !g[4] && !g[5] && !g[6] && !g[7], "  gzip, mtime 0");
        unsigned char *dec = malloc(N);
        uLongf dn = N;
        z_stream zs_in = { .next_in = g, .avail_in = (uInt)gn, .next_out = dec, .avail_out = N };
        inflateInit2(&zs_in, 15 + 16);
        int zr = inflate(&zs_in, Z_FINISH);
        dn = zs_in.total_out;
        inflateEnd(&zs_in);
        ok(zr == Z_STREAM_END && dn == N && !memcmp(dec, plain, N), "  inflates to the input");

        is_int(run(plain, N, PACK_GZIP, &gz2, &g2, &g2n), 0, "plain -> gzip again");
        is_str(gz2.digest, gz.digest, "  the same bytes (deterministic)");

        is_int(run(g, gn, PACK_ZSTD, &zs, &z, &zn), 0, "gzip -> zstd");
        is_str(zs.diff_id, want_diff, "  diff_id kept");
        size_t zd = ZSTD_decompress(dec, N, z, zn);
        ok(!ZSTD_isError(zd) && zd == N && !memcmp(dec, plain, N), "  decompresses to the input");

        is_int(run(z, zn, PACK_GZIP, &back, &b, &bn), 0, "zstd -> gzip");
        is_str(back.digest, gz.digest, "  the same gzip as from the plain input");

        /* a stream that ends off a 512-byte block: nothing added to it */
        struct recompressed odd;
        unsigned char *o = NULL;
        size_t on = 0;
        is_int(run(plain, 1000, PACK_ZSTD, &odd, &o, &on), 0, "1000 bytes -> zstd");
        zd = ZSTD_decompress(dec, N, o, on);
        ok(!ZSTD_isError(zd) && zd == 1000 && !memcmp(dec, plain, 1000), "  exactly those 1000 bytes back");
        sha256_digest(plain, 1000, want_diff);
        is_str(odd.diff_id, want_diff, "  their diff_id");
        free(o);

        free(plain); free(dec); free(g); free(g2); free(z); free(b);
        return tap_done();
}
