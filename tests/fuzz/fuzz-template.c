/* libFuzzer target: the --format template parser (tmpl_parse()) and, for
 * what parses, one execution in each mode over a fixed item — a template is
 * typed by a user but also comes from scripts and aliases; neither may crash,
 * recurse without bound or run away (template.h invariants 1-2). */
#include "cli/template.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static json_t *item;
        if (!item)
                item = json_loads("{\"Name\":\"busybox\",\"N\":3,\"F\":0.5,\"T\":true,\"Null\":null,"
                                  "\"List\":[\"a\",\"b\",\"c\"],\"Labels\":{\"k\":\"v\",\"x\":\"y\"},"
                                  "\"Items\":[{\"Name\":\"x\"},{\"Name\":\"y\"}]}", 0, NULL);
        char *text = xstrndup((const char *)data, size);
        struct tmpl *t = NULL;
        struct err e = { 0 };
        if (tmpl_parse(text, &t, &e) == 0) {
                for (int mode = TMPL_LENIENT; mode <= TMPL_HEADER; mode++) {
                        struct buf out = BUF_INIT(1u << 20);
                        err_clear(&e);
                        if (tmpl_exec(t, item, (enum tmpl_mode)mode, &out, &e) < 0 && !e.msg[0])
                                abort();   /* every failure says why */
                        if (out.len > out.max)
                                abort();
                        buf_free(&out);
                }
                tmpl_free(t);
        } else if (!e.msg[0] || strchr(e.msg, '\n')) {
                abort();   /* one line */
        }
        free(text);
        return 0;
}
