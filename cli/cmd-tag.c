/* strata tag SOURCE TARGET — another name for the same image (docker tag). */
#include "cli.h"
#include "fetch/fetch.h"
#include "store/store.h"

#include <getopt.h>

static int tag_image(const char *src, const char *dst, struct err *e)
{
        struct image_ref ref = { 0 };
        int r = ref_parse(dst, &ref, e);
        if (r < 0)
                return r;
        if (ref.digest) {
                ref_free(&ref);
                return err_setx(e, EINVAL, "invalid target \"%s\": a tag cannot carry a digest", dst);
        }
        _cleanup_free_ char *name = ref_name(&ref);
        ref_free(&ref);
        struct store *s = NULL;
        r = open_store(&s, e);
        if (r < 0)
                return r;
        struct store_image im = { 0 };
        r = lookup_image(s, src, &im, NULL, e);
        if (r >= 0)
                r = store_add_image(s, &im, name, e);
        store_image_free(&im);
        store_close(s);
        return r;
}

int cmd_tag(int argc, char **argv)
{
        int st = no_options("tag", argc, argv);
        if (st)
                return st;
        if (argc - optind != 2)
                return usage_error("tag", "requires exactly 2 arguments: SOURCE TARGET");
        const char *src = argv[optind], *dst = argv[optind + 1];
        struct err e = { 0 };
        if (tag_image(src, dst, &e) < 0) {
                err_wrap(&e, "tag %s %s", src, dst);
                return report_err(&e);
        }
        return 0;
}
