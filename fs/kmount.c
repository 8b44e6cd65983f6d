/* The kernel driver: the same layers, and the same writable layer, mounted
 * with the kernel's overlayfs instead of served over FUSE (strata mount
 * --driver kernel).
 *
 * What the writable layer holds must read the same under either driver
 * (strata diff, a kept --upper mounted again with FUSE), so the kernel's
 * options are the ones whose upper layer strata reads: index=on (lower hard
 * links stay one file; the kernel's own index sits in workdir/index next to
 * strata's workdir/strata-index), and redirect_dir=off and metacopy=off:
 * strata follows neither a redirect nor a metacopy file renamed away from
 * its lower path, and metacopy=on needs redirect_dir=on.  So renaming a
 * directory with lower parts answers EXDEV (mv copies it), and chmod of a
 * lower file copies its data up.  trusted.overlay.* xattrs, as strata's:
 * root only (userxattr would write user.overlay.*, which strata does not
 * read).
 *
 * The new mount API (fsopen/fsconfig) passes each lower layer as
 * "lowerdir+" (kernel 6.8), so no option string has to fit a page and no
 * path needs escaping; older kernels get one "lowerdir" joined by ':'. */
#include "fs/fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* The kernel's own words about a failed fsconfig, when it left some. */
static void kernel_says(int fsfd, char *buf, size_t size)
{
        buf[0] = '\0';
        char line[512];
        ssize_t n;
        while ((n = read(fsfd, line, sizeof(line) - 1)) > 0) {
                line[n] = '\0';
                if (line[0] == 'e' && line[1] == ' ') {
                        size_t len = strcspn(line + 2, "\n");
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, line + 2, len);
                        buf[len] = '\0';
                }
        }
}

static int set_string(int fsfd, const char *key, const char *value, const char *what, struct err *e)
{
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0) == 0)
                return 0;
        int saved = errno;
        char why[256];
        kernel_says(fsfd, why, sizeof(why));
        if (why[0])
                return err_setx(e, saved, "kernel overlayfs: %s=%s: %s", key, what ? what : value, why);
        return err_set(e, saved, "kernel overlayfs: %s=%s", key, what ? what : value);
}

static int set_lowers(int fsfd, const struct fs_config *c, struct err *e)
{
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", c->lowers[0], 0) == 0) {
                for (size_t i = 1; i < c->n_lowers; i++) {
                        int r = set_string(fsfd, "lowerdir+", c->lowers[i], NULL, e);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        char ignored[256];
        kernel_says(fsfd, ignored, sizeof(ignored));
        /* before 6.8: one option, ':' between the layers */
        size_t len = 1;
        for (size_t i = 0; i < c->n_lowers; i++) {
                if (strpbrk(c->lowers[i], ":,\\"))
                        return err_setx(e, EINVAL, "kernel overlayfs: layer %s: a ':' or ',' in a path needs "
                                        "a kernel with lowerdir+ (6.8)", c->lowers[i]);
                len += strlen(c->lowers[i]) + 1;
        }
        _cleanup_free_ char *all = xmalloc(len);
        all[0] = '\0';
        for (size_t i = 0; i < c->n_lowers; i++) {
                if (i)
                        strcat(all, ":");
                strcat(all, c->lowers[i]);
        }
        return set_string(fsfd, "lowerdir", all, "L1:L2...", e);
}

/* The generic flags fs_parse_options() passed on, as mount attributes. */
static unsigned mount_attrs(const struct fs_config *c)
{
        static const struct { const char *name; unsigned set, clear; } map[] = {
                { "nosuid", MOUNT_ATTR_NOSUID, 0 }, { "nodev", MOUNT_ATTR_NODEV, 0 },
                { "noexec", MOUNT_ATTR_NOEXEC, 0 }, { "noatime", MOUNT_ATTR_NOATIME, 0 },
                { "strictatime", MOUNT_ATTR_STRICTATIME, 0 }, { "nodiratime", MOUNT_ATTR_NODIRATIME, 0 },
        };
        unsigned attrs = c->read_only ? MOUNT_ATTR_RDONLY : 0;
        _cleanup_free_ char *opts = xstrdup(c->mount_opts ? c->mount_opts : "");
        char *save = NULL;
        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                        if (!strcmp(o, map[i].name))
                                attrs |= map[i].set;
        return attrs;
}

int fs_kernel_mount(const struct fs_config *c, const char *mountpoint, struct err *e)
{
        if (geteuid() != 0)
                return err_setx(e, EPERM, "--driver kernel needs root (the kernel's overlayfs with "
                                "trusted.overlay xattrs); the default driver is fuse");
        bool upper = c->upper && !c->read_only;
        if (c->n_lowers == 0)
                return err_setx(e, EINVAL, "no lowerdir given");
        if (!upper && c->n_lowers < 2)
                return err_setx(e, EINVAL, "the kernel's overlayfs needs two lower layers when there is "
                                "no upper one (add an empty directory as the second)");
        _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return err_set(e, errno, "kernel overlayfs");
        int r = set_string(fsfd, "source", c->fsname ? c->fsname : "strata", NULL, e);
        if (r == 0)
                r = set_lowers(fsfd, c, e);
        if (r == 0 && upper)
                r = set_string(fsfd, "upperdir", c->upper, NULL, e);
        if (r == 0 && upper)
                r = set_string(fsfd, "workdir", c->work, NULL, e);
        /* the upper layer strata reads (see the top of this file) */
        if (r == 0 && upper)
                r = set_string(fsfd, "index", "on", NULL, e);
        if (r == 0)
                r = set_string(fsfd, "redirect_dir", "off", NULL, e);
        if (r == 0)
                r = set_string(fsfd, "metacopy", "off", NULL, e);
        if (r < 0)
                return r;
        if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                int saved = errno;
                char why[256];
                kernel_says(fsfd, why, sizeof(why));
                return why[0] ? err_setx(e, saved, "kernel overlayfs: %s", why)
                              : err_set(e, saved, "kernel overlayfs");
        }
        _cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, mount_attrs(c));
        if (mfd < 0)
                return err_set(e, errno, "kernel overlayfs: fsmount");
        if (move_mount(mfd, "", AT_FDCWD, mountpoint, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return err_set(e, errno, "mount %s", mountpoint);
        return 0;
}
