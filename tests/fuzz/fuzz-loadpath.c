/* libFuzzer target: load_norm_path() (cli/load.c, LOAD INVARIANT 2) over an
 * archive member path or "BASE\0TARGET" link; what it returns never leaves
 * the archive: not absolute, no "." / ".." / empty component. */
#include "cli/load.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *in = xstrndup((const char *)data, size);
        size_t n1 = strlen(in);
        const char *base = n1 < size ? in : NULL;
        const char *p = n1 < size ? (const char *)data + n1 + 1 : in;
        char *target = n1 < size ? xstrndup(p, size - n1 - 1) : NULL;
        char *out = load_norm_path(base, target ? target : in);
        if (out) {
                if (out[0] == '/')
                        abort();
                char *save = NULL, *copy = xstrdup(out);
                for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                        if (!strcmp(c, "..") || !strcmp(c, "."))
                                abort();
                if (strstr(out, "//"))
                        abort();
                free(copy);
        }
        free(out);
        free(target);
        free(in);
        return 0;
}
