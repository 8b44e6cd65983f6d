/* Rootless strata: which verbs run in the store's user namespace, and what
 * an unpack into a rootless store may hold.  util/userns.h has the model. */
#include "cli.h"
#include "util/userns.h"

#include "store/store.h"
#include "unpack/unpack.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Verbs that stay in the user's own namespaces: they mount through
 * fusermount3 (which must run outside), make namespaces of their own, or
 * never touch the store's files. */
static const char *const outside[] = {
        "mount", "umount", "run", "unshare", "info", "login", "logout", "search",
        "version", "completion", "help", "__complete",
};

static bool stays_outside(const char *verb)
{
        for (size_t i = 0; i < ARRAY_SIZE(outside); i++)
                if (!strcmp(verb, outside[i]))
                        return true;
        return false;
}

/* The one line a user without a subordinate range reads. */
static void say_single(const struct idmap *m)
{
        fprintf(stderr, "strata: no subordinate id range for %s (%s): one id only; the image's owners "
                        "are kept in the %s xattr (add a range: usermod --add-subuids/--add-subgids)\n",
                m->user, m->uid_source[0] == 'n' ? m->uid_source : m->gid_source, OVERRIDE_STAT_XATTR);
}

int rootless_join(const char *verb, bool mount_ns, struct err *e)
{
        if (!userns_rootless() || !userns_in_initial())
                return 0;       /* root, or inside the namespace already */
        struct idmap m;
        int r = idmap_current(&m, e);
        if (r < 0)
                return r;
        if (m.single)
                say_single(&m);
        r = userns_enter(&m, mount_ns, e);
        return r < 0 ? err_wrap(e, "rootless %s", verb) : 0;
}

int rootless_enter_for(const char *verb, struct err *e)
{
        if (stays_outside(verb))
                return 0;
        return rootless_join(verb, false, e);
}

static struct idmap the_map;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

static void load_map(void)
{
        struct err e;
        if (idmap_current(&the_map, &e) < 0)
                memset(&the_map, 0, sizeof the_map);
}

void rootless_unpack_opts(const struct store *s, struct unpack_opts *o)
{
        o->ovl_prefix = s ? store_ovl_prefix(s) : NULL;
        if (!userns_rootless())
                return;
        pthread_once(&map_once, load_map);
        o->rootless = true;
        o->owner_xattr = the_map.single;
        o->max_id = the_map.single ? 0 : idmap_max_inside(the_map.uid, the_map.n_uid);
        uint32_t g = idmap_max_inside(the_map.gid, the_map.n_gid);
        if (!the_map.single && g < o->max_id)
                o->max_id = g;
}
