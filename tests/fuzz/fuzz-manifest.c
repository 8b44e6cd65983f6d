/* libFuzzer target: manifest_parse(), manifest_select() and config_parse(). */
#include "fetch/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct manifest *m = NULL;
        struct err e = { 0 };
        if (manifest_parse((const char *)data, size, NULL, &m, &e) == 0 && m->kind == MANIFEST_INDEX) {
                struct platform p;
                platform_host(&p);
                const struct descriptor *d;
                (void)manifest_select(m, &p, &d, &e);
                platform_free(&p);
        }
        manifest_free(m);
        struct image_config c;
        if (config_parse((const char *)data, size, &c, &e) == 0)
                config_free(&c);
        char msg[128];
        (void)fetch_registry_error((const char *)data, size, msg, sizeof msg);
        return 0;
}
