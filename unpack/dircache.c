/* The parent-directory cache of an extraction (see unpack-internal.h).
 *
 * A layer's entries do not come grouped by directory: a build that writes
 * many packages at once, or a tar made from a hash-ordered walk, alternates
 * between directories, and a one-entry cache then resolves the parent of
 * nearly every entry again (openat2 + fstat + close: three of the seven
 * system calls of a small file).  A set-associative table of a few hundred
 * entries keeps a layer's working set of directories.  The layers of an
 * image extract side by side, up to 16 at once: what all the caches hold
 * together stays under a quarter of RLIMIT_NOFILE (256 fds with the usual
 * 1024). */
#include "unpack-internal.h"

#include <string.h>
#include <sys/resource.h>

/* fds held by every cache of the process, and the ceiling on them */
static long held, budget = 1024;

struct unpack_dircache_slot {
        uint64_t hash;
        uint64_t used;            /* tick of the last use: LRU within the set */
        char *path;
        size_t len;
        struct unpack_pdir *d;
};

void unpack_pdir_ref(struct unpack_pdir *d)
{
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
}

void unpack_pdir_unref(struct unpack_pdir *d)
{
        if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL))
                return;
        close(d->fd);
        free(d);
}

void unpack_dircache_init(struct unpack_dircache *c)
{
        memset(c, 0, sizeof *c);
        /* 256 slots each; the fds held by all the caches of the process
         * stay under a quarter of the fd limit (see unpack_dircache_put()) */
        struct rlimit rl;
        long b = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)(rl.rlim_cur / 4) : 1024;
        __atomic_store_n(&budget, b > 8 ? b : 8, __ATOMIC_RELAXED);
        c->ways = 8;
        c->sets = 32;
        c->slot = xcalloc((size_t)c->sets * c->ways, sizeof *c->slot);
}

static struct unpack_dircache_slot *set_of(struct unpack_dircache *c, uint64_t h)
{
        return &c->slot[(size_t)((h >> 7) % c->sets) * c->ways];
}

struct unpack_pdir *unpack_dircache_get(struct unpack_dircache *c, const char *path, size_t len)
{
        uint64_t h = unpack_hash(path, len);
        struct unpack_dircache_slot *s = set_of(c, h);
        for (unsigned i = 0; i < c->ways; i++)
                if (s[i].d && s[i].hash == h && s[i].len == len && !memcmp(s[i].path, path, len)) {
                        s[i].used = ++c->tick;
                        c->hits++;
                        return s[i].d;
                }
        c->misses++;
        return NULL;
}

static void slot_drop(struct unpack_dircache_slot *s)
{
        if (s->d)
                __atomic_sub_fetch(&held, 1, __ATOMIC_RELAXED);
        unpack_pdir_unref(s->d);
        free(s->path);
        memset(s, 0, sizeof *s);
}

struct unpack_pdir *unpack_dircache_put(struct unpack_dircache *c, const char *path, size_t len, int fd,
                                        bool sgid, gid_t gid)
{
        uint64_t h = unpack_hash(path, len);
        struct unpack_dircache_slot *s = set_of(c, h), *victim = &s[0];
        for (unsigned i = 0; i < c->ways; i++) {
                if (!s[i].d) {
                        victim = &s[i];
                        break;
                }
                if (s[i].used < victim->used)
                        victim = &s[i];
        }
        if (!victim->d && __atomic_load_n(&held, __ATOMIC_RELAXED) >= __atomic_load_n(&budget, __ATOMIC_RELAXED)) {
                /* at the ceiling: reuse this cache's least recently used slot,
                 * in the set if it has one, else anywhere */
                struct unpack_dircache_slot *lru = NULL;
                for (unsigned i = 0; i < c->ways; i++)
                        if (s[i].d && (!lru || s[i].used < lru->used))
                                lru = &s[i];
                for (size_t i = 0; !lru && i < (size_t)c->sets * c->ways; i++)
                        if (c->slot[i].d && (!lru || c->slot[i].used < lru->used))
                                lru = &c->slot[i];
                if (lru)
                        slot_drop(lru);   /* maybe in another set: the entry goes in its own */
        }
        slot_drop(victim);
        __atomic_add_fetch(&held, 1, __ATOMIC_RELAXED);
        struct unpack_pdir *d = xmalloc(sizeof *d);
        *d = (struct unpack_pdir){ .fd = fd, .sgid = sgid, .gid = gid, .refs = 1 };
        *victim = (struct unpack_dircache_slot){ .hash = h, .used = ++c->tick, .path = xstrndup(path, len),
                                                 .len = len, .d = d };
        return d;
}

void unpack_dircache_clear(struct unpack_dircache *c)
{
        for (size_t i = 0; i < (size_t)c->sets * c->ways; i++)
                if (c->slot[i].d)
                        slot_drop(&c->slot[i]);
}

void unpack_dircache_free(struct unpack_dircache *c)
{
        if (!c->slot)
                return;
        unpack_dircache_clear(c);
        free(c->slot);
        c->slot = NULL;
}
