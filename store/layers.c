/* Extracted layers: tmp dirs and their commit (invariant (2) of store.h). */
#include "store-internal.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

bool store_has_layer(struct store *s, const char *diff_id)
{
        if (!digest_valid(diff_id))
                return false;
        _cleanup_free_ char *rel = xasprintf("layers/%s/diff", digest_hex(diff_id));
        return faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

char *store_layer_path(struct store *s, const char *diff_id)
{
        return store_path(s, "layers/%s/diff", digest_hex(diff_id));
}

/* A number from the layer's layer.json; 0 when unknown. */
static uint64_t layer_meta_u64(struct store *s, const char *diff_id, const char *key)
{
        if (!digest_valid(diff_id))
                return 0;
        _cleanup_free_ char *path = store_path(s, "layers/%s/layer.json", digest_hex(diff_id));
        json_t *j = json_load_file(path, 0, NULL);
        uint64_t n = (uint64_t)json_integer_value(json_object_get(j, key));
        json_decref(j);
        return n;
}

uint64_t store_layer_file_bytes(struct store *s, const char *diff_id)
{
        return layer_meta_u64(s, diff_id, "file_bytes");
}

uint64_t store_layer_tar_bytes(struct store *s, const char *diff_id)
{
        return layer_meta_u64(s, diff_id, "bytes");
}

int store_layer_tmpdir(struct store *s, const char *diff_id, char **path, int *dirfd, struct err *e)
{
        static atomic_uint counter;
        if (!digest_valid(diff_id))
                return err_setx(e, EINVAL, "invalid diff_id '%s'", diff_id);
        int r = store_writable(s, e);
        if (r >= 0)
                r = store_gc_hold(s, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *rel = xasprintf("tmp/layer-%s-%d-%u", digest_hex(diff_id), (int)getpid(),
                                             atomic_fetch_add(&counter, 1));
        if (mkdirat(s->root_fd, rel, 0700) < 0)
                return err_set(e, errno, "create %s/%s", s->root, rel);
        _cleanup_free_ char *diff = xasprintf("%s/diff", rel);
        /* The layer root's own mode/owner/times come from the tar's "./" entry if any. */
        if (mkdirat(s->root_fd, diff, 0755) < 0)
                return err_set(e, errno, "create %s/%s", s->root, diff);
        int fd = openat(s->root_fd, diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, errno, "open %s/%s", s->root, diff);
        *dirfd = fd;
        *path = store_path(s, "%s", rel);
        return 0;
}

int store_commit_layer(struct store *s, const char *diff_id, const char *tmpdir, const char *meta_json,
                       struct err *e)
{
        if (!digest_valid(diff_id))
                return err_setx(e, EINVAL, "invalid diff_id '%s'", diff_id);
        if (meta_json) {
                _cleanup_free_ char *meta = xasprintf("%s/layer.json", tmpdir);
                int r = write_file_atomic(meta, meta_json, strlen(meta_json), 0600, e);
                if (r < 0)
                        return r;
        }
        /* One syncfs for the whole extracted tree instead of an fsync per file:
         * everything in it is durable before the rename makes it visible. */
        _cleanup_close_ int tfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0)
                return err_set(e, errno, "open %s", tmpdir);
        if (syncfs(tfd) < 0)
                return err_set(e, errno, "sync %s", tmpdir);
        _cleanup_free_ char *to = store_path(s, "layers/%s", digest_hex(diff_id));
        if (rename(tmpdir, to) < 0) {
                if (errno == EEXIST || errno == ENOTEMPTY) {
                        /* another process committed the same layer first */
                        store_discard_tmpdir(s, tmpdir);
                        return 0;
                }
                return err_set(e, errno, "commit layer %s", diff_id);
        }
        return store_fsync_dir(s, "layers", e);
}

void store_discard_tmpdir(struct store *s, const char *tmpdir)
{
        struct err e = { 0 };
        rm_rf_at(AT_FDCWD, tmpdir, &e);
}
