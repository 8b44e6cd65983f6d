/* libFuzzer target: ref_parse() and the names it derives. */
#include "fetch/fetch.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = xstrndup((const char *)data, size);
        struct image_ref r;
        struct err e = { 0 };
        if (ref_parse(s, &r, &e) == 0) {
                char *n = ref_name(&r), *f = ref_familiar(&r);
                /* the store key parses again to the same reference */
                struct image_ref r2;
                if (ref_parse(n, &r2, &e) != 0 || strcmp(r2.repo, r.repo) || strcmp(r2.registry, r.registry))
                        abort();
                ref_free(&r2);
                (void)ref_api_host(&r);
                free(n);
                free(f);
                ref_free(&r);
        }
        free(s);
        return 0;
}
