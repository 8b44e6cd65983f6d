/* The node table: one node per visible name, hashed by (parent, name), with
 * the lifetime rules of invariant (1).  Every field named "tree_lock
 * protects" in struct node is read and written here under o->tree_lock. */
#include "fs-internal.h"

#include <string.h>

static size_t hash_key(const struct node *parent, const char *name, size_t size)
{
        uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                h ^= *p;
                h *= 1099511628211ULL;
        }
        return (size_t)(h ^ (h >> 29)) & (size - 1);
}

struct node *node_new(uint64_t ino, mode_t type)
{
        struct node *n = xcalloc(1, sizeof(*n));
        n->ino = ino;
        n->type = type & S_IFMT;
        n->orphan_fd = -1;
        n->wfd = -1;
        n->mc_layer = -1;
        pthread_mutex_init(&n->lock, NULL);
        return n;
}

static void linked_remove(struct ovl *o, struct node *n)
{
        if (!n->linked)
                return;
        if (n->mprev)
                n->mprev->mnext = n->mnext;
        else
                o->linked = n->mnext;
        if (n->mnext)
                n->mnext->mprev = n->mprev;
        n->mnext = n->mprev = NULL;
        n->linked = false;
}

void node_set_linked(struct ovl *o, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        if (!n->linked) {
                n->mprev = NULL;
                n->mnext = o->linked;
                if (o->linked)
                        o->linked->mprev = n;
                o->linked = n;
                n->linked = true;
        }
        pthread_mutex_unlock(&o->tree_lock);
}

void ovl_data_changed(struct ovl *o, struct node *n)
{
        struct node *stack[16], **others = stack;
        size_t count = 0, cap = ARRAY_SIZE(stack);
        if (!atomic_load(&n->linked))
                return;         /* the common case: one name, no lock */
        pthread_mutex_lock(&o->tree_lock);
        if (!n->linked) {
                pthread_mutex_unlock(&o->tree_lock);
                return;
        }
        for (struct node *m = o->linked; m; m = m->mnext) {
                if (m == n || m->ino != n->ino || m->nlookup == 0)
                        continue;
                /* a name not open has no pages to drop: its next open does
                 * (no keep_cache for several names) */
                if (!o->keep_orphans && atomic_load(&m->nopen) == 0)
                        continue;
                if (count == cap) {
                        cap *= 2;
                        struct node **bigger = xmalloc(cap * sizeof(*bigger));
                        memcpy(bigger, others, count * sizeof(*others));
                        if (others != stack)
                                free(others);
                        others = bigger;
                }
                m->refs++;
                others[count++] = m;
        }
        pthread_mutex_unlock(&o->tree_lock);
        for (size_t i = 0; i < count; i++) {
                if (o->inval)
                        o->inval(o->inval_ctx, others[i], true);
                node_release(o, others[i]);
        }
        if (others != stack)
                free(others);
}

static void node_free(struct node *n)
{
        if (n->orphan_fd >= 0)
                close(n->orphan_fd);
        if (n->wfd >= 0)
                close(n->wfd);
        dir_snap_put(n->snap);
        pthread_mutex_destroy(&n->lock);
        free(n->name);
        free(n);
}

int node_table_init(struct ovl *o)
{
        o->table_size = 1024;
        o->table = xcalloc(o->table_size, sizeof(*o->table));
        int top = o->n_layers - 1;
        struct stat st;
        int r = -ENOENT;
        /* the root's number and type come from the topmost layer */
        for (int i = 0; i < o->n_layers; i++) {
                r = layer_stat(o, i, ".", &st);
                if (r == 0) {
                        top = i;
                        break;
                }
        }
        if (r < 0)
                return r;
        o->root = node_new(ovl_ino(o, top, &st), S_IFDIR);
        o->root->name = xstrdup("");
        o->root->nlookup = 1;
        atomic_store(&o->root->layer, 0);
        o->root->ndirs = o->n_layers;
        o->root->bottom = o->n_layers - 1;
        /* an opaque lower root hides what is below it */
        for (int i = 0; i < o->n_layers - 1; i++)
                if (layer_dir_opaque(o, i, ".")) {
                        o->root->bottom = i;
                        o->root->ndirs = i + 1;
                        break;
                }
        return 0;
}

void node_table_free(struct ovl *o)
{
        if (!o->table)
                return;
        for (size_t i = 0; i < o->table_size; i++) {
                struct node *n = o->table[i];
                while (n) {
                        struct node *next = n->hnext;
                        node_free(n);
                        n = next;
                }
        }
        free(o->table);
        o->table = NULL;
        while (o->limbo) {
                struct node *n = o->limbo;
                o->limbo = n->lnext;
                node_free(n);
        }
        if (o->root)
                node_free(o->root);
        o->root = NULL;
}

static void table_grow(struct ovl *o)
{
        size_t nsize = o->table_size * 2;
        struct node **nt = xcalloc(nsize, sizeof(*nt));
        for (size_t i = 0; i < o->table_size; i++) {
                struct node *n = o->table[i];
                while (n) {
                        struct node *next = n->hnext;
                        size_t h = hash_key(n->parent, n->name, nsize);
                        n->hnext = nt[h];
                        nt[h] = n;
                        n = next;
                }
        }
        free(o->table);
        o->table = nt;
        o->table_size = nsize;
}

static struct node *table_find(struct ovl *o, struct node *parent, const char *name)
{
        for (struct node *n = o->table[hash_key(parent, name, o->table_size)]; n; n = n->hnext)
                if (n->parent == parent && !strcmp(n->name, name))
                        return n;
        return NULL;
}

static void limbo_add(struct ovl *o, struct node *n)
{
        n->lprev = NULL;
        n->lnext = o->limbo;
        if (o->limbo)
                o->limbo->lprev = n;
        o->limbo = n;
}

static void limbo_remove(struct ovl *o, struct node *n)
{
        if (n->lprev)
                n->lprev->lnext = n->lnext;
        else
                o->limbo = n->lnext;
        if (n->lnext)
                n->lnext->lprev = n->lprev;
        n->lnext = n->lprev = NULL;
}

/* table_remove() - unhash @n; it waits on the limbo list until freed. */
static void table_remove(struct ovl *o, struct node *n)
{
        struct node **pp = &o->table[hash_key(n->parent, n->name, o->table_size)];
        while (*pp && *pp != n)
                pp = &(*pp)->hnext;
        if (*pp)
                *pp = n->hnext;
        n->hnext = NULL;
        n->hashed = false;
        o->table_count--;
        limbo_add(o, n);
}

static void table_add(struct ovl *o, struct node *n)
{
        if (o->table_count >= o->table_size)
                table_grow(o);
        size_t h = hash_key(n->parent, n->name, o->table_size);
        n->hnext = o->table[h];
        o->table[h] = n;
        n->hashed = true;
        o->table_count++;
}

/* Drop nodes nobody holds, walking up: a freed child releases its parent.
 * Called with tree_lock held. */
static void maybe_free_locked(struct ovl *o, struct node *n)
{
        while (n && n != o->root && n->nlookup == 0 && n->refs == 0) {
                struct node *parent = n->parent;
                if (n->hashed)
                        table_remove(o, n);
                limbo_remove(o, n);
                linked_remove(o, n);
                node_free(n);
                n = parent;
                if (n)
                        n->refs--;
        }
}

struct node *node_find_lookup(struct ovl *o, struct node *parent, const char *name)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *n = table_find(o, parent, name);
        if (n)
                n->nlookup++;
        pthread_mutex_unlock(&o->tree_lock);
        return n;
}

struct node *node_find_hold(struct ovl *o, struct node *parent, const char *name)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *n = table_find(o, parent, name);
        if (n)
                n->refs++;
        pthread_mutex_unlock(&o->tree_lock);
        return n;
}

bool node_peek_ino(struct ovl *o, struct node *parent, const char *name, uint64_t *ino)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *n = table_find(o, parent, name);
        if (n)
                *ino = n->ino;
        pthread_mutex_unlock(&o->tree_lock);
        return n != NULL;
}

struct node *node_insert_lookup(struct ovl *o, struct node *parent, const char *name, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *old = table_find(o, parent, name);
        if (old) {
                old->nlookup++;
                pthread_mutex_unlock(&o->tree_lock);
                node_free(n);
                return old;
        }
        n->parent = parent;
        n->name = xstrdup(name);
        n->nlookup = 1;
        parent->refs++;
        table_add(o, n);
        pthread_mutex_unlock(&o->tree_lock);
        return n;
}

void node_forget(struct ovl *o, struct node *n, uint64_t nlookup)
{
        pthread_mutex_lock(&o->tree_lock);
        n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
        maybe_free_locked(o, n);
        pthread_mutex_unlock(&o->tree_lock);
}

void node_hold(struct ovl *o, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        n->refs++;
        pthread_mutex_unlock(&o->tree_lock);
}

void node_release(struct ovl *o, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        n->refs--;
        maybe_free_locked(o, n);
        pthread_mutex_unlock(&o->tree_lock);
}

void node_unhash(struct ovl *o, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        if (n->hashed)
                table_remove(o, n);
        pthread_mutex_unlock(&o->tree_lock);
}

void node_move(struct ovl *o, struct node *n, struct node *parent, const char *name)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *victim = table_find(o, parent, name);
        if (victim && victim != n)
                table_remove(o, victim);
        if (n->hashed)
                table_remove(o, n);
        limbo_remove(o, n);
        struct node *oldparent = n->parent;
        parent->refs++;
        n->parent = parent;
        free(n->name);
        n->name = xstrdup(name);
        table_add(o, n);
        oldparent->refs--;
        maybe_free_locked(o, oldparent);
        pthread_mutex_unlock(&o->tree_lock);
}

char *node_path(struct ovl *o, struct node *n)
{
        if (n == o->root)
                return xstrdup(".");
        pthread_mutex_lock(&o->tree_lock);
        size_t len = 0;
        for (struct node *p = n; p != o->root && p; p = p->parent)
                len += strlen(p->name) + 1;
        char *buf = xmalloc(len);
        size_t end = len - 1;
        buf[end] = '\0';
        for (struct node *p = n; p != o->root && p; p = p->parent) {
                size_t l = strlen(p->name);
                end -= l;
                memcpy(buf + end, p->name, l);
                if (end > 0)
                        buf[--end] = '/';
        }
        pthread_mutex_unlock(&o->tree_lock);
        return buf;
}

char *child_path(struct ovl *o, struct node *parent, const char *name)
{
        if (parent == o->root)
                return xstrdup(name);
        _cleanup_free_ char *pp = node_path(o, parent);
        return xasprintf("%s/%s", pp, name);
}
