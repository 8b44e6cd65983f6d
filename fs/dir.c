/* Merged directory listings.  A listing is a snapshot taken at opendir:
 * offsets are indexes into it, so they stay stable across FUSE calls,
 * seekdir/telldir and concurrent changes.  The directory node caches the
 * last snapshot until its names change (ovl_dir_changed) or a listing
 * without a handle reaches its end (ovl_dir_listed: the kernel caches it); the snapshot also tells readdirplus which
 * layers hold each name, so its lookups need one stat instead of a probe of
 * every layer. */
#include "fs-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>

struct raw_list {
        struct raw_ent *v;
        size_t n, cap;
};

static void raw_push(struct raw_list *l, const char *name, int layer, unsigned char type, bool whiteout, ino_t ino)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n++] = (struct raw_ent){ xstrdup(name), layer, type, whiteout, ino };
}

static void raw_free(struct raw_ent *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

static void raw_list_free(struct raw_list *l)
{
        raw_free(l->v, l->n);
}

/* Read one layer's directory into @l.  A missing directory is no error:
 * a merged directory need not exist in every layer of its range. */
static int read_layer(struct ovl *o, int layer, const char *path, struct raw_list *l)
{
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, layer, path, &a);
        if (r < 0)
                return r == -ENOENT || r == -ENOTDIR ? 0 : r;
        DIR *d = opendir_at(a.fd, a.rel);
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        bool upper = ovl_is_upper(o, layer);
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                const char *name = de->d_name;
                if (!strcmp(name, ".") || !strcmp(name, ".."))
                        continue;
                unsigned char type = de->d_type;
                if (!upper && !strncmp(name, OCI_WH_PREFIX, strlen(OCI_WH_PREFIX))) {
                        const char *hidden = name + strlen(OCI_WH_PREFIX);
                        /* .wh..wh..opq (and aufs's other .wh..wh.* files) are markers */
                        if (strncmp(hidden, OCI_WH_PREFIX, strlen(OCI_WH_PREFIX)) && *hidden)
                                raw_push(l, hidden, layer, DT_UNKNOWN, true, 0);
                        continue;
                }
                bool whiteout = false;
                if (type == DT_CHR || type == DT_UNKNOWN) {
                        struct stat st;
                        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                                whiteout = st_is_whiteout(&st);
                                type = IFTODT(st.st_mode);
                        }
                }
                raw_push(l, name, layer, type, whiteout, de->d_ino);
        }
        r = errno ? -errno : 0;
        closedir(d);
        return r;
}

static int cmp_raw(const void *a, const void *b)
{
        const struct raw_ent *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x->layer - y->layer;
}

/* A name's readdir offset: 63 bits of FNV-1a, above the 1 and 2 of . and .. */
static uint64_t name_off(const char *name)
{
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                h ^= *p;
                h *= 1099511628211ULL;
        }
        h >>= 1;
        return h < 3 ? h + 3 : h;
}

static int cmp_off(const void *a, const void *b)
{
        const struct dirent_m *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

void dir_snap_put(struct dir_snap *d)
{
        if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
                return;
        raw_free(d->raw, d->nraw);
        free(d->ents);
        free(d);
}

/* Every layer's names of @dir, sorted by (name, layer). */
static int merge(struct ovl *o, struct node *dir, struct raw_list *l)
{
        _cleanup_free_ char *path = node_path(o, dir);
        pthread_mutex_lock(&dir->lock);
        int from = node_layer(dir), to = dir->bottom;
        pthread_mutex_unlock(&dir->lock);
        for (int i = from; i <= to; i++) {
                int r = read_layer(o, i, path, l);
                if (r < 0)
                        return r;
        }
        if (l->n)
                qsort(l->v, l->n, sizeof(*l->v), cmp_raw);
        /* a walk reads the subdirectories next */
        for (size_t i = 0; o->prefetch && i < l->n; i++)
                if (l->v[i].type == DT_DIR && !l->v[i].whiteout && !ovl_is_upper(o, l->v[i].layer)) {
                        _cleanup_free_ char *sub = strcmp(path, ".") ? xasprintf("%s/%s", path, l->v[i].name)
                                                                     : xstrdup(l->v[i].name);
                        ovl_prefetch_dir(o, l->v[i].layer, sub, false);
                }
        return 0;
}

/* Each name once: the topmost entry wins; a whiteout hides the name. */
static struct dir_snap *build(struct ovl *o, struct node *dir, struct raw_list *l)
{
        struct dir_snap *d = xcalloc(1, sizeof(*d));
        atomic_init(&d->refs, 1);
        d->ents = xcalloc(l->n + 2, sizeof(*d->ents));
        pthread_mutex_lock(&o->tree_lock);
        uint64_t pino = dir->parent ? dir->parent->ino : dir->ino;
        pthread_mutex_unlock(&o->tree_lock);
        d->ents[d->n++] = (struct dirent_m){ ".", DT_DIR, (ino_t)dir->ino, 0, 0, 1 };
        d->ents[d->n++] = (struct dirent_m){ "..", DT_DIR, (ino_t)pino, 0, 0, 2 };
        for (size_t i = 0; i < l->n;) {
                size_t j = i + 1;
                while (j < l->n && !strcmp(l->v[j].name, l->v[i].name))
                        j++;
                struct raw_ent *e = &l->v[i];
                if (!e->whiteout) {
                        uint64_t ino;
                        if (!node_peek_ino(o, dir, e->name, &ino))
                                ino = e->ino | o->layers[e->layer].ino_tag;
                        d->ents[d->n++] = (struct dirent_m){ e->name, e->type, (ino_t)ino, i, j - i,
                                                             name_off(e->name) };
                }
                i = j;
        }
        qsort(d->ents + 2, d->n - 2, sizeof(*d->ents), cmp_off);
        d->raw = TAKE_PTR(l->v);
        d->nraw = l->n;
        l->n = l->cap = 0;
        return d;
}

size_t dir_seek(const struct dir_snap *d, uint64_t off)
{
        if (off < 2)
                return off;
        size_t lo = 2, hi = d->n;       /* first entry with ents[].off > off */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (d->ents[mid].off <= off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int ovl_dir_read(struct ovl *o, struct node *dir, struct dir_snap **out)
{
        pthread_mutex_lock(&dir->lock);
        struct dir_snap *d = dir->snap;
        uint64_t gen = dir->snap_gen;
        if (d)
                atomic_fetch_add(&d->refs, 1);
        pthread_mutex_unlock(&dir->lock);
        if (d) {
                *out = d;
                return 0;
        }
        _cleanup_(raw_list_free) struct raw_list l = { 0 };
        int r = merge(o, dir, &l);
        if (r < 0)
                return r;
        d = build(o, dir, &l);
        /* cache it unless the names changed while we read */
        pthread_mutex_lock(&dir->lock);
        if (dir->snap_gen == gen && !dir->snap) {
                atomic_fetch_add(&d->refs, 1);
                dir->snap = d;
        }
        pthread_mutex_unlock(&dir->lock);
        *out = d;
        return 0;
}

void ovl_dir_listed(struct ovl *o, struct node *dir, struct dir_snap *d)
{
        (void)o;
        pthread_mutex_lock(&dir->lock);
        bool cached = dir->snap == d;
        if (cached)
                dir->snap = NULL;
        pthread_mutex_unlock(&dir->lock);
        if (cached)
                dir_snap_put(d);
}

void ovl_dir_changed(struct ovl *o, struct node *dir)
{
        pthread_mutex_lock(&dir->lock);
        struct dir_snap *d = TAKE_PTR(dir->snap);
        dir->snap_gen++;
        pthread_mutex_unlock(&dir->lock);
        dir_snap_put(d);
}

int ovl_dir_empty(struct ovl *o, struct node *dir)
{
        struct dir_snap *d;
        int r = ovl_dir_read(o, dir, &d);
        if (r < 0)
                return r;
        r = d->n > 2 ? -ENOTEMPTY : 0;
        dir_snap_put(d);
        return r;
}

/* What ovl_probe() finds, from the listing: the entries of one name in the
 * merged layers, top first.  Only the winning entry is stat()ed, and a
 * directory's opacity is asked only when a layer below holds it too. */
static int probe_raw(struct ovl *o, const char *path, const struct raw_ent *v, size_t n, struct probe *p)
{
        memset(p, 0, sizeof(*p));
        p->layer = v[0].layer;
        int r = layer_stat(o, p->layer, path, &p->st);
        if (r < 0)
                return r;
        if (st_is_whiteout(&p->st) || IFTODT(p->st.st_mode) != v[0].type)
                return -ESTALE;         /* changed since the listing */
        p->bottom = p->layer;
        p->ndirs = 1;
        p->has_lower = !ovl_is_upper(o, p->layer) || (n > 1 && !v[1].whiteout);
        if (n > 1 && !v[1].whiteout)
                p->lower = v[1].layer;
        if (!S_ISDIR(p->st.st_mode) || n == 1 || layer_dir_opaque(o, p->layer, path))
                return 0;
        for (size_t k = 1; k < n; k++) {
                if (v[k].whiteout || v[k].type != DT_DIR)
                        break;
                p->bottom = v[k].layer;
                p->ndirs++;
                if (k + 1 < n && layer_dir_opaque(o, v[k].layer, path))
                        break;
        }
        return 0;
}

int ovl_lookup_entry(struct ovl *o, struct node *dir, struct dir_snap *d, size_t i, struct node **out,
                     struct stat *st)
{
        const struct dirent_m *de = &d->ents[i];
        int known = ovl_lookup_known(o, dir, de->name, out, st);
        if (known != 0)
                return known < 0 ? known : 0;
        /* the listing is as old as the directory's last change: if it
         * changed since (or a layer is in the way), probe afresh */
        pthread_mutex_lock(&dir->lock);
        bool fresh = dir->snap == d;
        pthread_mutex_unlock(&dir->lock);
        _cleanup_free_ char *path = child_path(o, dir, de->name);
        struct probe p;
        if (!fresh || probe_raw(o, path, d->raw + de->raw, de->nraw, &p) < 0)
                return ovl_lookup(o, dir, de->name, out, st);
        *out = lookup_finish(o, dir, de->name, path, &p, st);
        return 0;
}
