/* cli/sandbox.h — run one command inside a root filesystem, the way
 * `docker run` does: new mount, pid, uts and ipc namespaces, /proc, a minimal
 * /dev, /sys read-only, the host's resolv.conf and hosts, pivot_root (chroot
 * as a fallback), then the command as pid 1 of its pid namespace.
 *
 * The caller owns the root filesystem (usually a mounted image) and must be
 * root.  Nothing here prints: failures come back as -errno with @e set. */
#ifndef STRATA_SANDBOX_H
#define STRATA_SANDBOX_H

#include "util/util.h"

/* docker's PATH for an image whose Env has none. */
#define SANDBOX_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A host path bound into the sandbox (docker's -v HOST:CTR[:ro]). */
struct sandbox_bind {
        const char *source;        /* absolute host path; a missing one is made a
                                    * directory, like docker */
        const char *target;        /* absolute path inside, created when missing */
        bool readonly;
};

/* A tmpfs mounted in the sandbox (docker's --tmpfs PATH[:OPTIONS]). */
struct sandbox_tmpfs {
        const char *target;        /* absolute, created when missing */
        unsigned long flags;       /* MS_NOSUID, MS_NOEXEC, MS_RDONLY... (MS_NODEV
                                    * is added unless privileged) */
        const char *data;          /* tmpfs options: "size=64m,mode=1777", or NULL */
};

struct sandbox_opts {
        const char *rootfs;        /* the root directory (required) */
        char *const *argv;         /* the command, NULL-terminated, argv[0] required;
                                    * argv[0] without '/' is looked up in env's PATH
                                    * (SANDBOX_DEFAULT_PATH when env has none) */
        char *const *env;          /* "K=V" strings, NULL-terminated, may be NULL.
                                    * HOSTNAME, HOME (from the rootfs's passwd, else
                                    * "/") and, with @tty, TERM=xterm are added when
                                    * missing, like docker. */
        const char *workdir;       /* absolute, created when missing; NULL = "/" */
        const char *user;          /* "USER[:GROUP]", each a number or a name looked
                                    * up in the ROOTFS's /etc/passwd and /etc/group
                                    * (never the host's); NULL = root */
        char *const *group_add;    /* more supplementary groups (docker's --group-add):
                                    * numbers, or names in the rootfs's /etc/group */
        size_t n_group_add;
        const char *hostname;      /* NULL = 12 random hex digits, like a docker id */
        bool tty;                  /* give the command a pty and relay it to our
                                    * stdin/stdout (raw mode when stdin is a tty) */
        bool interactive;          /* keep stdin; without it stdin is /dev/null */
        bool read_only;            /* the rootfs read-only (its mount points are
                                    * made first); /dev, /proc... stay as usual */
        const struct sandbox_bind *binds;      /* in order; may be NULL */
        size_t n_binds;
        const struct sandbox_tmpfs *tmpfs;     /* after the binds; may be NULL */
        size_t n_tmpfs;
        bool custom_caps;          /* @caps says which capabilities root keeps, */
        uint64_t caps;             /* bit N = capability N; else sandbox_default_caps() */
        bool privileged;           /* keep every capability and the kernel's knobs
                                    * (/proc/sys...) writable; else docker's
                                    * default capabilities and masked paths */
        bool new_net;              /* a network namespace of its own with only the
                                    * loopback up (--network none); else the host's */
        int join_pid;              /* > 0 (exec): join the namespaces of this process
                                    * instead (@rootfs is then its /proc/PID/root):
                                    * no mount is made, the hostname is its own;
                                    * binds, tmpfs, read_only are not used */
        void (*started)(pid_t pid, void *ctx);  /* hears the command's pid (as the host
                                    * sees it) once it has exec'd; may be NULL */
        void *started_ctx;
};

/* sandbox_default_caps() - docker's default capability set, as a mask. */
uint64_t sandbox_default_caps(void);
/* sandbox_cap_parse() - a capability name ("NET_ADMIN", "CAP_NET_ADMIN", any
 * case; "ALL" = every bit) as a mask.  -EINVAL for an unknown name. */
int sandbox_cap_parse(const char *name, uint64_t *bits);

/* sandbox_run() - run @o->argv in a fresh sandbox over @o->rootfs and wait.
 *
 * Returns 0 when the command ran: *@exit_status is its exit code, or 128+N
 * when signal N ended it (docker's convention).  Returns -errno with @e set
 * when it could not be started, and *@exit_status is docker's code for it:
 * 125 for a sandbox setup failure ("mount /proc: Operation not permitted"),
 * 126 when the command cannot be executed, 127 when it is not found.
 *
 * While it waits, SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to the
 * command (docker's --sig-proxy); note that pid 1 ignores the signals it has
 * no handler for.  The sandbox's mounts vanish with its mount namespace when
 * the command exits: the rootfs is left mounted, for the caller to unmount. */
int sandbox_run(const struct sandbox_opts *o, int *exit_status, struct err *e);

/* sandbox_resolve_user() - the uid, gid and supplementary groups that @user
 * ("USER[:GROUP]", numbers or names) means inside the directory tree opened as
 * @rootfd, reading its etc/passwd and etc/group with the paths resolved inside
 * it.  A number need not exist in passwd (gid then comes from passwd when the
 * uid is there, else 0); a name must.  @groups has room for @max_groups;
 * *@n_groups is set.  *@home (may be NULL) receives the passwd home directory
 * or NULL (caller frees).  -ENOENT with @e set for an unknown name. */
int sandbox_resolve_user(int rootfd, const char *user, uid_t *uid, gid_t *gid,
                         gid_t *groups, size_t max_groups, size_t *n_groups,
                         char **home, struct err *e);

#endif
