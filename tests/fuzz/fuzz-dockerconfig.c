/* libFuzzer target: dockerconfig_lookup() over a config.json body. */
#include "fetch/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *regs[] = { "docker.io", "127.0.0.1:5000", "reg.example" };
        for (size_t i = 0; i < 3; i++) {
                char *u = NULL, *p = NULL;
                struct err e = { 0 };
                if (dockerconfig_lookup((const char *)data, size, regs[i], &u, &p, &e) == 0) {
                        free(u);
                        free(p);
                }
        }
        return 0;
}
