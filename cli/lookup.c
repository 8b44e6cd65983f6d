/* Finding an image in the store from what the user typed. */
#include "cli.h"
#include "fetch/fetch.h"
#include "store/store.h"

#include <string.h>

int open_store(struct store **s, struct err *e)
{
        return store_open(default_root(), s, e);
}

int lookup_image(struct store *s, const char *arg, struct store_image *out, char **name, struct err *e)
{
        struct image_ref ref = { 0 };
        struct err pe = { 0 };
        if (name)
                *name = NULL;
        /* a reference first (docker's order), then an image ID or ID prefix */
        if (ref_parse(arg, &ref, &pe) == 0) {
                _cleanup_free_ char *key = ref_name(&ref);
                ref_free(&ref);
                if (store_find_image(s, key, out, e) == 0) {
                        if (name)
                                *name = TAKE_PTR(key);
                        return 0;
                }
        }
        int r = store_find_image(s, arg, out, e);
        if (r == -ENOENT && pe.code)
                return err_setx(e, EINVAL, "%s", pe.msg);
        if (r == -ENOENT)
                return err_setx(e, ENOENT, "no such image: %s", arg);
        return r;
}
