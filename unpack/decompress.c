/* A layer blob's tar stream handed on as it is read (`strata push
 * --compress` writes it anew through pack/'s compressor): the decompressing
 * source of source.c in, the caller's sink out.  Nothing is held but the
 * source's chunk. */
#include "unpack-internal.h"

#include <string.h>

int unpack_decompress(unpack_read_fn rd, void *ctx, const char *media_type, unpack_write_fn wr, void *wctx,
                      char diff_id[DIGEST_STR_LEN + 1], struct err *e)
{
        int comp = unpack_media_comp(media_type);
        if (comp < 0)
                return err_setx(e, EMEDIUMTYPE, "unsupported layer media type \"%.100s\"", media_type);
        struct unpack_source *src = NULL;
        int r = unpack_source_new(rd, ctx, comp, unpack_max_expanded(NULL), true, &src, e);
        if (r < 0)
                return r;
        for (;;) {
                const void *p = NULL;
                ssize_t n = unpack_source_read(src, &p);
                if (n < 0) {
                        const char *why = unpack_source_error(src);
                        r = err_setx(e, (int)-n, "%s", why ? why : "read the layer");
                        break;
                }
                /* the zeros source.c adds to complete a tar block are not the layer's */
                if (n > 0 && unpack_source_real_end(src) != UINT64_MAX)
                        n = 0;
                if (n == 0) {
                        unpack_source_finish(src, diff_id);
                        break;
                }
                r = wr(wctx, p, (size_t)n, e);
                if (r < 0)
                        break;
        }
        unpack_source_free(src);
        return r;
}
