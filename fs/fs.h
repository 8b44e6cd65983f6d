/* fs/ — the FUSE union filesystem: read-only lower layer directories stacked
 * under an optional writable upper directory, with the kernel overlayfs's
 * semantics and on-disk format (fs/README.md describes the design).
 *
 * fs/ knows layer PATHS, never the store.  Lower directories may carry
 * whiteouts in either form: overlayfs (a 0/0 character device; the
 * trusted.overlay.opaque=y xattr) or OCI (.wh.NAME, .wh..wh..opq).  The upper
 * directory is written in overlayfs form.
 *
 * Every function returns 0 or -errno with @e set, and never logs. */
#ifndef STRATA_FS_H
#define STRATA_FS_H

#include "util/util.h"

struct fs_config {
        char **lowers;            /* lower directories, topmost first (owned) */
        size_t n_lowers;
        char *upper;              /* writable layer, or NULL: read-only (owned) */
        char *work;               /* work dir on the upper's filesystem (owned) */
        bool read_only;           /* answer EROFS to every write (also "ro") */
        bool allow_other;         /* let other users in (FUSE allow_other) */
        bool writeback;           /* kernel writeback cache for the upper */
        bool debug;               /* libfuse request tracing on stderr */
        double timeout;           /* entry/attr cache seconds (default 86400) */
        char *fsname;             /* shown in /proc/mounts (default "strata") */
        char *mount_opts;         /* generic mount flags passed on: nosuid,nodev,... */
        unsigned max_threads;     /* worker threads (default 2 * CPUs, at least 4) */
        bool quiet_after_ready;   /* a daemon: stderr to /dev/null once mounted */
        bool no_splice;           /* "splice=0": copy data through user space */
        int readdirplus;          /* "readdirplus=yes|no|auto": 1 (or 0, the default), -1, 2 */
        bool open_handles;        /* "no_open=0": OPEN/RELEASE for files (the default is
                                   * no_open: the kernel skips them, I/O carries the flags) */
        bool no_prefetch;         /* "prefetch=0": no reading ahead of walks (fs/prefetch.c) */
        /* rootless (util/userns.h) */
        bool userxattr;           /* "userxattr": user.overlay.* xattrs (a rootless store),
                                   * not trusted.overlay.* */
        char *uidmapping;         /* "uidmapping=IN:OUT:N[:IN:OUT:N...]", fuse-overlayfs's: an */
        char *gidmapping;         /* id IN.. on disk is shown as OUT.., a caller's OUT.. acts
                                   * as IN..; an id outside the map is shown as 65534 */
        bool override_stat;       /* "xattr_permissions=2" (fuse-overlayfs's): an entry's
                                   * user.containers.override_stat "UID:GID:0MODE" is the
                                   * owner and mode shown (a store of one mapped id) */
        bool userns;              /* "userns" (strata's): once mounted (fusermount3, as the
                                   * user), serve from a new user namespace whose map is
                                   * uidmapping/gidmapping, as its root */
};

/* fs_config_free() - free the members; accepts a zeroed config. */
void fs_config_free(struct fs_config *c);

/* fs_parse_options() - apply one "-o" argument (comma separated, "\," escapes
 * a comma) the way fuse-overlayfs does: lowerdir=, upperdir=, workdir=, the
 * usual FUSE options, fuse-overlayfs's own ones (accepted, most ignored).
 * Unknown options are reported through @warn (once each, may be NULL) and
 * otherwise ignored, like fuse-overlayfs. */
int fs_parse_options(struct fs_config *c, const char *opts,
                     void (*warn)(const char *opt), struct err *e);

/* fs_config_argv() - @c as argv words ("lower=PATH", "ro", ...), NULL
 * terminated, for handing a configuration to another process (the lean
 * daemon, strata-fsd); free with fs_config_argv_free().
 * fs_config_from_argv() - the reverse, into a zeroed @c; -EINVAL on a word
 * it does not know. */
char **fs_config_argv(const struct fs_config *c);
void fs_config_argv_free(char **v);
int fs_config_from_argv(struct fs_config *c, char *const *v, struct err *e);

/* fs_check_config() - the layers exist and are directories, upper and work
 * come together and share a filesystem. */
int fs_check_config(const struct fs_config *c, struct err *e);

/* fs_serve() - mount the union at @mountpoint and serve it until it is
 * unmounted (or SIGTERM/SIGINT).  When @ready_fd >= 0, one byte '1' is
 * written to it once the mount is in place, and it is closed, success or
 * not (a daemonizing parent waits on it).  Returns 0 after a clean unmount. */
int fs_serve(const struct fs_config *c, const char *mountpoint, int ready_fd, struct err *e);

/* fs_kernel_mount() - mount @c's layers at @mountpoint with the kernel's
 * overlayfs instead (--driver kernel, fs/kmount.c): root only; the upper
 * layer it writes is the one fs_serve() reads (index=on, redirect_dir=off,
 * metacopy=off).  Returns at once: no daemon; fs_umount() unmounts it. */
int fs_kernel_mount(const struct fs_config *c, const char *mountpoint, struct err *e);

/* fs_umount() - unmount @mountpoint: umount2() as root (MNT_DETACH when the
 * daemon is gone, ENOTCONN), else fusermount3 -u (-z). */
int fs_umount(const char *mountpoint, struct err *e);

#endif
