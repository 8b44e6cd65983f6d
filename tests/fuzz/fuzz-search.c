/* libFuzzer target: the v1 search answer (search_parse()) and the Link
 * header of a catalog page (link_next()) — both straight from a server. */
#include "fetch/fetch-internal.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct search_result *res = NULL;
        size_t n = 0;
        struct err e = { 0 };
        if (search_parse((const char *)data, size, FETCH_SEARCH_MAX, &res, &n, &e) == 0 && n > FETCH_SEARCH_MAX)
                abort();
        search_results_free(res, n);
        char *s = xstrndup((const char *)data, size);
        char *next = link_next(s, "http://127.0.0.1:5000");
        if (next && strncmp(next, "http://127.0.0.1:5000/", 22))
                abort();   /* never another origin: it would get the credentials */
        free(next);
        free(s);
        return 0;
}
