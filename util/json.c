/* JSON files through jansson, with a ceiling on what is read. */
#include "util.h"

#include <jansson.h>

int json_read_file(const char *path, size_t max, json_t **out, struct err *e)
{
        struct buf b = BUF_INIT(max);
        *out = NULL;
        int r = read_file_bounded(path, max, &b, e);
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        json_error_t je;
        json_t *j = json_loadb(b.data, b.len, 0, &je);
        buf_free(&b);
        if (!j)
                return err_setx(e, EBADMSG, "%s: line %d: %s", path, je.line, je.text);
        *out = j;
        return 0;
}
