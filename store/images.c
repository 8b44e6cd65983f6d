/* Image records: ROOT/images.json (invariant (3) of store.h).
 *
 *   { "version": 1,
 *     "images": { "<config digest>": { "manifest": ..., "index": ..., "platform": ...,
 *                 "created": <unix>, "pulled": <unix>, "size": <bytes>,
 *                 "intermediate": true (a build step's; absent otherwise),
 *                 "layers": [ { "digest", "diff_id", "media_type", "size" } ] } },
 *     "names":  { "REGISTRY/REPO:TAG": "<config digest>", ... } }
 */
#include "store-internal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define IMAGES_MAX (64u << 20)   /* ceiling on images.json */

/* Load images.json; a missing file is an empty store. */
int store_load_index(struct store *s, json_t **out, struct err *e)
{
        _cleanup_free_ char *path = store_path(s, "images.json");
        json_t *j = NULL;
        int r = json_read_file(path, IMAGES_MAX, &j, e);
        if (r == -ENOENT) {
                err_clear(e);
                *out = json_pack("{s:i, s:{}, s:{}}", "version", 1, "images", "names");
                return 0;
        }
        if (r < 0)
                return r;
        if (!json_is_object(json_object_get(j, "images")) || !json_is_object(json_object_get(j, "names"))) {
                json_decref(j);
                return err_setx(e, EBADMSG, "%s: corrupt: missing images/names", path);
        }
        *out = j;
        return 0;
}

int store_save_index(struct store *s, json_t *j, struct err *e)
{
        _cleanup_free_ char *path = store_path(s, "images.json");
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
        if (!text)
                return err_setx(e, ENOMEM, "encode %s", path);
        return write_file_atomic(path, text, strlen(text), 0600, e);
}

static json_t *image_to_json(const struct store_image *im)
{
        json_t *layers = json_array();
        for (size_t i = 0; i < im->n_layers; i++) {
                const struct store_layer *l = &im->layers[i];
                json_array_append_new(layers, json_pack("{s:s, s:s, s:s?, s:I}", "digest", l->digest, "diff_id",
                                                        l->diff_id, "media_type", l->media_type, "size",
                                                        (json_int_t)l->size));
        }
        json_t *o = json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:I, s:o}", "manifest", im->manifest, "index", im->index,
                              "platform", im->platform, "created", (json_int_t)im->created, "pulled",
                              (json_int_t)im->pulled, "size", (json_int_t)im->size, "layers", layers);
        if (im->intermediate)
                json_object_set_new(o, "intermediate", json_true());
        return o;
}

static char *jstr(json_t *o, const char *key)
{
        const char *v = json_string_value(json_object_get(o, key));
        return v ? xstrdup(v) : NULL;
}

int store_image_from_json(json_t *root, const char *id, json_t *o, struct store_image *im, struct err *e)
{
        memset(im, 0, sizeof *im);
        im->id = xstrdup(id);
        im->manifest = jstr(o, "manifest");
        im->index = jstr(o, "index");
        im->platform = jstr(o, "platform");
        im->created = (time_t)json_integer_value(json_object_get(o, "created"));
        im->pulled = (time_t)json_integer_value(json_object_get(o, "pulled"));
        im->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
        im->intermediate = json_is_true(json_object_get(o, "intermediate"));
        json_t *layers = json_object_get(o, "layers");
        if (!im->manifest || !json_is_array(layers)) {
                store_image_free(im);
                return err_setx(e, EBADMSG, "images.json: image %s is corrupt", id);
        }
        im->n_layers = json_array_size(layers);
        im->layers = xcalloc(im->n_layers ? im->n_layers : 1, sizeof *im->layers);
        for (size_t i = 0; i < im->n_layers; i++) {
                json_t *l = json_array_get(layers, i);
                im->layers[i].digest = jstr(l, "digest");
                im->layers[i].diff_id = jstr(l, "diff_id");
                im->layers[i].media_type = jstr(l, "media_type");
                im->layers[i].size = (uint64_t)json_integer_value(json_object_get(l, "size"));
                if (!digest_valid(im->layers[i].digest) || !digest_valid(im->layers[i].diff_id)) {
                        store_image_free(im);
                        return err_setx(e, EBADMSG, "images.json: image %s: layer %zu is corrupt", id, i);
                }
        }
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(root, "names"), name, v) {
                if (json_is_string(v) && !strcmp(json_string_value(v), id)) {
                        im->names = xrealloc(im->names, (im->n_names + 1) * sizeof *im->names);
                        im->names[im->n_names++] = xstrdup(name);
                }
        }
        return 0;
}

void store_image_free(struct store_image *im)
{
        if (!im)
                return;
        free(im->id);
        free(im->manifest);
        free(im->index);
        free(im->platform);
        for (size_t i = 0; i < im->n_layers; i++) {
                free(im->layers[i].digest);
                free(im->layers[i].diff_id);
                free(im->layers[i].media_type);
        }
        free(im->layers);
        for (size_t i = 0; i < im->n_names; i++)
                free(im->names[i]);
        free(im->names);
        memset(im, 0, sizeof *im);
}

int store_add_image(struct store *s, const struct store_image *im, const char *name, struct err *e)
{
        if (!digest_valid(im->id))
                return err_setx(e, EINVAL, "invalid image id '%s'", im->id ? im->id : "");
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *j = NULL;
        r = store_load_index(s, &j, e);
        if (r >= 0) {
                json_object_set_new(json_object_get(j, "images"), im->id, image_to_json(im));
                if (name)
                        json_object_set_new(json_object_get(j, "names"), name, json_string(im->id));
                r = store_save_index(s, j, e);
        }
        store_unlock(s);
        if (r >= 0)
                store_gc_release(s);    /* the record lists what this process added */
        return r;
}

/* An ID or ID prefix, with or without "sha256:", as docker accepts. */
static const char *match_id(json_t *images, const char *name, struct err *e, int *r)
{
        const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
        size_t n = strlen(hex);
        *r = -ENOENT;
        if (n == 0 || n > SHA256_HEX_LEN || strspn(hex, "0123456789abcdef") != n)
                return NULL;
        const char *found = NULL, *id;
        json_t *v;
        json_object_foreach(images, id, v) {
                if (strncmp(id + 7, hex, n) != 0)
                        continue;
                if (found) {
                        *r = err_setx(e, EINVAL, "image ID prefix '%s' is ambiguous", name);
                        return NULL;
                }
                found = id;
        }
        if (found)
                *r = 0;
        return found;
}

int store_find_image(struct store *s, const char *name, struct store_image *out, struct err *e)
{
        _cleanup_json_ json_t *j = NULL;
        int r = store_load_index(s, &j, e);
        if (r < 0)
                return r;
        json_t *images = json_object_get(j, "images");
        const char *id = json_string_value(json_object_get(json_object_get(j, "names"), name));
        if (!id) {
                id = match_id(images, name, e, &r);
                if (!id)
                        return r == -ENOENT ? err_setx(e, ENOENT, "no such image: %s", name) : r;
        }
        json_t *o = json_object_get(images, id);
        if (!o)
                return err_setx(e, EBADMSG, "images.json: name %s points to missing image %s", name, id);
        return store_image_from_json(j, id, o, out, e);
}

static int cmp_pulled(const void *a, const void *b)
{
        const struct store_image *x = a, *y = b;
        if (x->pulled != y->pulled)
                return x->pulled > y->pulled ? -1 : 1;
        return strcmp(x->id, y->id);
}

int store_list_images(struct store *s, struct store_image **out, size_t *n, struct err *e)
{
        _cleanup_json_ json_t *j = NULL;
        int r = store_load_index(s, &j, e);
        if (r < 0)
                return r;
        json_t *images = json_object_get(j, "images");
        size_t cnt = json_object_size(images), i = 0;
        struct store_image *v = xcalloc(cnt ? cnt : 1, sizeof *v);
        const char *id;
        json_t *o;
        json_object_foreach(images, id, o) {
                r = store_image_from_json(j, id, o, &v[i], e);
                if (r < 0) {
                        while (i > 0)
                                store_image_free(&v[--i]);
                        free(v);
                        return r;
                }
                i++;
        }
        qsort(v, i, sizeof *v, cmp_pulled);
        *out = v;
        *n = i;
        return 0;
}

static int remove_name_locked(struct store *s, const char *name, char **orphan, struct err *e)
{
        _cleanup_json_ json_t *j = NULL;
        int r = store_load_index(s, &j, e);
        if (r < 0)
                return r;
        json_t *names = json_object_get(j, "names");
        const char *v = json_string_value(json_object_get(names, name));
        if (!v)
                return err_setx(e, ENOENT, "no such image: %s", name);
        _cleanup_free_ char *id = xstrdup(v);
        json_object_del(names, name);
        r = store_save_index(s, j, e);
        if (r < 0)
                return r;
        const char *k;
        json_t *val;
        json_object_foreach(names, k, val)
                if (!strcmp(json_string_value(val), id))
                        return 0;
        if (orphan)
                *orphan = TAKE_PTR(id);
        return 0;
}

int store_remove_name(struct store *s, const char *name, char **orphan, struct err *e)
{
        if (orphan)
                *orphan = NULL;
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        r = remove_name_locked(s, name, orphan, e);
        store_unlock(s);
        return r;
}

/* The mount records that use image @id: -EBUSY naming the first, else 0. */
static int image_in_use(struct store *s, const char *id, struct err *e)
{
        struct store_mount *mv = NULL;
        size_t n = 0;
        int r = store_list_mounts(s, &mv, &n, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (r == 0 && mv[i].image && !strcmp(mv[i].image, id)) {
                        if (store_mount_live(&mv[i]) && !(mv[i].command && mv[i].finished))
                                r = err_setx(e, EBUSY, "image %.19s is in use by the mount at %s (use -f)", id,
                                             mv[i].mountpoint);
                        else if (mv[i].command)
                                /* docker's words, a run for a container */
                                r = err_setx(e, EBUSY,
                                             "conflict: unable to delete %.12s (must force) - run %s (%s) is using "
                                             "its referenced image %.12s (strata rm %s drops it)",
                                             id + 7, mv[i].id, mv[i].mountpoint, id + 7,
                                             mv[i].name ? mv[i].name : mv[i].id);
                        else
                                /* docker: "container ID is using its referenced image ID" */
                                r = err_setx(e, EBUSY,
                                             "conflict: unable to delete %.12s (must force) - the kept writable layer "
                                             "of mount %s (%s) is using it; 'strata umount %s' drops it",
                                             id + 7, mv[i].id, mv[i].mountpoint, mv[i].mountpoint);
                }
                store_mount_free(&mv[i]);
        }
        free(mv);
        return r;
}

int store_delete_image(struct store *s, const char *id, bool force,
                       void (*deleted)(const char *what, void *ctx), void *ctx, struct err *e)
{
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *j = NULL;
        _cleanup_json_ json_t *keep = json_object();
        _cleanup_close_ int gc = -1;
        struct store_image im = { 0 };
        r = store_load_index(s, &j, e);
        if (r < 0)
                goto out;
        json_t *images = json_object_get(j, "images");
        json_t *o = json_object_get(images, id);
        if (!o) {
                r = err_setx(e, ENOENT, "no such image: %s", id);
                goto out;
        }
        r = store_image_from_json(j, id, o, &im, e);
        if (r < 0)
                goto out;
        if (!force) {
                r = image_in_use(s, id, e);
                if (r < 0)
                        goto out;
        }
        /* the record and its names go first: from here on nothing points at the files */
        json_object_del(images, id);
        json_t *names = json_object_get(j, "names");
        const char *k;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(names, tmp, k, val)
                if (!strcmp(json_string_value(val), id))
                        json_object_del(names, k);
        r = store_save_index(s, j, e);
        if (r < 0)
                goto out;
        if (deleted)
                deleted(id, ctx);
        /* what is left: the other images and every mount record (invariant (6));
         * while a pull adds to the store, what it may be about to list stays
         * (invariant (4)) for a later prune */
        gc = store_gc_exclusive(s);
        if (gc < 0)
                goto out;
        r = store_refs(s, images, keep, e);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < im.n_layers && r == 0; i++)
                r = store_release_layer(s, keep, im.layers[i].diff_id, im.layers[i].digest, deleted, ctx, e);
        if (r < 0)
                goto out;
        store_release_blob(s, keep, im.manifest);
        if (im.index)
                store_release_blob(s, keep, im.index);
        store_release_blob(s, keep, id);
out:
        store_image_free(&im);
        store_unlock(s);
        return r;
}
