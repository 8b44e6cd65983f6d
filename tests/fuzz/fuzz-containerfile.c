/* libFuzzer target: bf_parse() (containerfile/parse.c, CONTAINERFILE INVARIANTS 1-2) and
 * bf_words() (invariant 3) over any bytes: a file parses whole or not at
 * all; every instruction has a known keyword, a line inside the input,
 * increasing, and (shell form) one argument; expansion of every argument
 * and of every heredoc body terminates. */
#include "containerfile/containerfile.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ctx, const char *name)
{
        (void)ctx;
        for (const char *p = name; *p; p++)
                if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                        abort();   /* invariant 3 */
        return name[0] == 'A' ? "value with blanks" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bf_file f;
        struct err e = { 0 };
        if (bf_parse((const char *)data, size, &f, &e) < 0) {
                if (!e.msg[0])
                        abort();
                return 0;
        }
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        int last = 0;
        for (size_t i = 0; i < f.n; i++) {
                const struct bf_instr *in = &f.v[i];
                if (in->line <= last || (size_t)in->line > lines || (!in->json && (in->n_args != 1 || !in->args[0])) ||
                    strcmp(bf_kind_name(in->kind), in->keyword))
                        abort();
                last = in->line;
                for (size_t k = 0; k < in->n_args; k++) {
                        char **w;
                        size_t n;
                        struct err we = { 0 };
                        if (bf_words(in->args[k], f.escape, lookup, NULL, k % 2 == 0, &w, &n, &we) == 0)
                                bf_strv_free(w);
                        if (bf_pairs(in->args[k], f.escape, true, &w, &n, &we) == 0)
                                bf_strv_free(w);
                }
                if (in->n_bodies > in->n_heredocs)
                        abort();
                for (size_t k = 0; k < in->n_bodies; k++) {
                        char *out = NULL;
                        struct err we = { 0 };
                        if (bf_heredoc_expand(in->heredoc_bodies[k], lookup, NULL, &out, &we) == 0)
                                free(out);
                        else if (!we.msg[0])
                                abort();
                }
        }
        bf_file_free(&f);
        return 0;
}
