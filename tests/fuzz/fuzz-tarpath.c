/* libFuzzer target: tar entry names as unpack/ sees them.  The input is read
 * as a tar stream by libarchive (format tar only, as unpack/ configures it:
 * ustar, PAX path/linkpath overrides, GNU long names); each entry's path and
 * link target go through unpack_clean_path(), unpack_whiteout() and
 * unpack_quote().  The input as one string goes through them too.
 * Checks the properties invariant (2) of unpack.h relies on: a clean path
 * never holds a "..", "." or empty component, never starts with "/", and
 * only its last component may start with ".wh.". */
#include "unpack/unpack-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

static void check_clean(const char *name)
{
        char out[PATH_MAX], q[UNPACK_QUOTE_MAX];
        const char *why;
        int n = unpack_clean_path(name, out, &why);
        unpack_quote(name, q, sizeof q);
        (void)unpack_aufs_meta(name);
        if (strchr(q, '\n'))
                abort();
        if (n < 0) {
                if (!why)
                        abort();
                return;
        }
        if ((size_t)n != strlen(out) || n >= PATH_MAX || (n > 0 && out[0] == '/'))
                abort();
        char *save = NULL, *copy = xstrdup(out);
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, ".") || !strcmp(c, "..") || strlen(c) > NAME_MAX)
                        abort();
                char *rest = save && *save ? save : NULL;
                if (rest && !strncmp(c, ".wh.", 4))
                        abort();
                const char *t;
                enum unpack_wh w = unpack_whiteout(c, &t);
                if (w == UNPACK_WH_FILE && (!t || !*t || !strcmp(t, ".") || !strcmp(t, "..") || strchr(t, '/')))
                        abort();
        }
        if (strstr(out, "//"))
                abort();
        free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = xstrndup((const char *)data, size < 8192 ? size : 8192);
        check_clean(s);
        free(s);

        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, data, size) == ARCHIVE_OK) {
                struct archive_entry *e;
                int r, n = 0;
                while (n++ < 1000 && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
                        const char *p = archive_entry_pathname(e);
                        if (p)
                                check_clean(p);
                        const char *l = archive_entry_hardlink(e);
                        if (l)
                                check_clean(l);
                        (void)unpack_sniff(data, size);
                }
        }
        archive_read_free(a);
        return 0;
}
