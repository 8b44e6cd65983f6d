/* The build cache: ROOT/build-cache/<hex of the step's key>, each file the
 * ID of the image the step made (store.h). */
#include "store-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_DIR "build-cache"

int store_build_cache_get(struct store *s, const char *key, char id[DIGEST_STR_LEN + 1], struct err *e)
{
        if (!digest_valid(key))
                return err_setx(e, EINVAL, "invalid build cache key '%s'", key);
        _cleanup_free_ char *p = xasprintf("%s/%s/%s", store_root(s), CACHE_DIR, digest_hex(key));
        struct buf t = BUF_INIT(256);
        int r = read_file_bounded(p, 256, &t, e);
        if (r >= 0 && (t.len < DIGEST_STR_LEN || (memcpy(id, t.data, DIGEST_STR_LEN), id[DIGEST_STR_LEN] = '\0',
                                                  !digest_valid(id))))
                r = err_setx(e, EBADMSG, "%s: not an image ID", p);
        buf_free(&t);
        return r;
}

int store_build_cache_put(struct store *s, const char *key, const char *id, struct err *e)
{
        if (!digest_valid(key) || !digest_valid(id))
                return err_setx(e, EINVAL, "invalid build cache entry '%s' -> '%s'", key, id);
        if (s->read_only)
                return err_setx(e, EROFS, "store %s is read-only", store_root(s));
        _cleanup_free_ char *dir = xasprintf("%s/%s", store_root(s), CACHE_DIR);
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, digest_hex(key));
        int r = mkdir_p(dir, 0700, e);
        return r < 0 ? r : write_file_atomic(p, id, strlen(id), 0600, e);
}

int store_build_cache_list(struct store *s, void (*each)(const char *key_hex, const char *id, void *ctx), void *ctx)
{
        int dfd = openat(s->root_fd, CACHE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 0;
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return 0;
        }
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strlen(de->d_name) != SHA256_HEX_LEN || strspn(de->d_name, "0123456789abcdef") != SHA256_HEX_LEN)
                        continue;
                _cleanup_free_ char *key = xasprintf("sha256:%s", de->d_name);
                char id[DIGEST_STR_LEN + 1];
                struct err e = { 0 };
                n++;
                if (each)
                        each(de->d_name, store_build_cache_get(s, key, id, &e) >= 0 ? id : NULL, ctx);
        }
        closedir(d);
        return n;
}

int store_build_cache_clear(struct store *s, void (*each)(const char *key_hex, const char *id, void *ctx), void *ctx,
                            struct err *e)
{
        int n = store_build_cache_list(s, each, ctx);
        if (n == 0)
                return 0;
        int r = rm_rf_at(s->root_fd, CACHE_DIR, e);
        return r < 0 ? r : n;
}
