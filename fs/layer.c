/* The layers: opening them, probing one path in one layer, both whiteout
 * forms, st_ino mapping across filesystems. */
#include "fs-internal.h"
#include "util/userns.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

static int open_layer(struct layer *l, const char *path, struct err *e)
{
        l->path = realpath(path, NULL);
        if (!l->path)
                return err_set(e, errno, "layer %s", path);
        l->path_len = strlen(l->path);
        l->fd = open(l->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (l->fd < 0)
                return err_set(e, errno, "open layer %s", path);
        struct stat st;
        if (fstat(l->fd, &st) < 0)
                return err_set(e, errno, "stat layer %s", path);
        l->dev = st.st_dev;
        return 0;
}

void ovl_free(struct ovl *o)
{
        if (!o)
                return;
        ovl_prefetch_stop(o);
        node_table_free(o);
        for (int i = 0; i < o->n_layers; i++) {
                if (o->layers[i].fd >= 0)
                        close(o->layers[i].fd);
                free(o->layers[i].path);
        }
        free(o->layers);
        if (o->work_fd >= 0)
                close(o->work_fd);
        if (o->upper_root_fd >= 0)
                close(o->upper_root_fd);
        ovl_index_free(o);
        pthread_mutex_destroy(&o->tree_lock);
        free(o);
}

static void freeovlp(struct ovl **o) { ovl_free(*o); }

/* The work dir holds our temporaries in workdir/work and the index of lower
 * hard links in workdir/strata-index, like the kernel's overlayfs (which
 * keeps workdir/work and workdir/index). */
static int open_work(struct ovl *o, const char *workdir, struct err *e)
{
        _cleanup_close_ int wfd = open(workdir, O_DIRECTORY | O_CLOEXEC);
        if (wfd < 0)
                return err_set(e, errno, "workdir %s", workdir);
        if (mkdirat(wfd, "work", 0700) < 0 && errno != EEXIST)
                return err_set(e, errno, "workdir %s: mkdir work", workdir);
        o->work_fd = openat(wfd, "work", O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (o->work_fd < 0)
                return err_set(e, errno, "workdir %s/work", workdir);
        struct stat ws, us;
        if (fstat(o->work_fd, &ws) < 0 || fstat(o->upper_root_fd, &us) < 0)
                return err_set(e, errno, "workdir %s", workdir);
        if (ws.st_dev != us.st_dev)
                return err_setx(e, EXDEV, "workdir %s and upperdir are on different filesystems", workdir);
        return ovl_index_open(o, wfd, workdir, e);
}

void ovl_xnames_init(struct ovl_xnames *x, bool userxattr)
{
        x->prefix = userxattr ? "user.overlay." : "trusted.overlay.";
        x->plen = strlen(x->prefix);
        x->elen = (size_t)snprintf(x->escaped, sizeof x->escaped, "%soverlay.", x->prefix);
        snprintf(x->opaque, sizeof x->opaque, "%sopaque", x->prefix);
        snprintf(x->origin, sizeof x->origin, "%sstrata.origin", x->prefix);
        snprintf(x->metacopy, sizeof x->metacopy, "%smetacopy", x->prefix);
        snprintf(x->nlink, sizeof x->nlink, "%sstrata.nlink", x->prefix);
}

/* (a form not read has a NULL prefix and empty names) */
static bool has_prefix(const char *name, const char *prefix, size_t len)
{
        return len && prefix && !strncmp(name, prefix, len);
}

bool ovl_xattr_private(const struct ovl *o, const char *name)
{
        return (has_prefix(name, o->xn.prefix, o->xn.plen) && !has_prefix(name, o->xn.escaped, o->xn.elen)) ||
               (has_prefix(name, o->xalt.prefix, o->xalt.plen) &&
                !has_prefix(name, o->xalt.escaped, o->xalt.elen));
}

char *ovl_xattr_stored(const struct ovl *o, const char *name)
{
        const struct ovl_xnames *forms[] = { &o->xn, &o->xalt };
        for (size_t i = 0; i < ARRAY_SIZE(forms); i++)
                if (has_prefix(name, forms[i]->prefix, forms[i]->plen))
                        return xasprintf("%s%s", forms[i]->escaped, name + forms[i]->plen);
        return xstrdup(name);
}

char *ovl_xattr_shown(const struct ovl *o, const char *name)
{
        const struct ovl_xnames *forms[] = { &o->xn, &o->xalt };
        for (size_t i = 0; i < ARRAY_SIZE(forms); i++)
                if (has_prefix(name, forms[i]->escaped, forms[i]->elen))
                        return xasprintf("%s%s", forms[i]->prefix, name + forms[i]->elen);
        return NULL;
}

int ovl_new(const struct fs_config *c, struct ovl **out, struct err *e)
{
        _cleanup_(freeovlp) struct ovl *o = xcalloc(1, sizeof(*o));
        o->work_fd = -1;
        o->upper_root_fd = -1;
        o->index_fd = -1;
        o->pid = getpid();
        ovl_xnames_init(&o->xn, c->userxattr);
        if (!userns_rootless())         /* a user cannot read trusted.* at all */
                ovl_xnames_init(&o->xalt, !c->userxattr);
        o->euid = geteuid();
        o->egid = getegid();
        pthread_mutex_init(&o->tree_lock, NULL);
        pthread_mutex_init(&o->index_lock, NULL);
        o->has_upper = c->upper != NULL;
        o->read_only = !o->has_upper || c->read_only;
        o->n_layers = (int)c->n_lowers + (o->has_upper ? 1 : 0);
        if (c->n_lowers == 0 && !o->has_upper)
                return err_setx(e, EINVAL, "no lowerdir given");
        o->layers = xcalloc((size_t)o->n_layers, sizeof(*o->layers));
        for (int i = 0; i < o->n_layers; i++)
                o->layers[i].fd = -1;
        int r;
        if (o->has_upper) {
                r = open_layer(&o->layers[0], c->upper, e);
                if (r < 0)
                        return err_wrap(e, "upperdir");
                o->upper_root_fd = open(o->layers[0].path, O_DIRECTORY | O_CLOEXEC);
                if (o->upper_root_fd < 0)
                        return err_set(e, errno, "upperdir %s", c->upper);
                if (!c->work)
                        return err_setx(e, EINVAL, "upperdir needs a workdir");
                r = open_work(o, c->work, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < c->n_lowers; i++) {
                r = open_layer(&o->layers[ovl_first_lower(o) + (int)i], c->lowers[i], e);
                if (r < 0)
                        return err_wrap(e, "lowerdir");
        }
        /* st_ino is unique across layers only when they share a filesystem;
         * otherwise tag the number with the filesystem's index (xino-like). */
        bool one_fs = true;
        for (int i = 1; i < o->n_layers; i++)
                one_fs = one_fs && o->layers[i].dev == o->layers[0].dev;
        if (!one_fs) {
                for (int i = 0; i < o->n_layers; i++) {
                        int first = i;
                        for (int j = 0; j < i; j++)
                                if (o->layers[j].dev == o->layers[i].dev) {
                                        first = j;
                                        break;
                                }
                        o->layers[i].ino_tag = first == i ? (uint64_t)(i + 1) << 48 : o->layers[first].ino_tag;
                }
        }
        r = node_table_init(o);
        if (r < 0)
                return err_set(e, -r, "root");
        *out = TAKE_PTR(o);
        return 0;
}

/* Long paths: the rest after the directories opened on the way is shorter
 * than AT_TAIL; each step opens less than AT_STEP bytes of path (a name is
 * at most NAME_MAX, so a step always finds a slash). */
#define AT_TAIL 1024
#define AT_STEP 2048

int at_get(struct ovl *o, int layer, const char *path, struct at *a)
{
        const struct layer *l = &o->layers[layer];
        a->fd = l->fd;
        a->rel = path;
        a->own = -1;
        size_t len = strlen(path);
        if (len + l->path_len + 2 < PATH_MAX)
                return 0;
        char step[AT_STEP];
        const char *p = path;
        int fd = l->fd;
        while (len >= AT_TAIL) {
                const char *cut = NULL;
                for (size_t i = 0; i < AT_STEP - 1 && i < len; i++)
                        if (p[i] == '/')
                                cut = p + i;
                if (!cut) {
                        if (a->own >= 0)
                                close(TAKE_FD(a->own));
                        return -ENAMETOOLONG;
                }
                memcpy(step, p, (size_t)(cut - p));
                step[cut - p] = '\0';
                int next = openat(fd, step, O_PATH | O_DIRECTORY | O_CLOEXEC);
                int saved = errno;
                if (a->own >= 0)
                        close(TAKE_FD(a->own));
                if (next < 0)
                        return -saved;
                a->own = fd = next;
                len -= (size_t)(cut + 1 - p);
                p = cut + 1;
        }
        a->fd = fd;
        a->rel = p;
        return 0;
}

void at_put(struct at *a)
{
        if (a->own >= 0)
                close(TAKE_FD(a->own));
}

char *at_xpath(struct ovl *o, int layer, const struct at *a)
{
        if (a->own >= 0)
                return xasprintf("/proc/self/fd/%d/%s", a->own, a->rel);
        return layer_abspath(o, layer, a->rel);
}

int layer_stat(struct ovl *o, int layer, const char *path, struct stat *st)
{
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, layer, path, &a);
        if (r == 0 && fstatat(a.fd, a.rel, st, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        return r;
}

int layer_openat(struct ovl *o, int layer, const char *path, int flags, mode_t mode)
{
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, layer, path, &a);
        if (r < 0)
                return r;
        int fd = openat(a.fd, a.rel, flags | O_CLOEXEC, mode);
        return fd < 0 ? -errno : fd;
}

/* The xattr calls take no directory descriptor: at_xpath() stands in. */
#define WITH_XPATH(call)                                          \
        do {                                                      \
                _cleanup_at_ struct at a = AT_INIT;                         \
                int r_ = at_get(o, layer, path, &a);              \
                if (r_ < 0)                                       \
                        return r_;                                \
                _cleanup_free_ char *x = at_xpath(o, layer, &a);  \
                ssize_t n_ = (call);                              \
                return n_ < 0 ? -errno : n_;                      \
        } while (0)

ssize_t layer_getxattr(struct ovl *o, int layer, const char *path, const char *name, void *buf, size_t size)
{
        WITH_XPATH(lgetxattr(x, name, buf, size));
}

ssize_t layer_getxattr_either(struct ovl *o, int layer, const char *path, const char *name, const char *alt,
                              void *buf, size_t size)
{
        ssize_t n = layer_getxattr(o, layer, path, name, buf, size);
        if (n == -ENODATA && alt[0])
                n = layer_getxattr(o, layer, path, alt, buf, size);
        return n;
}

ssize_t layer_listxattr(struct ovl *o, int layer, const char *path, char *buf, size_t size)
{
        WITH_XPATH(llistxattr(x, buf, size));
}

int layer_setxattr(struct ovl *o, int layer, const char *path, const char *name, const void *v, size_t size,
                   int flags)
{
        WITH_XPATH(lsetxattr(x, name, v, size, flags));
}

int layer_removexattr(struct ovl *o, int layer, const char *path, const char *name)
{
        WITH_XPATH(lremovexattr(x, name));
}

static char *sibling_path(const char *path, const char *prefix)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return xasprintf("%s%s", prefix, path);
        return xasprintf("%.*s/%s%s", (int)(slash - path), path, prefix, slash + 1);
}

bool layer_has_oci_whiteout(struct ovl *o, int layer, const char *path)
{
        if (ovl_is_upper(o, layer))
                return false;
        _cleanup_free_ char *wh = sibling_path(path, OCI_WH_PREFIX);
        struct stat st;
        return layer_stat(o, layer, wh, &st) == 0;
}

char *layer_abspath(struct ovl *o, int layer, const char *path)
{
        if (!strcmp(path, "."))
                return xstrdup(o->layers[layer].path);
        return xasprintf("%s/%s", o->layers[layer].path, path);
}

bool layer_dir_opaque(struct ovl *o, int layer, const char *path)
{
        char v[2];
        ssize_t n = OVL_GETXATTR(o, layer, path, opaque, v, sizeof(v));
        if (n == 1 && v[0] == 'y')
                return true;
        if (ovl_is_upper(o, layer))
                return false;
        _cleanup_free_ char *opq = strcmp(path, ".") ? xasprintf("%s/" OCI_WH_OPAQUE, path) : xstrdup(OCI_WH_OPAQUE);
        struct stat st;
        return layer_stat(o, layer, opq, &st) == 0;
}

uint64_t ovl_ino(struct ovl *o, int layer, const struct stat *st)
{
        return (uint64_t)st->st_ino | o->layers[layer].ino_tag;
}

char *ovl_tmpname(struct ovl *o)
{
        unsigned long n = atomic_fetch_add(&o->tmp_seq, 1);
        return xasprintf("#strata-%d-%lu", (int)o->pid, n);
}
