/* Merged directory listings.  A listing is a snapshot taken at opendir (and
 * at rewinddir): offsets are indexes into it, so they stay stable across
 * FUSE calls, seekdir/telldir and concurrent changes. */
#include "fs-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>

struct raw_ent {
        char *name;
        int layer;
        unsigned char type;
        bool whiteout;
        ino_t ino;
};

struct raw_list {
        struct raw_ent *v;
        size_t n, cap;
};

static void raw_push(struct raw_list *l, const char *name, size_t len, int layer, unsigned char type,
                     bool whiteout, ino_t ino)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n++] = (struct raw_ent){ xstrndup(name, len), layer, type, whiteout, ino };
}

static void raw_free(struct raw_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].name);
        free(l->v);
}

/* Read one layer's directory into @l.  A missing directory is no error:
 * a merged directory need not exist in every layer of its range. */
static int read_layer(struct ovl *o, int layer, const char *path, struct raw_list *l)
{
        int fd = openat(o->layers[layer].fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
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
                                raw_push(l, hidden, strlen(hidden), layer, DT_UNKNOWN, true, 0);
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
                raw_push(l, name, strlen(name), layer, type, whiteout, de->d_ino);
        }
        int r = errno ? -errno : 0;
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

void dir_snap_free(struct dir_snap *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->ents[i].name);
        free(d->ents);
        free(d);
}

/* Collect the visible names of @dir, sorted, each once (the topmost entry
 * wins; a whiteout hides the name and everything below). */
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
        return 0;
}

int ovl_dir_read(struct ovl *o, struct node *dir, struct dir_snap **out)
{
        _cleanup_(raw_free) struct raw_list l = { 0 };
        int r = merge(o, dir, &l);
        if (r < 0)
                return r;
        struct dir_snap *d = xcalloc(1, sizeof(*d));
        d->ents = xcalloc(l.n + 2, sizeof(*d->ents));
        d->ents[d->n++] = (struct dirent_m){ xstrdup("."), DT_DIR, dir->ino };
        pthread_mutex_lock(&o->tree_lock);
        uint64_t pino = dir->parent ? dir->parent->ino : dir->ino;
        pthread_mutex_unlock(&o->tree_lock);
        d->ents[d->n++] = (struct dirent_m){ xstrdup(".."), DT_DIR, (ino_t)pino };
        for (size_t i = 0; i < l.n; i++) {
                if (i > 0 && !strcmp(l.v[i].name, l.v[i - 1].name))
                        continue;
                if (l.v[i].whiteout)
                        continue;
                struct raw_ent *e = &l.v[i];
                uint64_t ino;
                if (!node_peek_ino(o, dir, e->name, &ino))
                        ino = e->ino | o->layers[e->layer].ino_tag;
                d->ents[d->n++] = (struct dirent_m){ xstrdup(e->name), e->type, (ino_t)ino };
        }
        *out = d;
        return 0;
}

int ovl_dir_empty(struct ovl *o, struct node *dir)
{
        _cleanup_(raw_free) struct raw_list l = { 0 };
        int r = merge(o, dir, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                if (i > 0 && !strcmp(l.v[i].name, l.v[i - 1].name))
                        continue;
                if (!l.v[i].whiteout)
                        return -ENOTEMPTY;
        }
        return 0;
}
