/* Where blobs are known to be: ROOT/locations.json, a hint for pushes (a
 * blob that a repository of the destination registry holds is mounted from
 * it, not sent again).  Like docker's distribution metadata: losing it
 * costs only uploads, a stale entry only a mount the registry declines.
 *
 *   { "sha256:<hex>": [ "REGISTRY/REPO", ... newest first ], ... }
 *
 * Written like images.json: under ROOT/lock, replaced with rename(). */
#include "store-internal.h"

#include <jansson.h>
#include <string.h>

#define LOCATIONS_MAX (16u << 20)   /* ceiling on locations.json */
#define LOCATIONS_PER_BLOB 8        /* repositories kept per blob */

static int load(struct store *s, json_t **out, struct err *e)
{
        _cleanup_free_ char *path = store_path(s, "locations.json");
        int r = json_read_file(path, LOCATIONS_MAX, out, e);
        if (r == -ENOENT) {
                err_clear(e);
                *out = json_object();
                return 0;
        }
        if (r >= 0 && !json_is_object(*out)) {
                json_decref(*out);
                return err_setx(e, EBADMSG, "%s: not a JSON object", path);
        }
        return r;
}

int store_note_location(struct store *s, char *const *digests, size_t n, const char *repo, struct err *e)
{
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        json_t *j = NULL;
        r = load(s, &j, e);
        if (r < 0) {
                store_unlock(s);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                json_t *old = json_object_get(j, digests[i]);
                json_t *list = json_array();
                json_array_append_new(list, json_string(repo));
                size_t k;
                json_t *v;
                json_array_foreach(json_is_array(old) ? old : NULL, k, v) {
                        if (json_array_size(list) >= LOCATIONS_PER_BLOB)
                                break;
                        if (json_is_string(v) && strcmp(json_string_value(v), repo))
                                json_array_append(list, v);
                }
                json_object_set_new(j, digests[i], list);
        }
        /* forget blobs that left the store */
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, val) {
                if (!store_has_blob(s, key))
                        json_object_del(j, key);
        }
        _cleanup_free_ char *path = store_path(s, "locations.json");
        char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
        r = text ? write_file_atomic(path, text, strlen(text), 0600, e) : err_setx(e, ENOMEM, "encode %s", path);
        free(text);
        json_decref(j);
        store_unlock(s);
        return r;
}

int store_blob_locations(struct store *s, const char *digest, char ***out, size_t *n, struct err *e)
{
        *out = NULL;
        *n = 0;
        json_t *j = NULL;
        int r = load(s, &j, e);
        if (r < 0)
                return r;
        json_t *list = json_object_get(j, digest);
        size_t k;
        json_t *v;
        json_array_foreach(json_is_array(list) ? list : NULL, k, v)
                if (json_is_string(v)) {
                        *out = xrealloc(*out, (*n + 1) * sizeof **out);
                        (*out)[(*n)++] = xstrdup(json_string_value(v));
                }
        json_decref(j);
        return 0;
}
