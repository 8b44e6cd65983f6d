/* Walking layer directories in the tar's order (PACK invariant 2): sorted
 * bytewise, depth first, a directory before its contents; one layer as it
 * is (raw), or several merged as overlayfs shows them. */
#include "pack-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>

/* ---------------------------------------------------------------- inomap */

void inomap_init(struct inomap *m)
{
        memset(m, 0, sizeof *m);
}

void inomap_free(struct inomap *m)
{
        for (size_t i = 0; i < m->cap; i++)
                free(m->v[i].path);
        free(m->v);
        memset(m, 0, sizeof *m);
}

static size_t ino_hash(dev_t dev, ino_t ino)
{
        uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
        return (size_t)(h ^ (h >> 29));
}

const char *inomap_get(const struct inomap *m, dev_t dev, ino_t ino)
{
        if (!m->cap)
                return NULL;
        for (size_t i = ino_hash(dev, ino) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (!m->v[i].path)
                        return NULL;
                if (m->v[i].dev == dev && m->v[i].ino == ino)
                        return m->v[i].path;
        }
}

void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *path)
{
        if ((m->n + 1) * 2 > m->cap) {
                struct inomap g = { .cap = m->cap ? m->cap * 2 : 64 };
                g.v = xcalloc(g.cap, sizeof *g.v);
                for (size_t i = 0; i < m->cap; i++) {
                        if (!m->v[i].path)
                                continue;
                        size_t k = ino_hash(m->v[i].dev, m->v[i].ino) & (g.cap - 1);
                        while (g.v[k].path)
                                k = (k + 1) & (g.cap - 1);
                        g.v[k] = m->v[i];
                        g.n++;
                }
                free(m->v);
                *m = g;
        }
        size_t i = ino_hash(dev, ino) & (m->cap - 1);
        while (m->v[i].path) {
                if (m->v[i].dev == dev && m->v[i].ino == ino)
                        return;
                i = (i + 1) & (m->cap - 1);
        }
        m->v[i] = (struct inoent){ dev, ino, xstrdup(path) };
        m->n++;
}

/* ------------------------------------------------------------- listings */

static int cmp_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int pack_list_dir(int dirfd, const char *rel, char ***names, size_t *n, struct err *e)
{
        *names = NULL;
        *n = 0;
        DIR *d = opendir_at(dirfd, rel);
        if (!d)
                return err_set(e, errno, "%s: open directory", rel);
        size_t cap = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (*n == cap) {
                        cap = cap ? cap * 2 : 16;
                        *names = xrealloc(*names, cap * sizeof **names);
                }
                (*names)[(*n)++] = xstrdup(de->d_name);
                errno = 0;
        }
        int err = errno;
        closedir(d);
        if (err) {
                pack_names_free(*names, *n);
                *names = NULL;
                *n = 0;
                return err_set(e, err, "%s: read directory", rel);
        }
        if (*n > 1)
                qsort(*names, *n, sizeof **names, cmp_name);
        return 0;
}

void pack_names_free(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

char *pack_join(const char *dir, const char *name)
{
        if (!strcmp(dir, "."))
                return xstrdup(name);
        return xasprintf("%s/%s", dir, name);
}

/* ----------------------------------------------------------------- walks */

struct walk {
        const int *fds;
        size_t n;
        bool raw;
        pack_walk_fn fn;
        void *ctx;
        struct err *e;
};

struct cand {
        char *name;
        size_t layer;
};

static int cmp_cand(const void *a, const void *b)
{
        const struct cand *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x->layer < y->layer ? -1 : x->layer > y->layer;
}

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool dir_opaque(int fd, const char *rel)
{
        _cleanup_close_ int d = openat(fd, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return d >= 0 && pack_is_opaque(d);
}

/* @ls: the layers merged at directory @rel, topmost first. */
static int walk_dir(struct walk *w, const size_t *ls, size_t nl, const char *rel)
{
        struct cand *c = NULL;
        size_t nc = 0, cap = 0;
        int r = 0;
        for (size_t i = 0; i < nl && r >= 0; i++) {
                char **names;
                size_t n;
                r = pack_list_dir(w->fds[ls[i]], rel, &names, &n, w->e);
                if (r < 0)
                        break;
                if (nc + n > cap) {
                        cap = (nc + n) * 2;
                        c = xrealloc(c, cap * sizeof *c);
                }
                for (size_t k = 0; k < n; k++)
                        c[nc++] = (struct cand){ names[k], ls[i] };
                free(names);
        }
        if (nl > 1 && nc > 1)
                qsort(c, nc, sizeof *c, cmp_cand);
        size_t *sub = xcalloc(nl ? nl : 1, sizeof *sub);
        for (size_t i = 0; i < nc && r >= 0; i++) {
                if (i && !strcmp(c[i].name, c[i - 1].name))
                        continue;   /* a lower one of a name already seen */
                _cleanup_free_ char *path = pack_join(rel, c[i].name);
                struct pack_entry en = { .path = path, .layer = c[i].layer, .layer_fd = w->fds[c[i].layer] };
                if (fstatat(en.layer_fd, path, &en.st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = err_set(w->e, errno, "%s: stat", path);
                        break;
                }
                if (is_whiteout(&en.st)) {
                        if (!w->raw)
                                continue;
                        en.whiteout = true;
                }
                if (S_ISDIR(en.st.st_mode))
                        en.opaque = dir_opaque(en.layer_fd, path);
                r = w->fn(&en, w->ctx);
                if (r < 0 || !S_ISDIR(en.st.st_mode))
                        continue;
                /* the layers merged below: this one, then lower directories of
                 * the same name until an opaque one or anything else */
                size_t ns = 0;
                sub[ns++] = c[i].layer;
                bool stop = en.opaque;
                for (size_t k = i + 1; !w->raw && !stop && k < nc && !strcmp(c[k].name, c[i].name); k++) {
                        struct stat st;
                        if (fstatat(w->fds[c[k].layer], path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                                break;
                        sub[ns++] = c[k].layer;
                        stop = dir_opaque(w->fds[c[k].layer], path);
                }
                size_t *copy = xcalloc(ns, sizeof *copy);
                memcpy(copy, sub, ns * sizeof *copy);
                r = walk_dir(w, copy, ns, path);
                free(copy);
        }
        free(sub);
        for (size_t i = 0; i < nc; i++)
                free(c[i].name);
        free(c);
        return r;
}

int pack_walk_merged(const int *fds, size_t n, pack_walk_fn fn, void *ctx, struct err *e)
{
        struct walk w = { .fds = fds, .n = n, .fn = fn, .ctx = ctx, .e = e };
        size_t *ls = xcalloc(n ? n : 1, sizeof *ls);
        size_t nl = 0;
        for (size_t i = 0; i < n; i++) {
                ls[nl++] = i;
                if (dir_opaque(fds[i], "."))
                        break;
        }
        int r = walk_dir(&w, ls, nl, ".");
        free(ls);
        return r;
}

int pack_walk_raw(int fd, pack_walk_fn fn, void *ctx, struct err *e)
{
        struct walk w = { .fds = &fd, .n = 1, .raw = true, .fn = fn, .ctx = ctx, .e = e };
        size_t l = 0;
        return walk_dir(&w, &l, 1, ".");
}

/* ------------------------------------------------------------ clamping */

struct clamp {
        int fd;
        time_t epoch;
        struct err *e;
};

static int clamp_one(const struct pack_entry *en, void *ctx)
{
        struct clamp *c = ctx;
        if (en->st.st_mtime <= c->epoch)
                return 0;
        struct timespec ts[2] = { { c->epoch, 0 }, { c->epoch, 0 } };
        if (utimensat(c->fd, en->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return err_set(c->e, errno, "%s: set times", en->path);
        return 0;
}

int pack_clamp_times(int dir_fd, time_t epoch, struct err *e)
{
        struct clamp c = { dir_fd, epoch, e };
        struct stat st;
        int r = pack_walk_raw(dir_fd, clamp_one, &c, e);
        if (r >= 0 && fstat(dir_fd, &st) == 0 && st.st_mtime > epoch) {
                struct timespec ts[2] = { { epoch, 0 }, { epoch, 0 } };
                if (futimens(dir_fd, ts) < 0)
                        r = err_set(e, errno, "set the layer root's times");
        }
        return r;
}
