/* Rootless strata: which verbs run in the store's user namespace, and what
 * an unpack into a rootless store may hold.  util/userns.h has the model. */
#include "cli.h"
#include "util/userns.h"

#include "store/store.h"
#include "unpack/unpack.h"

#include "fs/fs.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static struct idmap the_map;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

static struct idmap entered_map;      /* what rootless_join() entered with */
static bool entered;

static void load_map(void)
{
        struct err e;
        if (idmap_current(&the_map, &e) < 0)
                memset(&the_map, 0, sizeof the_map);
}

/* Verbs that stay in the user's own namespaces: they mount through
 * fusermount3 (which must run outside) or never touch the store's files. */
static const char *const outside[] = {
        "mount", "umount", "unshare", "login", "logout", "search", "exec",
        "version", "completion", "help", "__complete",
};
/* Verbs that mount (FUSE as the namespace's root) in a mount namespace of
 * their own, as podman does: the container's view is theirs alone. */
static const char *const own_mounts[] = { "run", "build", "container", "rm", "start" };

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
        if (r < 0)
                return err_wrap(e, "rootless %s", verb);
        entered_map = m;
        entered = true;
        return 0;
}

int rootless_enter_for(const char *verb, struct err *e)
{
        if (stays_outside(verb))
                return 0;
        bool mount_ns = false;
        for (size_t i = 0; i < ARRAY_SIZE(own_mounts); i++)
                mount_ns = mount_ns || !strcmp(verb, own_mounts[i]);
        return rootless_join(verb, mount_ns, e);
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

void rootless_fs_config(const struct store *s, struct fs_config *c)
{
        if (!userns_rootless())
                return;
        c->userxattr = !strcmp(store_ovl_prefix(s), OVL_PREFIX_USER);
        pthread_once(&map_once, load_map);
        /* one id: the owners and modes the unpacker kept in their xattr
         * are shown where the map can show them: the modes, and the owner
         * 0 (fs/fuse-ops.c's show_ids(); no namespace of one id can show
         * owner 33, and 65534 would lock the user out of its own files) */
        c->override_stat = c->override_stat || the_map.single;
        if (!userns_in_initial()) {
                /* in the store's namespace already: the ids are as on disk,
                 * and with one id the map says which one the kernel can show */
                if (the_map.single && !c->uidmapping && !c->gidmapping) {
                        c->uidmapping = xstrdup("0:0:1");
                        c->gidmapping = xstrdup("0:0:1");
                }
                return;
        }
        char buf[IDMAP_TEXT_MAX];
        idmap_format(the_map.uid, the_map.n_uid, buf, sizeof buf);
        free(c->uidmapping);
        c->uidmapping = xstrdup(buf);
        idmap_format(the_map.gid, the_map.n_gid, buf, sizeof buf);
        free(c->gidmapping);
        c->gidmapping = xstrdup(buf);
        c->userns = true;
}

int rootless_call(const char *verb, int (*fn)(void *ctx, struct err *e), void *ctx, struct err *e)
{
        if (!userns_rootless() || !userns_in_initial())
                return fn(ctx, e);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return err_set(e, errno, "pipe");
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return err_set(e, errno, "fork");
        }
        if (pid == 0) {
                close(p[0]);
                int r = rootless_join(verb, false, e);
                if (r == 0)
                        r = fn(ctx, e);
                if (r < 0)
                        (void)!write(p[1], e->msg, strlen(e->msg));
                _exit(r < 0 ? 1 : 0);
        }
        close(p[1]);
        char msg[ERR_MSG_MAX];
        ssize_t n = read_full(p[0], msg, sizeof msg - 1);
        close(p[0]);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
        msg[n > 0 ? n : 0] = '\0';
        return err_setx(e, EIO, "%s", n > 0 ? msg : "the user namespace's helper failed");
}

int rootless_join_run(pid_t pid, struct err *e)
{
        if (!userns_rootless() || !userns_in_initial())
                return 0;
        int r = userns_join(pid, e);
        if (r < 0)
                return r;
        /* the maps are the store's (the run was made in a namespace like it) */
        pthread_once(&map_once, load_map);
        entered_map = the_map;
        entered = true;
        return 0;
}

const struct idmap *rootless_map(void)
{
        if (entered)
                return &entered_map;
        pthread_once(&map_once, load_map);
        return &the_map;
}
