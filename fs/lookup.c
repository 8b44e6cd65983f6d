/* Lookup: what one name in a merged directory is, probing the directory's
 * merged layers top-down (invariant 3). */
#include "fs-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

/* Probe @path in the layers @from..@to of a directory.  Whiteouts (either
 * form) and OCI marker names stop the search. */
static int probe_path(struct ovl *o, const char *path, const char *name, int from, int to, struct probe *p)
{
        memset(p, 0, sizeof(*p));
        p->layer = -1;
        bool oci_name = !strncmp(name, OCI_WH_PREFIX, strlen(OCI_WH_PREFIX));
        int i = from;
        struct stat st;
        /* the topmost entry */
        for (; i <= to; i++) {
                if (oci_name && !ovl_is_upper(o, i))
                        return 0;               /* OCI markers are never names */
                int r = layer_stat(o, i, path, &st);
                if (r == 0) {
                        if (st_is_whiteout(&st)) {
                                p->hidden_below = true;
                                return 0;
                        }
                        break;
                }
                if (r != -ENOENT && r != -ENOTDIR)
                        return r;
                if (i < to && layer_has_oci_whiteout(o, i, path)) {
                        p->hidden_below = true;
                        return 0;
                }
        }
        if (i > to)
                return 0;
        p->layer = i;
        p->st = st;
        p->bottom = i;
        p->ndirs = 1;
        p->has_lower = !ovl_is_upper(o, i);
        bool merging = S_ISDIR(st.st_mode) && i < to && !layer_dir_opaque(o, i, path);
        /* below it: more directories to merge, and whether a lower layer
         * holds the name at all (then removing it needs a whiteout) */
        for (int j = i + 1; j <= to; j++) {
                if (!merging && p->has_lower)
                        break;
                struct stat ls;
                int r = layer_stat(o, j, path, &ls);
                if (r == 0) {
                        if (st_is_whiteout(&ls))
                                break;
                        p->has_lower = true;
                        if (!p->lower)
                                p->lower = j;
                        if (!merging || !S_ISDIR(ls.st_mode))
                                break;
                        p->bottom = j;
                        p->ndirs++;
                        if (layer_dir_opaque(o, j, path))
                                break;
                        continue;
                }
                if (r != -ENOENT && r != -ENOTDIR)
                        return r;
                if (j < to && layer_has_oci_whiteout(o, j, path))
                        break;
        }
        if (!merging)
                p->bottom = i;
        /* a directory merges the layers down to its bottom; ones in between
         * that lack it are skipped by the lookups (ENOENT) */
        return 0;
}

int ovl_probe(struct ovl *o, struct node *parent, const char *name, struct probe *p)
{
        _cleanup_free_ char *path = child_path(o, parent, name);
        pthread_mutex_lock(&parent->lock);
        int from = node_layer(parent), to = parent->bottom;
        pthread_mutex_unlock(&parent->lock);
        return probe_path(o, path, name, from, to, p);
}

/* The number a copied-up entry had before (invariant 4). */
static uint64_t probe_ino(struct ovl *o, const char *path, const struct probe *p)
{
        if (ovl_is_upper(o, p->layer) && !p->fresh) {
                char v[32];
                ssize_t n = OVL_GETXATTR(o, 0, path, origin, v, sizeof(v) - 1);
                if (n > 0) {
                        v[n] = '\0';
                        char *end;
                        unsigned long long ino = strtoull(v, &end, 10);
                        if (*end == '\0' && ino)
                                return ino;
                }
        }
        return ovl_ino(o, p->layer, &p->st);
}

void ovl_fix_stat(struct ovl *o, struct node *n, struct stat *st)
{
        st->st_ino = n->ino;
        if (S_ISREG(st->st_mode) && st->st_nlink > 1 && !atomic_load(&n->linked))
                node_set_linked(o, n);
        /* like overlayfs: a merged directory's link count is unknown; 1
         * tells find(1) not to count on it */
        if (S_ISDIR(st->st_mode) && n->ndirs > 1)
                st->st_nlink = 1;
}

int ovl_lookup_known(struct ovl *o, struct node *parent, const char *name, struct node **out, struct stat *st)
{
        struct node *n = node_find_lookup(o, parent, name);
        if (!n)
                return 0;
        int r = ovl_getattr(o, n, -1, st);
        if (r < 0) {
                node_forget(o, n, 1);
                return r;
        }
        *out = n;
        return 1;
}

int ovl_lookup(struct ovl *o, struct node *parent, const char *name, struct node **out, struct stat *st)
{
        if (strlen(name) > NAME_MAX)
                return -ENAMETOOLONG;
        int known = ovl_lookup_known(o, parent, name, out, st);
        if (known != 0)
                return known < 0 ? known : 0;
        _cleanup_free_ char *path = child_path(o, parent, name);
        pthread_mutex_lock(&parent->lock);
        int from = node_layer(parent), to = parent->bottom;
        pthread_mutex_unlock(&parent->lock);
        struct probe p;
        int r = probe_path(o, path, name, from, to, &p);
        if (r < 0)
                return r;
        if (p.layer < 0)
                return -ENOENT;
        *out = lookup_finish(o, parent, name, path, &p, st);
        return 0;
}

/* An upper regular file marked metacopy takes its data from the next lower
 * layer holding the name (invariant 7): that layer, or -1. */
static int probe_metacopy(struct ovl *o, const char *path, const struct probe *p)
{
        if (!ovl_is_upper(o, p->layer) || p->fresh || !S_ISREG(p->st.st_mode) || p->lower <= 0)
                return -1;
        if (OVL_GETXATTR(o, 0, path, metacopy, NULL, 0) < 0)
                return -1;
        struct stat ls;
        if (layer_stat(o, p->lower, path, &ls) < 0 || !S_ISREG(ls.st_mode))
                return -1;
        return p->lower;
}

void ovl_fix_metacopy_stat(struct ovl *o, struct node *n, const char *path, struct stat *st)
{
        int mc = atomic_load(&n->mc_layer);
        struct stat ls;
        if (mc >= 0 && layer_stat(o, mc, path, &ls) == 0)
                st->st_blocks = ls.st_blocks;
}

struct node *lookup_finish(struct ovl *o, struct node *parent, const char *name, const char *path,
                           const struct probe *p, struct stat *st)
{
        struct node *n = node_new(probe_ino(o, path, p), p->st.st_mode);
        atomic_store(&n->layer, p->layer);
        atomic_store(&n->mc_layer, probe_metacopy(o, path, p));
        n->bottom = p->bottom;
        n->ndirs = p->ndirs;
        n->has_lower = p->has_lower;
        n->lower_links = !ovl_is_upper(o, p->layer) && S_ISREG(p->st.st_mode) && p->st.st_nlink > 1;
        n = node_insert_lookup(o, parent, name, n);
        *st = p->st;
        /* another name of a lower hard link was copied up (invariant 8), or
         * this node was found before and linked up since */
        if (ovl_indexed(o, n) && ovl_index_follow(o, n) == 0 && node_layer(n) == 0 &&
            ovl_getattr(o, n, -1, st) == 0)
                return n;
        if (ovl_is_upper(o, p->layer))
                ovl_index_fix_nlink(o, path, st);
        ovl_fix_stat(o, n, st);
        ovl_fix_metacopy_stat(o, n, path, st);
        return n;
}

int ovl_getattr(struct ovl *o, struct node *n, int fd, struct stat *st)
{
        int r = ovl_index_follow(o, n);
        if (r < 0)
                return r;
        if (atomic_load(&n->mc_layer) >= 0)
                fd = -1;        /* a handle's descriptor is the lower data's, the metadata is above */
        bool orphan = fd < 0 && n->orphan_fd >= 0;
        if (orphan)     /* its name is gone: the data's own descriptor */
                fd = n->wfd >= 0 ? n->wfd : n->orphan_fd;
        if (orphan)
                r = fstat(fd, st) < 0 ? -errno : 0;
        if (r == 0 && orphan)
                st->st_nlink = 0;       /* a lower file keeps its lower name: not ours */
        else {
                _cleanup_free_ char *path = node_path(o, n);
                int layer = node_layer(n);
                r = layer_stat(o, layer, path, st);
                if (r == 0 && layer == 0)
                        ovl_index_fix_nlink(o, path, st);
                if (r == 0)
                        ovl_fix_metacopy_stat(o, n, path, st);
        }
        if (r < 0)
                return r;
        /* the name was just removed (a whiteout took its place) */
        if (st_is_whiteout(st) && !S_ISCHR(n->type))
                return -ENOENT;
        ovl_fix_stat(o, n, st);
        return 0;
}
