/* Layer listings and the merged view (see layerview.h). */
#include "layerview.h"
#include "util/userns.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

struct vec {
        struct lv_entry *e;
        size_t n, cap;
};

static void push(struct vec *v, struct lv_entry x)
{
        if (v->n == v->cap) {
                v->cap = v->cap ? 2 * v->cap : 256;
                v->e = xrealloc(v->e, v->cap * sizeof *v->e);
        }
        v->e[v->n++] = x;
}

/* the store's own form (util/userns.h): trusted.overlay.* or, rootless, user.overlay.* */
static bool is_opaque(int dfd)
{
        char val[4], name[40];
        snprintf(name, sizeof name, "%sopaque", userns_ovl_prefix());
        ssize_t n = fgetxattr(dfd, name, val, sizeof val);
        return n == 1 && val[0] == 'y';
}

static int walk(int dfd, const char *prefix, int index, struct vec *v, struct err *e)
{
        DIR *d = fdopendir(dfd);
        if (!d) {
                int s = errno;
                close(dfd);
                return err_set(e, s, "open %s", prefix[0] ? prefix : "/");
        }
        struct dirent *de;
        int r = 0;
        while (r == 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct lv_entry x = { 0 };
                x.path = xasprintf("%s/%s", prefix, de->d_name);
                x.layer = index;
                if (fstatat(dirfd(d), de->d_name, &x.st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = err_set(e, errno, "stat %s", x.path);
                        free(x.path);
                        break;
                }
                x.whiteout = S_ISCHR(x.st.st_mode) && x.st.st_rdev == makedev(0, 0);
                if (S_ISLNK(x.st.st_mode)) {
                        char buf[4097];
                        ssize_t n = readlinkat(dirfd(d), de->d_name, buf, sizeof buf - 1);
                        if (n >= 0) {
                                buf[n] = '\0';
                                x.link = xstrdup(buf);
                        }
                }
                int cfd = -1;
                if (S_ISDIR(x.st.st_mode)) {
                        cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                r = err_set(e, errno, "open %s", x.path);
                                free(x.path);
                                free(x.link);
                                break;
                        }
                        x.opaque = is_opaque(cfd);
                }
                push(v, x);
                if (cfd >= 0)
                        r = walk(cfd, x.path, index, v, e);
        }
        closedir(d);
        return r;
}

static int cmp_entry(const void *a, const void *b)
{
        return strcmp(((const struct lv_entry *)a)->path, ((const struct lv_entry *)b)->path);
}

int lv_read_layer(const char *dir, int index, struct lv_layer *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, errno, "open layer %s", dir);
        struct vec v = { 0 };
        int r = walk(fd, "", index, &v, e);
        out->dir = xstrdup(dir);
        out->e = v.e;
        out->n = v.n;
        if (r < 0) {
                lv_layer_free(out);
                return err_wrap(e, "layer %s", dir);
        }
        qsort(out->e, out->n, sizeof *out->e, cmp_entry);
        return 0;
}

void lv_layer_free(struct lv_layer *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->e[i].path);
                free(l->e[i].link);
        }
        free(l->e);
        free(l->dir);
        memset(l, 0, sizeof *l);
}

const struct lv_entry *lv_find(const struct lv_layer *l, const char *path)
{
        if (!l->n)
                return NULL;
        struct lv_entry key = { .path = (char *)path };
        return bsearch(&key, l->e, l->n, sizeof *l->e, cmp_entry);
}

static int cmp_ptr(const void *a, const void *b)
{
        return strcmp((*(const struct lv_entry *const *)a)->path, (*(const struct lv_entry *const *)b)->path);
}

const struct lv_entry *lv_merged_find(const struct lv_merged *m, const char *path)
{
        if (!m->n)
                return NULL;   /* the merge of no layers has no array at all */
        struct lv_entry key = { .path = (char *)path };
        const struct lv_entry *k = &key;
        const struct lv_entry **hit = bsearch(&k, m->e, m->n, sizeof *m->e, cmp_ptr);
        return hit ? *hit : NULL;
}

/* Is @path at or below @dir? */
static bool under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Is @path hidden from the lower layers by @l: a whiteout or an opaque
 * directory, or a non-directory, at @path or one of its parents? */
static bool hidden_by(const struct lv_layer *l, const char *path)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + strlen(p); s > p; s--) {
                if (*s != '/' && s != p + strlen(path))
                        continue;
                char save = *s;
                *s = '\0';
                const struct lv_entry *x = lv_find(l, p);
                *s = save;
                if (!x)
                        continue;
                bool self = save == '\0';
                if (x->whiteout || (self && !S_ISDIR(x->st.st_mode)))
                        return true;
                if (!self && (x->opaque || !S_ISDIR(x->st.st_mode)))
                        return true;
        }
        return false;
}

void lv_merge(const struct lv_layer *layers, size_t n, struct lv_merged *out)
{
        struct lv_merged m = { 0 };
        for (size_t i = 0; i < n; i++) {
                const struct lv_layer *l = &layers[i];
                /* keep what this layer does not hide, then add its entries */
                size_t keep = 0;
                for (size_t k = 0; k < m.n; k++) {
                        const struct lv_entry *x = lv_find(l, m.e[k]->path);
                        if (x && S_ISDIR(x->st.st_mode) && S_ISDIR(m.e[k]->st.st_mode))
                                continue;   /* replaced by the upper dir entry below */
                        if (x || hidden_by(l, m.e[k]->path))
                                continue;
                        m.e[keep++] = m.e[k];
                }
                m.n = keep;
                m.e = xrealloc(m.e, (m.n + l->n + 1) * sizeof *m.e);
                for (size_t k = 0; k < l->n; k++)
                        if (!l->e[k].whiteout)
                                m.e[m.n++] = &l->e[k];
                qsort(m.e, m.n, sizeof *m.e, cmp_ptr);
        }
        *out = m;
}

void lv_merged_free(struct lv_merged *m)
{
        free(m->e);
        memset(m, 0, sizeof *m);
}

void lv_diff(const struct lv_merged *below, const struct lv_layer *l,
             void (*emit)(char kind, const char *path, void *ctx), void *ctx)
{
        for (size_t i = 0; i < l->n; i++) {
                const struct lv_entry *x = &l->e[i];
                const struct lv_entry *old = lv_merged_find(below, x->path);
                if (x->whiteout) {
                        if (old)
                                emit('D', x->path, ctx);
                        continue;
                }
                emit(old ? 'C' : 'A', x->path, ctx);
                if (x->opaque && old) {
                        /* everything the opaque dir hides that it does not re-add */
                        for (size_t k = 0; k < below->n; k++)
                                if (under(below->e[k]->path, x->path) && !lv_find(l, below->e[k]->path))
                                        emit('D', below->e[k]->path, ctx);
                }
        }
}
