/* libFuzzer target: wwwauth_parse(). */
#include "fetch/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = xstrndup((const char *)data, size);
        struct www_auth w;
        struct err e = { 0 };
        if (wwwauth_parse(s, &w, &e) == 0)
                wwwauth_free(&w);
        free(s);
        return 0;
}
