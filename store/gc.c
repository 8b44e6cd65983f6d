/* What uses what, and taking back what nothing uses: the reference rule of
 * invariant (6), leftovers under tmp/ (invariant (5)), and the store's
 * housekeeping: store_usage() (system df), store_prune() (system prune),
 * store_check() (system check). */
#include "store-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

static void set_add(json_t *set, const char *digest)
{
        if (digest)
                json_object_set_new(set, digest, json_true());
}

static bool set_has(json_t *set, const char *digest)
{
        return digest && json_object_get(set, digest);
}

/* What image @id (its record @o) uses: config, manifest, index, layers and their blobs. */
static void image_refs(const char *id, json_t *o, json_t *set)
{
        set_add(set, id);
        set_add(set, json_string_value(json_object_get(o, "manifest")));
        set_add(set, json_string_value(json_object_get(o, "index")));
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(o, "layers"), i, l) {
                set_add(set, json_string_value(json_object_get(l, "digest")));
                set_add(set, json_string_value(json_object_get(l, "diff_id")));
        }
}

int store_refs(struct store *s, json_t *images, json_t *set, struct err *e)
{
        const char *id;
        json_t *o;
        json_object_foreach(images, id, o)
                image_refs(id, o, set);
        struct store_mount *mv = NULL;
        size_t n = 0;
        int r = store_list_mounts(s, &mv, &n, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < mv[i].n_layers; k++) {
                        set_add(set, mv[i].layers[k]);
                        set_add(set, mv[i].digests ? mv[i].digests[k] : NULL);
                }
                store_mount_free(&mv[i]);
        }
        free(mv);
        return 0;
}

/* ------------------------------------------------------------- removing */

int store_try_blob_lock(struct store *s, const char *digest)
{
        if (!digest_valid(digest) || s->read_only)
                return -1;
        _cleanup_free_ char *rel = xasprintf("tmp/%s.lock", digest_hex(digest));
        _cleanup_close_ int fd = openat(s->root_fd, rel, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                return -1;
        struct stat a, b;
        /* a lock file removed (store_reclaim_leftovers) while we opened it is no lock */
        if (fstat(fd, &a) < 0 || fstatat(s->root_fd, rel, &b, 0) < 0 || a.st_ino != b.st_ino)
                return -1;
        return TAKE_FD(fd);
}

/* Bytes under @rel (below ROOT): regular files and symlinks, apparent sizes,
 * each inode once per walk is not tracked (hard links count twice, as du
 * --apparent-size -l would). */
static uint64_t tree_bytes_at(int dfd, const char *rel)
{
        struct stat st;
        if (fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (!S_ISDIR(st.st_mode))
                return S_ISREG(st.st_mode) || S_ISLNK(st.st_mode) ? (uint64_t)st.st_size : 0;
        DIR *d = opendir_at(dfd, rel);
        if (!d)
                return 0;
        uint64_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n += tree_bytes_at(dirfd(d), de->d_name);
        closedir(d);
        return n;
}

uint64_t store_tree_bytes(const char *path)
{
        return tree_bytes_at(AT_FDCWD, path);
}

static uint64_t rel_bytes(struct store *s, const char *rel)
{
        return tree_bytes_at(s->root_fd, rel);
}

/* Remove layers/<hex>: renamed into tmp/ first so it vanishes at once. */
static int remove_layer(struct store *s, const char *diff_id, struct err *e)
{
        _cleanup_free_ char *from = store_path(s, "layers/%s", digest_hex(diff_id));
        _cleanup_free_ char *to = store_path(s, "tmp/gone-%s-%d-0", digest_hex(diff_id), (int)getpid());
        if (rename(from, to) < 0)
                return errno == ENOENT ? 0 : err_set(e, errno, "remove layer %s", diff_id);
        return rm_rf_at(AT_FDCWD, to, e);
}

static void remove_blob(struct store *s, const char *digest)
{
        if (!digest_valid(digest))
                return;
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
        unlinkat(s->root_fd, rel, 0);
}

void store_release_blob(struct store *s, json_t *refs, const char *digest)
{
        if (!set_has(refs, digest))
                remove_blob(s, digest);
}

int store_release_layer(struct store *s, json_t *refs, const char *diff_id, const char *digest,
                        void (*deleted)(const char *what, void *ctx), void *ctx, struct err *e)
{
        /* A pull that found this layer present holds its blob lock until
         * its own record is written: leave the layer to it. */
        _cleanup_close_ int lk = digest ? store_try_blob_lock(s, digest) : -1;
        if (digest && lk < 0)
                return 0;
        bool layer_kept = set_has(refs, diff_id);
        if (diff_id && !layer_kept && store_has_layer(s, diff_id)) {
                int r = remove_layer(s, diff_id, e);
                if (r < 0)
                        return r;
                if (deleted)
                        deleted(diff_id, ctx);
                set_add(refs, diff_id);            /* report once */
        }
        if (digest && !layer_kept)
                store_release_blob(s, refs, digest);
        return 0;
}

/* ------------------------------------------------------------ leftovers */

/* What tmp/NAME is: a download (<hex>.partial), a blob lock (<hex>.lock), a
 * work dir (...-<pid>-<n>) or something else.  *@digest gets the blob's
 * digest for the first two. */
enum tmp_kind { TMP_OTHER, TMP_PARTIAL, TMP_LOCK, TMP_WORK };

static enum tmp_kind tmp_kind(const char *name, char digest[DIGEST_STR_LEN + 1])
{
        const char *dot = strchr(name, '.');
        if (dot && (size_t)(dot - name) == SHA256_HEX_LEN && (!strcmp(dot, ".partial") || !strcmp(dot, ".lock"))) {
                snprintf(digest, DIGEST_STR_LEN + 1, "sha256:%.*s", (int)SHA256_HEX_LEN, name);
                if (digest_valid(digest))
                        return !strcmp(dot, ".partial") ? TMP_PARTIAL : TMP_LOCK;
        }
        return store_tmp_owner(name) > 0 ? TMP_WORK : TMP_OTHER;
}

/* Is tmp/@name in use: a download whose blob lock a live pull holds, a
 * work dir whose process runs? */
static bool tmp_held(struct store *s, const char *name)
{
        char digest[DIGEST_STR_LEN + 1];
        switch (tmp_kind(name, digest)) {
        case TMP_PARTIAL:
        case TMP_LOCK: {
                int lk = store_try_blob_lock(s, digest);
                if (lk < 0)
                        return true;
                close(lk);
                return false;
        }
        case TMP_WORK: {
                int pid = store_tmp_owner(name);
                return pid_alive(pid);
        }
        default:
                return true;          /* not ours to judge */
        }
}

int store_reclaim_leftovers(struct store *s, time_t max_age, void (*gone)(const char *name, uint64_t bytes, void *ctx),
                            void *ctx, uint64_t *bytes)
{
        if (s->read_only)
                return 0;
        DIR *d = opendir_at(s->root_fd, "tmp");
        if (!d)
                return 0;
        time_t now = time(NULL);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char digest[DIGEST_STR_LEN + 1];
                enum tmp_kind k = tmp_kind(de->d_name, digest);
                struct stat st;
                if (k == TMP_OTHER || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (max_age && k != TMP_WORK && now - st.st_mtime < max_age)
                        continue;       /* a download kept for the next pull to resume */
                _cleanup_free_ char *rel = xasprintf("tmp/%s", de->d_name);
                uint64_t sz = rel_bytes(s, rel);
                if (k == TMP_WORK) {
                        if (tmp_held(s, de->d_name) || rm_rf_at(dirfd(d), de->d_name, &(struct err){ 0 }) < 0)
                                continue;
                } else {
                        /* under the blob lock: no pull is writing or about to resume it */
                        _cleanup_close_ int lk = store_try_blob_lock(s, digest);
                        if (lk < 0)
                                continue;
                        _cleanup_free_ char *partial = xasprintf("%s.partial", digest_hex(digest));
                        _cleanup_free_ char *lock = xasprintf("%s.lock", digest_hex(digest));
                        if (k == TMP_LOCK) {
                                /* an empty lock file, not worth a line; it goes
                                 * with its download, or alone when none is left */
                                if (faccessat(dirfd(d), partial, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                                        unlinkat(dirfd(d), lock, 0);
                                continue;
                        }
                        if (unlinkat(dirfd(d), partial, 0) < 0)
                                continue;
                        unlinkat(dirfd(d), lock, 0);
                }
                n++;
                if (bytes)
                        *bytes += sz;
                if (gone)
                        gone(de->d_name, sz, ctx);
        }
        closedir(d);
        return n;
}

/* ----------------------------------------------------------- the census */

/* Everything on disk: layers/<hex> and blobs/sha256/<hex>, keyed by digest
 * ("sha256:<hex>"; a layer by its diff_id), with its size once asked for
 * (census_bytes(): walking every layer only to prune one would be slow). */
struct census {
        struct store *s;
        json_t *layers, *blobs;          /* digest -> bytes, or null until asked */
};

static void census_free(struct census *c)
{
        json_decref(c->layers);
        json_decref(c->blobs);
}

static void census_dir(struct store *s, const char *dir, json_t *out)
{
        DIR *d = opendir_at(s->root_fd, dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
                if (!digest_valid(digest))
                        continue;
                json_object_set_new(out, digest, json_null());
        }
        closedir(d);
}

static void census_take(struct store *s, struct census *c)
{
        c->s = s;
        c->layers = json_object();
        c->blobs = json_object();
        census_dir(s, "layers", c->layers);
        census_dir(s, "blobs/sha256", c->blobs);
}

/* The bytes of layer (@layer) or blob @digest; 0 when the census did not find it. */
static uint64_t census_bytes(struct census *c, bool layer, const char *digest)
{
        json_t *map = layer ? c->layers : c->blobs;
        json_t *v = json_object_get(map, digest);
        if (!v)
                return 0;
        if (json_is_null(v)) {
                _cleanup_free_ char *rel = xasprintf("%s/%s", layer ? "layers" : "blobs/sha256", digest_hex(digest));
                v = json_integer((json_int_t)rel_bytes(c->s, rel));
                json_object_set_new(map, digest, v);      /* replaces a value: iterations go on */
        }
        return (uint64_t)json_integer_value(v);
}

/* Bytes of the digests in @set that the census found (layer and blob of the
 * same digest are both counted: they are two files). */
static uint64_t set_bytes(struct census *c, json_t *set, json_t *minus)
{
        uint64_t n = 0;
        const char *d;
        json_t *v;
        json_object_foreach(set, d, v) {
                if (minus && json_object_get(minus, d))
                        continue;
                n += census_bytes(c, true, d) + census_bytes(c, false, d);
        }
        return n;
}

static bool mount_uses_image(const struct store_mount *mv, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (mv[i].image && !strcmp(mv[i].image, id))
                        return true;
        return false;
}

static void free_mounts(struct store_mount *mv, size_t n)
{
        for (size_t i = 0; i < n; i++)
                store_mount_free(&mv[i]);
        free(mv);
}

static void row_add(struct store_usage_row *row, bool active, uint64_t bytes)
{
        row->total++;
        row->size += bytes;
        if (active)
                row->active++;
        else
                row->reclaimable += bytes;
}

/* The first tag of image @id in @names (else any name, else NULL). */
static const char *first_name(json_t *names, const char *id)
{
        const char *k, *any = NULL;
        json_t *v;
        json_object_foreach(names, k, v) {
                if (strcmp(json_string_value(v), id))
                        continue;
                if (!strchr(k, '@'))
                        return k;
                any = any ? any : k;
        }
        return any;
}

static size_t count_mounts_of(const struct store_mount *mv, size_t n, const char *id)
{
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += mv[i].image && !strcmp(mv[i].image, id);
        return c;
}

/* store_usage()'s detail on the images: each one's bytes, and those it shares. */
static void image_items(json_t *j, struct census *c, const struct store_mount *mv, size_t nm,
                        void (*item)(const struct store_usage_item *it, void *ctx), void *ctx)
{
        json_t *images = json_object_get(j, "images");
        _cleanup_json_ json_t *users = json_object();       /* digest -> how many images */
        const char *id, *k;
        json_t *o, *v;
        json_object_foreach(images, id, o) {
                _cleanup_json_ json_t *one = json_object();
                image_refs(id, o, one);
                json_object_foreach(one, k, v)
                        json_object_set_new(users, k, json_integer(json_integer_value(json_object_get(users, k)) + 1));
        }
        json_object_foreach(images, id, o) {
                _cleanup_json_ json_t *one = json_object(), *shared = json_object();
                image_refs(id, o, one);
                json_object_foreach(one, k, v)
                        if (json_integer_value(json_object_get(users, k)) > 1)
                                set_add(shared, k);
                struct store_usage_item it = {
                        .kind = STORE_ITEM_IMAGE, .id = id, .name = first_name(json_object_get(j, "names"), id),
                        .size = set_bytes(c, one, NULL), .shared = set_bytes(c, shared, NULL),
                        .users = count_mounts_of(mv, nm, id),
                };
                item(&it, ctx);
        }
}

struct cache_census {
        json_t *images;            /* images.json's */
        json_t *ids;               /* the images the entries name that are there */
        size_t total, active;
};

static void cache_entry(const char *key_hex, const char *id, void *ctx)
{
        struct cache_census *cc = ctx;
        cc->total++;
        if (id && json_object_get(cc->images, id)) {
                cc->active++;
                set_add(cc->ids, id);
        }
}

/* The build cache's row: what the images its entries name hold and no
 * other image and no mount uses (@used: what the mounts use). */
static void cache_usage(struct store *s, json_t *j, struct census *c, json_t *used, struct store_usage_row *row)
{
        _cleanup_json_ json_t *ids = json_object(), *held = json_object(), *others = json_deep_copy(used);
        struct cache_census cc = { json_object_get(j, "images"), ids, 0, 0 };
        store_build_cache_list(s, cache_entry, &cc);
        const char *id;
        json_t *o;
        json_object_foreach(cc.images, id, o) {
                bool named = false;
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(j, "names"), k, v)
                        named |= json_is_string(v) && !strcmp(json_string_value(v), id);
                image_refs(id, o, set_has(ids, id) && !named ? held : others);
        }
        row->total = cc.total;
        row->active = cc.active;
        row->size = row->reclaimable = set_bytes(c, held, others);
}

int store_usage(struct store *s, struct store_usage *u, void (*item)(const struct store_usage_item *it, void *ctx),
                void *ctx, struct err *e)
{
        memset(u, 0, sizeof *u);
        _cleanup_json_ json_t *j = NULL;
        int r = store_load_index(s, &j, e);
        if (r < 0)
                return r;
        struct store_mount *mv = NULL;
        size_t nm = 0;
        r = store_list_mounts(s, &mv, &nm, e);
        if (r < 0)
                return r;
        struct census c;
        census_take(s, &c);
        _cleanup_json_ json_t *refs = json_object();
        r = store_refs(s, json_object_get(j, "images"), refs, e);

        /* images: what they hold, and what only the unused ones hold */
        _cleanup_json_ json_t *held = json_object(), *used = json_object(), *unused = json_object();
        json_t *images = json_object_get(j, "images");
        const char *id;
        json_t *o;
        json_object_foreach(images, id, o) {
                bool active = mount_uses_image(mv, nm, id);
                _cleanup_json_ json_t *one = json_object();      /* what this image uses */
                const char *k;
                json_t *v;
                image_refs(id, o, one);
                json_object_foreach(one, k, v) {
                        set_add(held, k);
                        set_add(active ? used : unused, k);
                }
                u->images.total++;
                u->images.active += active;
        }
        for (size_t i = 0; i < nm; i++)
                for (size_t k = 0; k < mv[i].n_layers; k++) {
                        set_add(used, mv[i].layers[k]);
                        set_add(used, mv[i].digests ? mv[i].digests[k] : NULL);
                }
        u->images.size = set_bytes(&c, held, NULL);
        u->images.reclaimable = set_bytes(&c, unused, used);
        cache_usage(s, j, &c, used, &u->build_cache);
        if (item)
                image_items(j, &c, mv, nm, item, ctx);

        const char *d;
        json_t *v;
        json_object_foreach(c.layers, d, v)
                row_add(&u->layers, set_has(refs, d), census_bytes(&c, true, d));
        json_object_foreach(c.blobs, d, v)
                row_add(&u->blobs, set_has(refs, d), census_bytes(&c, false, d));
        for (size_t i = 0; i < nm; i++) {
                uint64_t bytes = 0;
                if (!mv[i].keep_upper) {
                        _cleanup_free_ char *rel = xasprintf("mounts/%s", mv[i].id);
                        bytes = rel_bytes(s, rel);
                }
                bool live = store_mount_live(&mv[i]);
                row_add(&u->mounts, live, bytes);
                struct store_usage_item it = { .kind = STORE_ITEM_MOUNT, .id = mv[i].id, .image = mv[i].image,
                                               .mountpoint = mv[i].mountpoint, .size = bytes, .active = live };
                if (item)
                        item(&it, ctx);
        }
        DIR *td = opendir_at(s->root_fd, "tmp");
        struct dirent *de;
        while (td && (de = readdir(td))) {
                char dg[DIGEST_STR_LEN + 1];
                enum tmp_kind k = tmp_kind(de->d_name, dg);
                if (k != TMP_PARTIAL && k != TMP_WORK)
                        continue;
                _cleanup_free_ char *rel = xasprintf("tmp/%s", de->d_name);
                bool busy = s->read_only || tmp_held(s, de->d_name);
                uint64_t bytes = rel_bytes(s, rel);
                row_add(&u->leftovers, busy, bytes);
                struct store_usage_item it = { .kind = STORE_ITEM_LEFTOVER, .id = rel, .size = bytes, .active = busy };
                if (item)
                        item(&it, ctx);
        }
        if (td)
                closedir(td);
        census_free(&c);
        free_mounts(mv, nm);
        return r;
}

/* ---------------------------------------------------------- prune, check */

static void say(void (*problem)(const char *line, void *ctx), void *ctx, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void say(void (*problem)(const char *line, void *ctx), void *ctx, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *line = NULL;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                abort();
        va_end(ap);
        if (problem)
                problem(line, ctx);
}

/* Remove the layers (@layers) or blobs of @map that @refs does not hold;
 * with @problem, say so first; with @act, do it.  The caller holds the
 * store lock and store_gc_exclusive() (no pull is adding files not yet
 * recorded). */
static int sweep_map(struct store *s, struct census *c, bool layers, json_t *refs, bool act,
                     void (*problem)(const char *line, void *ctx), store_gone_fn gone, void *ctx,
                     uint64_t *bytes, int *found, struct err *e)
{
        const char *d;
        json_t *v;
        json_object_foreach(layers ? c->layers : c->blobs, d, v) {
                if (set_has(refs, d))
                        continue;
                uint64_t n = census_bytes(c, layers, d);
                char hs[32];
                human_size(n, hs, sizeof hs);
                (*found)++;
                say(problem, ctx, "%s %s: no image and no mount uses it (%s)", layers ? "layer" : "blob", d, hs);
                if (!act)
                        continue;
                if (layers) {
                        int r = remove_layer(s, d, e);
                        if (r < 0)
                                return r;
                } else {
                        _cleanup_close_ int lk = store_try_blob_lock(s, d);
                        if (lk < 0)
                                continue;
                        remove_blob(s, d);
                }
                *bytes += n;
                if (gone)
                        gone(layers ? STORE_GONE_LAYER : STORE_GONE_BLOB, d, n, ctx);
        }
        return 0;
}

static int sweep_unused(struct store *s, json_t *refs, struct census *c, bool act,
                        void (*problem)(const char *line, void *ctx), store_gone_fn gone, void *ctx,
                        uint64_t *bytes, int *found, struct err *e)
{
        int r = sweep_map(s, c, true, refs, act, problem, gone, ctx, bytes, found, e);
        return r < 0 ? r : sweep_map(s, c, false, refs, act, problem, gone, ctx, bytes, found, e);
}

/* Forget a mount record without letting its layers go (the caller sweeps). */
static int drop_record(struct store *s, const struct store_mount *m, struct err *e)
{
        _cleanup_free_ char *gone = store_path(s, "tmp/gone-mount-%s-%d-0", m->id, (int)getpid());
        if (m->keep_upper) {
                _cleanup_free_ char *tmps = xasprintf("%s/work", m->work);
                rm_rf_at(AT_FDCWD, tmps, &(struct err){ 0 });
        }
        if (rename(m->dir, gone) < 0)
                return errno == ENOENT ? 0 : err_set(e, errno, "remove %s", m->dir);
        return rm_rf_at(AT_FDCWD, gone, e);
}

struct gone_relay {
        store_gone_fn gone;
        void *ctx;
};

static void relay_leftover(const char *name, uint64_t bytes, void *ctx)
{
        struct gone_relay *g = ctx;
        _cleanup_free_ char *rel = xasprintf("tmp/%s", name);
        if (g->gone)
                g->gone(STORE_GONE_LEFTOVER, rel, bytes, g->ctx);
}

static void relay_cache(const char *key_hex, const char *id, void *ctx)
{
        struct gone_relay *g = ctx;
        if (g->gone)
                g->gone(STORE_GONE_CACHE, key_hex, 0, g->ctx);
}

/* Delete the image records @ids (with their names) from @j and save it. */
static int drop_images(struct store *s, json_t *j, json_t *ids, store_gone_fn gone, void *ctx, struct err *e)
{
        if (!json_object_size(ids))
                return 0;
        json_t *images = json_object_get(j, "images"), *names = json_object_get(j, "names");
        const char *id, *k;
        json_t *v, *val;
        void *tmp;
        json_object_foreach(ids, id, v) {
                json_object_del(images, id);
                json_object_foreach_safe(names, tmp, k, val) {
                        if (strcmp(json_string_value(val), id))
                                continue;
                        if (gone)
                                gone(STORE_GONE_UNTAGGED, k, 0, ctx);
                        json_object_del(names, k);
                }
        }
        int r = store_save_index(s, j, e);
        if (r < 0)
                return r;
        json_object_foreach(ids, id, v)
                if (gone)
                        gone(STORE_GONE_IMAGE, id, 0, ctx);
        return 0;
}

int store_prune(struct store *s, bool all, store_gone_fn gone, void *ctx, uint64_t *reclaimed, struct err *e)
{
        *reclaimed = 0;
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        _cleanup_close_ int gc = -1;
        _cleanup_json_ json_t *j = NULL;
        _cleanup_json_ json_t *refs = json_object(), *drop = json_object();
        struct store_mount *mv = NULL;
        size_t nm = 0;
        struct census c = { 0 };
        r = store_list_mounts(s, &mv, &nm, e);
        if (r < 0)
                goto out;
        /* 1. the writable layers of finished runs and dead mounts */
        for (size_t i = 0; i < nm; i++) {
                if (store_mount_live(&mv[i]))
                        continue;
                _cleanup_free_ char *rel = xasprintf("mounts/%s", mv[i].id);
                uint64_t n = rel_bytes(s, rel);
                r = drop_record(s, &mv[i], e);
                if (r < 0)
                        goto out;
                *reclaimed += n;
                if (gone)
                        gone(STORE_GONE_MOUNT, mv[i].id, n, ctx);
        }
        free_mounts(mv, nm);
        mv = NULL;
        r = store_list_mounts(s, &mv, &nm, e);
        /* 2. images without a name (all: every image) no mount uses */
        if (r >= 0)
                r = store_load_index(s, &j, e);
        if (r < 0)
                goto out;
        json_t *images = json_object_get(j, "images"), *names = json_object_get(j, "names");
        const char *id, *k;
        json_t *o, *val;
        json_object_foreach(images, id, o) {
                bool named = false;
                json_object_foreach(names, k, val)
                        named |= !strcmp(json_string_value(val), id) && !strchr(k, '@');   /* a tag */
                if ((all || !named) && !mount_uses_image(mv, nm, id))
                        json_object_set_new(drop, id, json_true());
        }
        r = drop_images(s, j, drop, gone, ctx, e);
        if (r >= 0) {
                struct gone_relay cg = { gone, ctx };
                r = store_build_cache_clear(s, relay_cache, &cg, e);
                r = r < 0 ? r : 0;
        }
        if (r < 0)
                goto out;
        /* 3. layers and blobs nothing uses, unless a pull is adding some now */
        gc = store_gc_exclusive(s);
        if (gc >= 0) {
                census_take(s, &c);
                int found = 0;
                r = store_refs(s, images, refs, e);
                if (r >= 0)
                        r = sweep_unused(s, refs, &c, true, NULL, gone, ctx, reclaimed, &found, e);
                if (r < 0)
                        goto out;
        }
        /* 4. downloads and work dirs nobody holds */
        struct gone_relay g = { gone, ctx };
        store_reclaim_leftovers(s, 0, relay_leftover, &g, reclaimed);
out:
        census_free(&c);
        free_mounts(mv, nm);
        store_unlock(s);
        return r;
}

/* What is missing from image @o, in one phrase, or NULL when it is whole. */
static char *image_damage(struct store *s, const char *id, json_t *o)
{
        const char *m = json_string_value(json_object_get(o, "manifest"));
        if (!store_has_blob(s, id))
                return xasprintf("its config blob %s is missing", id);
        if (m && !store_has_blob(s, m))
                return xasprintf("its manifest blob %s is missing", m);
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(o, "layers"), i, l) {
                const char *d = json_string_value(json_object_get(l, "digest"));
                const char *di = json_string_value(json_object_get(l, "diff_id"));
                if (!store_has_layer(s, di))
                        return xasprintf("layer %zu (%s) is missing", i, di ? di : "?");
                if (!store_has_blob(s, d))
                        return xasprintf("the blob of layer %zu (%s) is missing", i, d ? d : "?");
        }
        return NULL;
}

int store_check(struct store *s, bool repair, void (*problem)(const char *line, void *ctx),
                store_gone_fn repaired, void *ctx, struct err *e)
{
        int r = repair ? store_lock(s, e) : 0;
        if (r < 0)
                return r;
        int found = 0;
        _cleanup_close_ int gc = -1;
        _cleanup_json_ json_t *j = NULL;
        _cleanup_json_ json_t *refs = json_object(), *damaged = json_object();
        struct store_mount *mv = NULL;
        size_t nm = 0;
        struct census c = { 0 };
        r = store_load_index(s, &j, e);
        if (r < 0)
                goto out;
        json_t *images = json_object_get(j, "images"), *names = json_object_get(j, "names");
        const char *k, *id;
        json_t *val, *o;
        void *tmp;
        bool dirty = false;
        /* names that point at no image */
        json_object_foreach_safe(names, tmp, k, val) {
                const char *to = json_string_value(val);
                if (to && json_object_get(images, to))
                        continue;
                found++;
                say(problem, ctx, "name %s: points to no image (%s)", k, to ? to : "?");
                if (repair) {
                        json_object_del(names, k);
                        dirty = true;
                        if (repaired)
                                repaired(STORE_GONE_UNTAGGED, k, 0, ctx);
                }
        }
        if (dirty && (r = store_save_index(s, j, e)) < 0)
                goto out;
        /* images with a file missing: deleted, the next pull fetches them whole */
        json_object_foreach(images, id, o) {
                _cleanup_free_ char *why = image_damage(s, id, o);
                if (!why)
                        continue;
                found++;
                _cleanup_free_ char *label = NULL;
                json_object_foreach(names, k, val)
                        if (!label && !strcmp(json_string_value(val), id))
                                label = xasprintf(" (%s)", k);
                say(problem, ctx, "image %.19s%s: %s", id, label ? label : "", why);
                json_object_set_new(damaged, id, json_true());
        }
        if (repair && (r = drop_images(s, j, damaged, repaired, ctx, e)) < 0)
                goto out;
        /* mount records that cannot be mounted again */
        r = store_list_mounts(s, &mv, &nm, e);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < nm; i++) {
                for (size_t l = 0; l < mv[i].n_layers; l++) {
                        if (store_has_layer(s, mv[i].layers[l]))
                                continue;
                        bool live = store_mount_live(&mv[i]);
                        found++;
                        say(problem, ctx, "mount %s (%s): layer %zu (%s) is missing%s", mv[i].id, mv[i].mountpoint,
                            l, mv[i].layers[l], live ? " (in use: left alone)" : "");
                        if (repair && !live) {
                                r = drop_record(s, &mv[i], e);
                                if (r < 0)
                                        goto out;
                                if (repaired)
                                        repaired(STORE_GONE_MOUNT, mv[i].id, 0, ctx);
                        }
                        break;
                }
        }
        /* layers and blobs nothing uses (unless a pull is adding some now) */
        gc = store_gc_exclusive(s);
        if (gc >= 0 || s->read_only) {
                census_take(s, &c);
                /* what a repair would free with the damaged images counts now too */
                _cleanup_json_ json_t *whole = json_copy(images);
                const char *d;
                json_t *v;
                json_object_foreach(damaged, d, v)
                        json_object_del(whole, d);
                r = store_refs(s, whole, refs, e);
                uint64_t bytes = 0;
                if (r >= 0)
                        r = sweep_unused(s, refs, &c, repair, problem, repaired, ctx, &bytes, &found, e);
        }
out:
        census_free(&c);
        free_mounts(mv, nm);
        if (repair)
                store_unlock(s);
        return r < 0 ? r : found;
}
