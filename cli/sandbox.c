/* cli/sandbox.c — the `strata run` sandbox: see sandbox.h.
 *
 * The parent prepares everything (user, environment, the paths to try for
 * the command, the hostname) and then clones a child with new
 * mount, pid, uts and ipc namespaces.  The child is a raw clone of a process
 * that may run other threads, so it never allocates: it only makes system
 * calls on what the parent prepared.  It sets the sandbox up over the rootfs,
 * pivots into it and execs the command, which so becomes pid 1.
 *
 * SANDBOX INVARIANTS
 * (1) Every path inside the rootfs is resolved by the kernel inside it
 *     (openat2 RESOLVE_IN_ROOT) and mounted on through /proc/self/fd/N: an
 *     image's symlink (/dev -> /host/path) cannot send a mount outside it.
 * (2) The child reports a failure before exec through a close-on-exec pipe
 *     (one struct report), then exits; the parent reads EOF once the exec
 *     happened.  So a failure is one line, printed once, by the caller.
 * (3) The mounts are made in the child's private mount namespace: none of
 *     them is seen by the host, and all vanish with the command.
 * (4) The parent blocks the signals it handles (signalfd) before the clone;
 *     the child restores the default dispositions and an empty mask.
 * (5) With a tty the pty comes from the sandbox's own /dev/pts; the child
 *     passes its master to the parent (SCM_RIGHTS), which relays it.
 * (6) Unless privileged, root in the sandbox keeps docker's default
 *     capabilities only, and /proc/sys & co are read-only or masked. */
#include "sandbox.h"
#include "util/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <linux/openat2.h>
#include <poll.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#define MAX_GROUPS 64
#define ACCOUNT_FILE_MAX (4u << 20)     /* /etc/passwd, /etc/group ceiling */

enum { STAGE_SETUP = 1, STAGE_EXEC = 2 };

/* What the child sends before it dies (invariant 2). */
struct report {
        int stage;
        int err;               /* positive errno */
        int complete;          /* @what is the whole message: no strerror */
        char what[512];
};

/* Everything the child needs, made by the parent. */
struct plan {
        const struct sandbox_opts *o;
        char **envp;
        char **cands;          /* the paths to exec, in order */
        bool searched;         /* argv[0] was looked up in PATH */
        uid_t uid;
        gid_t gid;
        gid_t groups[MAX_GROUPS];
        size_t n_groups;
        bool no_setgroups;     /* a user namespace of one id: setgroups is denied */
        bool tty_group;        /* gid 5 (tty) exists here: devpts's gid=5 */
        char hostname[65];
        int report_fd;         /* write end */
        int stdin_fd;          /* dup'ed to 0 when >= 0 */
        int pty_sock;          /* with a tty: where the child sends the pty master */
        bool have_winsize;
        struct winsize winsize;        /* the caller's terminal, for the pty */
        unsigned cap_last;     /* /proc/sys/kernel/cap_last_cap */
        bool *bind_is_dir;     /* per o->binds[i]: its source is a directory */
        int rootfd;            /* the rootfs (O_PATH), for a join */
        int ns_fds[3];         /* a join: ipc, mnt, net (or -1) of the target */
};

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}
static void strv_freep(char ***v) { strv_free(*v); }

/* --------------------------------------------------- files inside a root */

static int openat2_in_root(int rootfd, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd;
        do
                fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        while (fd < 0 && errno == EAGAIN);
        return fd;
}

/* read_in_root() - a whole small file inside @rootfd into @out. */
static int read_in_root(int rootfd, const char *path, struct buf *out)
{
        _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_RDONLY);
        if (fd < 0)
                return -errno;
        char chunk[8192];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                int r = buf_append(out, chunk, (size_t)n);
                if (r < 0)
                        return r;
        }
}

/* ----------------------------------------------------------------- users */

static bool parse_id(const char *s, unsigned long *out)
{
        if (!*s || *s < '0' || *s > '9')
                return false;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v > 0x7fffffffUL)
                return false;
        *out = v;
        return true;
}

/* split_fields() - cut a passwd/group line at ':' in place; returns how many
 * fields (at most @max). */
static size_t split_fields(char *line, char **f, size_t max)
{
        size_t n = 0;
        f[n++] = line;
        for (char *p = line; *p && n < max; p++)
                if (*p == ':') {
                        *p = '\0';
                        f[n++] = p + 1;
                }
        return n;
}

/* Walk the lines of @text (modified in place); calls @fn on each line's
 * fields until it returns true. */
static bool each_entry(char *text, size_t want, bool (*fn)(char **f, void *ctx), void *ctx)
{
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[8];
                if (line[0] == '#' || split_fields(line, f, ARRAY_SIZE(f)) < want)
                        continue;
                if (fn(f, ctx))
                        return true;
        }
        return false;
}

struct pw_query {
        const char *name;      /* match by name, or */
        unsigned long uid;     /* by uid when name == NULL */
        bool found;
        unsigned long r_uid, r_gid;
        char *r_name, *r_home;
};

static bool pw_match(char **f, void *ctx)
{
        struct pw_query *q = ctx;
        unsigned long uid, gid;
        if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
                return false;
        if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
                return false;
        q->found = true;
        q->r_uid = uid;
        q->r_gid = gid;
        q->r_name = xstrdup(f[0]);
        q->r_home = xstrdup(f[5]);
        return true;
}

struct gr_query {
        const char *name;      /* a group to find by name (NULL: none) */
        bool found;
        unsigned long r_gid;
        const char *member;    /* collect the groups listing this user (may be NULL) */
        gid_t *groups;
        size_t n, max;
};

static bool gr_add(struct gr_query *q, unsigned long gid)
{
        for (size_t i = 0; i < q->n; i++)
                if (q->groups[i] == (gid_t)gid)
                        return false;
        if (q->n < q->max)
                q->groups[q->n++] = (gid_t)gid;
        return false;
}

static bool gr_match(char **f, void *ctx)
{
        struct gr_query *q = ctx;
        unsigned long gid;
        if (!parse_id(f[2], &gid))
                return false;
        if (q->name && !q->found && !strcmp(f[0], q->name)) {
                q->found = true;
                q->r_gid = gid;
        }
        if (q->member) {
                char *save = NULL;
                for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
                        if (!strcmp(m, q->member))
                                gr_add(q, gid);
        }
        return false;
}

/* resolve_group() - a group number, or a name in the rootfs's /etc/group. */
static int resolve_group(int rootfd, const char *name, gid_t *gid, struct err *e)
{
        unsigned long n;
        if (parse_id(name, &n)) {
                *gid = (gid_t)n;
                return 0;
        }
        struct buf gr = BUF_INIT(ACCOUNT_FILE_MAX);
        int r = read_in_root(rootfd, "etc/group", &gr);
        if (r < 0 && r != -ENOENT) {
                buf_free(&gr);
                return err_set(e, -r, "read /etc/group");
        }
        struct gr_query q = { .name = name };
        if (gr.data)
                each_entry(gr.data, 4, gr_match, &q);
        buf_free(&gr);
        if (!q.found)
                return err_setx(e, ENOENT, "unable to find group %s: no matching entries in group file", name);
        *gid = (gid_t)q.r_gid;
        return 0;
}

int sandbox_resolve_user(int rootfd, const char *user, uid_t *uid, gid_t *gid,
                         gid_t *groups, size_t max_groups, size_t *n_groups,
                         char **home, struct err *e)
{
        _cleanup_free_ char *spec = xstrdup(user && *user ? user : "0");
        char *group = strchr(spec, ':');
        if (group)
                *group++ = '\0';
        if (home)
                *home = NULL;

        struct buf pw = BUF_INIT(ACCOUNT_FILE_MAX), gr = BUF_INIT(ACCOUNT_FILE_MAX);
        int r = read_in_root(rootfd, "etc/passwd", &pw);
        if (r < 0 && r != -ENOENT) {
                buf_free(&pw);
                return err_set(e, -r, "read /etc/passwd");
        }
        r = read_in_root(rootfd, "etc/group", &gr);
        if (r < 0 && r != -ENOENT) {
                buf_free(&pw);
                buf_free(&gr);
                return err_set(e, -r, "read /etc/group");
        }

        struct pw_query pq = { 0 };
        unsigned long n;
        bool numeric = parse_id(spec, &n);
        if (numeric)
                pq.uid = n;
        else
                pq.name = spec;
        if (pw.data)
                each_entry(pw.data, 7, pw_match, &pq);
        if (!pq.found && !numeric) {
                r = err_setx(e, ENOENT, "unable to find user %s: no matching entries in passwd file", spec);
                goto out;
        }
        *uid = (uid_t)(pq.found ? pq.r_uid : n);
        unsigned long g = pq.found ? pq.r_gid : 0;

        /* One walk of the group file (it is cut in place) finds the group
         * asked for by name, or the groups that list the user. */
        struct gr_query gq = { .name = NULL, .member = pq.r_name, .groups = groups, .max = max_groups };
        if (group && *group) {
                /* Supplementary groups only in the implicit form (runc's rule). */
                gq.member = NULL;
                unsigned long gn;
                if (parse_id(group, &gn)) {
                        g = gn;
                } else {
                        gq.name = group;
                }
        }
        gr_add(&gq, g);
        if (gr.data)
                each_entry(gr.data, 4, gr_match, &gq);
        if (gq.name) {
                if (!gq.found) {
                        r = err_setx(e, ENOENT, "unable to find group %s: no matching entries in group file", group);
                        goto out;
                }
                g = gq.r_gid;
                groups[0] = (gid_t)g;   /* the first slot holds the primary gid */
        }
        *gid = (gid_t)g;
        *n_groups = gq.n;
        if (home && pq.r_home && *pq.r_home)
                *home = TAKE_PTR(pq.r_home);
        r = 0;
out:
        free(pq.r_name);
        free(pq.r_home);
        buf_free(&pw);
        buf_free(&gr);
        return r;
}

/* ------------------------------------------------------------ the child */

static void report(const struct plan *p, int stage, int errnum, int complete, const char *fmt, ...)
        __attribute__((format(printf, 5, 6), noreturn));
static void report(const struct plan *p, int stage, int errnum, int complete, const char *fmt, ...)
{
        struct report rep = { .stage = stage, .err = errnum, .complete = complete };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rep.what, sizeof rep.what, fmt, ap);
        va_end(ap);
        (void)!write(p->report_fd, &rep, sizeof rep);
        _exit(stage == STAGE_SETUP ? 125 : errnum == ENOENT ? 127 : 126);
}
#define setup_fail(p, ...) report((p), STAGE_SETUP, errno, 0, __VA_ARGS__)

/* "/proc/self/fd/N": how the child names what it opened inside the rootfs. */
struct fdpath { char s[40]; };
static struct fdpath fdp(int fd)
{
        struct fdpath f;
        snprintf(f.s, sizeof f.s, "/proc/self/fd/%d", fd);
        return f;
}

/* in_root() - an O_PATH fd of @path inside the rootfs, created (a directory,
 * or an empty file) when missing and @create.  -1 with errno on failure. */
static int in_root(int rootfd, const char *path, bool dir, bool create)
{
        int fd = openat2_in_root(rootfd, path, O_PATH | (dir ? O_DIRECTORY : 0));
        if (fd >= 0 || errno != ENOENT || !create)
                return fd;
        char parent[PATH_MAX];
        const char *slash = strrchr(path, '/');
        size_t plen = slash ? (size_t)(slash - path) : 0;
        if (plen >= sizeof parent) {
                errno = ENAMETOOLONG;
                return -1;
        }
        memcpy(parent, path, plen);
        parent[plen] = '\0';
        const char *name = slash ? slash + 1 : path;
        int pfd = plen ? openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY) : dup(rootfd);
        if (pfd < 0)
                return -1;
        int r;
        if (dir) {
                r = mkdirat(pfd, name, 0755);
        } else {
                r = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0)
                        r = close(r);
        }
        int saved = errno;
        close(pfd);
        if (r < 0 && saved != EEXIST) {
                errno = saved;
                return -1;
        }
        return openat2_in_root(rootfd, path, O_PATH | (dir ? O_DIRECTORY : 0));
}

/* mount_in_root() - mount on @path inside the rootfs (created when missing). */
static void mount_in_root(const struct plan *p, int rootfd, const char *path, bool dir,
                          const char *src, const char *type, unsigned long flags, const char *data)
{
        int fd = in_root(rootfd, path, dir, true);
        if (fd < 0)
                setup_fail(p, "create /%s", path);
        if (mount(src, fdp(fd).s, type, flags, data) < 0)
                setup_fail(p, "mount /%s", path);
        close(fd);
}

/* mkdir_in_root() - create @path (relative to the rootfs) and its missing
 * parents, each resolved inside the rootfs; the last one as a directory or,
 * when !@dir, an empty file.  Returns an O_PATH fd of it. */
static int mkdir_in_root(const struct plan *p, int rootfd, const char *path, bool dir)
{
        char prefix[PATH_MAX];
        size_t len = strlen(path);
        if (len >= sizeof prefix) {
                errno = ENAMETOOLONG;
                setup_fail(p, "create /%.64s...", path);
        }
        memcpy(prefix, path, len + 1);
        for (char *s = prefix; (s = strchr(s, '/')); s++) {
                *s = '\0';
                int fd = prefix[0] ? in_root(rootfd, prefix, true, true) : -2;
                if (fd == -1)
                        setup_fail(p, "create /%s", prefix);
                if (fd >= 0)
                        close(fd);
                *s = '/';
        }
        int fd = in_root(rootfd, path, dir, true);
        if (fd < 0)
                setup_fail(p, "create /%s", path);
        return fd;
}

/* remount_bind() - add @flags (MS_RDONLY, MS_NODEV...) to the bind mount now
 * on @path, keeping the nosuid/nodev/noexec it has (a remount sets them all). */
static void remount_bind(const struct plan *p, int rootfd, const char *path, unsigned long flags)
{
        int fd = openat2_in_root(rootfd, path, O_PATH);
        if (fd < 0)
                setup_fail(p, "open /%s", path);
        struct statfs sf;
        if (fstatfs(fd, &sf) == 0) {
                flags |= (sf.f_flags & ST_NOSUID) ? MS_NOSUID : 0;
                flags |= (sf.f_flags & ST_NODEV) ? MS_NODEV : 0;
                flags |= (sf.f_flags & ST_NOEXEC) ? MS_NOEXEC : 0;
                flags |= (sf.f_flags & ST_RDONLY) ? MS_RDONLY : 0;
        }
        if (mount(NULL, fdp(fd).s, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
                setup_fail(p, "remount /%s%s", path, (flags & MS_RDONLY) ? " read-only" : "");
        close(fd);
}

static void setup_dev(const struct plan *p, int rootfd)
{
        static const struct { const char *name; unsigned maj, min; } nodes[] = {
                { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
                { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
        };
        static const struct { const char *name, *target; } links[] = {
                { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
                { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
                { "ptmx", "pts/ptmx" }, { "core", "/proc/kcore" },
        };
        /* nodev: a node root makes in /dev (CAP_MKNOD is kept, as in docker,
         * but there is no device cgroup here) cannot be opened; the host's
         * nodes bound in are mounts of their own, and work. */
        mount_in_root(p, rootfd, "dev", true, "tmpfs", "tmpfs",
                      MS_NOSUID | MS_STRICTATIME | (p->o->privileged ? 0 : MS_NODEV), "mode=755,size=65536k");
        int dev = openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
        if (dev < 0)
                setup_fail(p, "open /dev");
        for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
                const char *n = nodes[i].name;
                char host[32], target[80];
                snprintf(host, sizeof host, "/dev/%s", n);
                struct stat st;
                if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode) ||
                    st.st_rdev != makedev(nodes[i].maj, nodes[i].min)) {
                        /* no such node on the host: make one (unusable under nodev) */
                        if (mknodat(dev, n, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
                                setup_fail(p, "mknod /dev/%s", n);
                        continue;
                }
                int fd = openat(dev, n, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
                if (fd < 0)
                        setup_fail(p, "create /dev/%s", n);
                close(fd);
                snprintf(target, sizeof target, "/proc/self/fd/%d/%s", dev, n);
                if (mount(host, target, NULL, MS_BIND, NULL) < 0)
                        setup_fail(p, "bind /dev/%s", n);
        }
        for (size_t i = 0; i < ARRAY_SIZE(links); i++)
                if (symlinkat(links[i].target, dev, links[i].name) < 0)
                        setup_fail(p, "symlink /dev/%s", links[i].name);

        mount_in_root(p, rootfd, "dev/pts", true, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                      p->tty_group ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
                                   : "newinstance,ptmxmode=0666,mode=0620");
        mount_in_root(p, rootfd, "dev/shm", true, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "mode=1777,size=65536k");
        /* POSIX message queues of the new ipc namespace: nice to have, so a
         * kernel without them (or refusing the mount) only goes without */
        int mq = in_root(rootfd, "dev/mqueue", true, true);
        if (mq >= 0 && mount("mqueue", fdp(mq).s, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                (void)unlinkat(dev, "mqueue", AT_REMOVEDIR);
        if (mq >= 0)
                close(mq);
        close(dev);
}

/* send_fd() - pass @fd over the unix socket @sock (SCM_RIGHTS). */
static int send_fd(int sock, int fd)
{
        char byte = 'P';
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
        memset(&u, 0, sizeof u);
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                              .msg_controllen = sizeof u.buf };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* container_pty() - a pty of the sandbox's own /dev/pts (so that `tty`
 * answers /dev/pts/0, as in docker): its master goes to the parent, which
 * relays it; /dev/console is its terminal.  Returns the terminal's fd. */
static int container_pty(const struct plan *p, int rootfd)
{
        int master = openat2_in_root(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY);
        if (master < 0)
                setup_fail(p, "open /dev/pts/ptmx");
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                setup_fail(p, "unlock the pty");
        int tty = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (tty < 0)
                setup_fail(p, "open the pty's terminal");
        if (p->have_winsize)
                (void)ioctl(tty, TIOCSWINSZ, &p->winsize);
        if (fchown(tty, p->uid, (gid_t)-1) < 0)
                setup_fail(p, "chown the pty to uid %u", (unsigned)p->uid);
        if (send_fd(p->pty_sock, master) < 0)
                setup_fail(p, "pass the pty to strata");
        close(master);
        if (p->o->join_pid <= 0)
                mount_in_root(p, rootfd, "dev/console", false, fdp(tty).s, NULL, MS_BIND, NULL);
        return tty;
}

/* The command's session: with -t the container's pty (below @rootfd) as
 * its controlling terminal and stdio; without, a session of its own, like
 * docker's processes, so the caller's terminal is not its controlling one
 * (/dev/tty fails, ^C reaches it only through strata). */
static void own_session(const struct plan *p, int rootfd)
{
        if (!p->o->tty) {
                if (setsid() < 0)
                        setup_fail(p, "setsid");
                return;
        }
        int tty = container_pty(p, rootfd);
        if (setsid() < 0)
                setup_fail(p, "setsid");
        if (ioctl(tty, TIOCSCTTY, 0) < 0)
                setup_fail(p, "make the pty the controlling terminal");
        for (int fd = 0; fd < 3; fd++)
                if (dup2(tty, fd) < 0)
                        setup_fail(p, "dup2 the pty");
        close(tty);
}

/* Docker's defaults for an unprivileged container: what is hidden, what is
 * read-only, which capabilities root keeps. */
static const char *const masked_paths[] = {
        "proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats",
        "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
        "sys/firmware", "sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
        "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger",
};
static const char *const cap_names[] = {
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

uint64_t sandbox_default_caps(void)
{
        static const int kept[] = {
                CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW,
                CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
                CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
        };
        uint64_t m = 0;
        for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
                m |= 1ULL << kept[i];
        return m;
}

int sandbox_cap_parse(const char *name, uint64_t *bits)
{
        if (!strncasecmp(name, "CAP_", 4))
                name += 4;
        if (!strcasecmp(name, "ALL")) {
                *bits = ~0ULL;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
                if (!strcasecmp(name, cap_names[i])) {
                        *bits = 1ULL << i;
                        return 0;
                }
        return -EINVAL;
}

/* confine() - mask and write-protect the kernel's knobs like docker does. */
static void confine(const struct plan *p, int rootfd)
{
        for (size_t i = 0; i < ARRAY_SIZE(masked_paths); i++) {
                int fd = openat2_in_root(rootfd, masked_paths[i], O_PATH);
                if (fd < 0)
                        continue;      /* not on this kernel */
                struct stat st;
                int r = fstat(fd, &st);
                if (r == 0 && S_ISDIR(st.st_mode))
                        r = mount("tmpfs", fdp(fd).s, "tmpfs", MS_RDONLY, "size=0");
                else if (r == 0)
                        r = mount("/dev/null", fdp(fd).s, NULL, MS_BIND, NULL);
                if (r < 0)
                        setup_fail(p, "mask /%s", masked_paths[i]);
                close(fd);
        }
        for (size_t i = 0; i < ARRAY_SIZE(readonly_paths); i++) {
                int fd = openat2_in_root(rootfd, readonly_paths[i], O_PATH);
                if (fd < 0)
                        continue;
                if (mount(fdp(fd).s, fdp(fd).s, NULL, MS_BIND | MS_REC, NULL) < 0)
                        setup_fail(p, "bind /%s", readonly_paths[i]);
                close(fd);
                remount_bind(p, rootfd, readonly_paths[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        }
}

/* drop_caps() - keep docker's default capabilities in the bounding and
 * inheritable sets: root in the sandbox gets no more at exec. */
static void drop_caps(const struct plan *p)
{
        uint64_t keep = p->o->custom_caps ? p->o->caps : sandbox_default_caps();
        for (unsigned c = 0; c <= p->cap_last && c < 64; c++)
                if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        setup_fail(p, "drop capability %u", c);
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) < 0)
                setup_fail(p, "capget");
        d[0].inheritable &= (uint32_t)keep;
        d[1].inheritable &= (uint32_t)(keep >> 32);
        if (syscall(SYS_capset, &h, d) < 0)
                setup_fail(p, "capset");
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static void setup_sys(const struct plan *p, int rootfd)
{
        int fd = in_root(rootfd, "sys", true, true);
        if (fd < 0)
                setup_fail(p, "create /sys");
        if (mount("sysfs", fdp(fd).s, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
                close(fd);
                return;
        }
        /* sysfs wants a network namespace of our own in some setups: a
         * read-only bind of the host's /sys does instead. */
        if (mount("/sys", fdp(fd).s, NULL, MS_BIND | MS_REC, NULL) < 0)
                setup_fail(p, "mount /sys");
        close(fd);
        remount_bind(p, rootfd, "sys", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

/* bind_host_file() - the host's /@path over the image's, read-only; the
 * target is created when missing (in the writable layer, as docker does). */
static void bind_host_file(const struct plan *p, int rootfd, const char *path)
{
        char host[64];
        snprintf(host, sizeof host, "/%s", path);
        if (access(host, F_OK) < 0)
                return;
        int etc = in_root(rootfd, "etc", true, true);
        if (etc < 0)
                setup_fail(p, "create /etc");
        close(etc);
        mount_in_root(p, rootfd, path, false, host, NULL, MS_BIND, NULL);
        remount_bind(p, rootfd, path, MS_RDONLY | MS_NOSUID | MS_NODEV);
}

/* bind_hostname() - an /etc/hostname naming the sandbox, as docker binds
 * one: written in /dev's tmpfs, bound over, then unlinked there. */
static void bind_hostname(const struct plan *p, int rootfd)
{
        int etc = in_root(rootfd, "etc", true, true);
        if (etc < 0)
                setup_fail(p, "create /etc");
        close(etc);
        int dev = openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
        if (dev < 0)
                setup_fail(p, "open /dev");
        int fd = openat(dev, ".hostname", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                setup_fail(p, "create the hostname file");
        char line[sizeof p->hostname + 1];
        size_t n = strlen(p->hostname);
        memcpy(line, p->hostname, n);
        line[n] = '\n';
        if (write(fd, line, n + 1) != (ssize_t)(n + 1))
                setup_fail(p, "write the hostname file");
        close(fd);
        char src[80];
        snprintf(src, sizeof src, "/proc/self/fd/%d/.hostname", dev);
        mount_in_root(p, rootfd, "etc/hostname", false, src, NULL, MS_BIND, NULL);
        (void)unlinkat(dev, ".hostname", 0);
        close(dev);
}

static void enter_root(const struct plan *p)
{
        const char *rootfs = p->o->rootfs;
        int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (oldroot < 0)
                setup_fail(p, "open /");
        if (chdir(rootfs) < 0)
                setup_fail(p, "chdir %s", rootfs);
        if (syscall(SYS_pivot_root, ".", ".") == 0) {
                /* The old root now sits on top of the new one: detach it. */
                if (fchdir(oldroot) < 0)
                        setup_fail(p, "chdir to the old root");
                if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                        setup_fail(p, "make the old root a slave");
                if (umount2(".", MNT_DETACH) < 0)
                        setup_fail(p, "detach the old root");
        } else {
                /* E.g. the host's root is the initial ramfs: move the rootfs
                 * over / when we can, and chroot into it. */
                (void)mount(".", "/", NULL, MS_MOVE, NULL);
                if (chroot(".") < 0)
                        setup_fail(p, "chroot %s", rootfs);
        }
        close(oldroot);
        if (chdir("/") < 0)
                setup_fail(p, "chdir /");
}

/* make_workdir() - create the working directory inside the rootfs when it
 * is missing, as root and before the pivot, like docker. */
static void make_workdir(const struct plan *p, int rootfd)
{
        const char *wd = p->o->workdir ? p->o->workdir + strspn(p->o->workdir, "/") : "";
        if (*wd)
                close(mkdir_in_root(p, rootfd, wd, true));
}

static bool exec_error_is_final(int errnum)
{
        return errnum != ENOENT && errnum != ENOTDIR && errnum != ESTALE &&
               errnum != ENODEV && errnum != ETIMEDOUT && errnum != EACCES;
}

static void exec_command(const struct plan *p) __attribute__((noreturn));
static void exec_command(const struct plan *p)
{
        const char *cmd = p->o->argv[0];
        int last = ENOENT;
        bool denied = false;
        for (char **c = p->cands; *c; c++) {
                execve(*c, p->o->argv, p->envp);
                last = errno;
                if (last == EACCES)
                        denied = true;
                if (exec_error_is_final(last))
                        break;
        }
        if (denied && !exec_error_is_final(last))
                last = EACCES;
        if (last == ENOENT && p->searched)
                report(p, STAGE_EXEC, ENOENT, 1, "exec \"%s\": executable file not found in $PATH", cmd);
        report(p, STAGE_EXEC, last, 0, "exec \"%s\"", cmd);
}

/* child_reset() - invariant (4): defaults, and nothing of ours leaks into
 * the command; stdin as planned. */
static void child_reset(const struct plan *p)
{
        for (int sig = 1; sig < NSIG; sig++)
                signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                for (int fd = 3; fd < 4096; fd++)
                        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        umask(0);

        if (p->stdin_fd >= 0 && dup2(p->stdin_fd, 0) < 0)
                setup_fail(p, "redirect stdin");
        (void)fcntl(0, F_SETFD, 0);
}

/* loopback_up() - the new network namespace's lo, up (docker's --network none). */
static void loopback_up(const struct plan *p)
{
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        memcpy(ifr.ifr_name, "lo", 3);
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                setup_fail(p, "find the loopback interface");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                setup_fail(p, "bring the loopback interface up");
        close(fd);
}

/* become_user() - the capabilities, groups and ids of the command, last. */
static void become_user(const struct plan *p)
{
        if (!p->o->privileged)
                drop_caps(p);
        if (!p->no_setgroups && setgroups(p->n_groups, p->groups) < 0)
                setup_fail(p, "setgroups");
        if (setgid(p->gid) < 0)
                setup_fail(p, "setgid %u", (unsigned)p->gid);
        if (setuid(p->uid) < 0)
                setup_fail(p, "setuid %u", (unsigned)p->uid);
        umask(022);
}

/* join_main() - exec: into the target's ipc, mnt (and net) namespaces (its
 * pid and uts ones the parent joined), its root, the command. */
static void join_main(const struct plan *p) __attribute__((noreturn));
static void join_main(const struct plan *p)
{
        child_reset(p);
        static const int types[] = { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWNET };
        for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                if (p->ns_fds[i] >= 0 && setns(p->ns_fds[i], types[i]) < 0)
                        setup_fail(p, "join the run's namespaces");
        own_session(p, p->rootfd);
        if (fchdir(p->rootfd) < 0 || chroot(".") < 0)
                setup_fail(p, "enter the run's root");
        const char *wd = p->o->workdir && *p->o->workdir ? p->o->workdir : "/";
        if (chdir(wd) < 0)
                setup_fail(p, "chdir to working directory %s", wd);
        become_user(p);
        exec_command(p);
}

static void child_main(const struct plan *p) __attribute__((noreturn));
static void child_main(const struct plan *p)
{
        child_reset(p);
        if (p->o->new_net)
                loopback_up(p);

        const char *rootfs = p->o->rootfs;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                setup_fail(p, "make the mount tree private");
        if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                setup_fail(p, "bind %s", rootfs);
        int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                setup_fail(p, "open %s", rootfs);
        /* setuid binaries and file capabilities work in the image (docker's
         * rootfs is not nosuid); device nodes in it do not (no device cgroup) */
        unsigned long nodev = p->o->privileged ? 0 : MS_NODEV;
        if (mount(NULL, fdp(rootfd).s, NULL, MS_BIND | MS_REMOUNT | nodev, NULL) < 0)
                setup_fail(p, "remount %s", rootfs);

        mount_in_root(p, rootfd, "proc", true, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        setup_dev(p, rootfd);
        setup_sys(p, rootfd);
        bind_host_file(p, rootfd, "etc/resolv.conf");
        bind_host_file(p, rootfd, "etc/hosts");
        bind_hostname(p, rootfd);
        for (size_t i = 0; i < p->o->n_binds; i++) {
                const struct sandbox_bind *b = &p->o->binds[i];
                const char *rel = b->target + strspn(b->target, "/");
                int fd = mkdir_in_root(p, rootfd, rel, p->bind_is_dir[i]);
                if (mount(b->source, fdp(fd).s, NULL, MS_BIND | MS_REC, NULL) < 0)
                        setup_fail(p, "bind %s to %s", b->source, b->target);
                close(fd);
                /* nodev as for the rootfs: no device cgroup guards the host's disks */
                unsigned long f = (b->readonly ? MS_RDONLY : 0) | (p->o->privileged ? 0 : MS_NODEV);
                if (f)
                        remount_bind(p, rootfd, rel, f);
        }
        for (size_t i = 0; i < p->o->n_tmpfs; i++) {
                const struct sandbox_tmpfs *t = &p->o->tmpfs[i];
                int fd = mkdir_in_root(p, rootfd, t->target + strspn(t->target, "/"), true);
                if (mount("tmpfs", fdp(fd).s, "tmpfs", t->flags | (p->o->privileged ? 0 : MS_NODEV), t->data) < 0)
                        setup_fail(p, "mount a tmpfs on %s", t->target);
                close(fd);
        }
        make_workdir(p, rootfd);
        if (!p->o->privileged)
                confine(p, rootfd);
        own_session(p, rootfd);
        if (p->o->read_only &&
            mount(NULL, fdp(rootfd).s, NULL, MS_BIND | MS_REMOUNT | nodev | MS_RDONLY, NULL) < 0)
                setup_fail(p, "remount %s read-only", rootfs);
        close(rootfd);

        if (sethostname(p->hostname, strlen(p->hostname)) < 0)
                setup_fail(p, "set the hostname");
        enter_root(p);
        const char *wd = p->o->workdir && *p->o->workdir ? p->o->workdir : "/";
        if (chdir(wd) < 0)
                setup_fail(p, "chdir to working directory %s", wd);
        become_user(p);
        exec_command(p);
}

/* ------------------------------------------------------------ the parent */

static const char *env_get(char *const *env, const char *key)
{
        size_t kl = strlen(key);
        const char *v = NULL;
        for (char *const *p = env; p && *p; p++)
                if (!strncmp(*p, key, kl) && (*p)[kl] == '=')
                        v = *p + kl + 1;     /* the last one wins, as in docker */
        return v;
}

static char **build_env(const struct plan *p, const char *home)
{
        const struct sandbox_opts *o = p->o;
        size_t n = 0;
        for (char *const *q = o->env; q && *q; q++)
                n++;
        char **v = xcalloc(n + 4, sizeof *v);
        size_t k = 0;
        for (char *const *q = o->env; q && *q; q++)
                v[k++] = xstrdup(*q);
        if (!env_get(o->env, "HOSTNAME"))
                v[k++] = xasprintf("HOSTNAME=%s", p->hostname);
        if (o->tty && !env_get(o->env, "TERM"))
                v[k++] = xstrdup("TERM=xterm");
        if (!env_get(o->env, "HOME"))
                v[k++] = xasprintf("HOME=%s", home ? home : "/");
        return v;
}

/* build_candidates() - the paths execvp() would try, from the image's PATH. */
static char **build_candidates(const struct plan *p, bool *searched)
{
        const char *cmd = p->o->argv[0];
        if (strchr(cmd, '/')) {
                char **v = xcalloc(2, sizeof *v);
                v[0] = xstrdup(cmd);
                *searched = false;
                return v;
        }
        *searched = true;
        const char *path = env_get(p->envp, "PATH");
        if (!path)
                path = SANDBOX_DEFAULT_PATH;
        size_t n = 1;
        for (const char *s = path; *s; s++)
                n += *s == ':';
        char **v = xcalloc(n + 1, sizeof *v);
        size_t k = 0;
        for (const char *s = path;; ) {
                const char *end = strchrnul(s, ':');
                if (*cmd)
                        v[k++] = end == s ? xstrdup(cmd) : xasprintf("%.*s/%s", (int)(end - s), s, cmd);
                if (!*end)
                        break;
                s = end + 1;
        }
        return v;
}

static void random_hostname(char out[65])
{
        unsigned char b[6];
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
                uint64_t t = now_ns() ^ (uint64_t)getpid();
                memcpy(b, &t, sizeof b);
        }
        for (size_t i = 0; i < sizeof b; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int status_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 125;
}

/* get_winsize() - the size of our terminal (stdin, stdout or stderr). */
static bool get_winsize(struct winsize *ws)
{
        for (int fd = 0; fd <= 2; fd++)
                if (isatty(fd) && ioctl(fd, TIOCGWINSZ, ws) == 0)
                        return true;
        return false;
}

static void copy_winsize(int master)
{
        struct winsize ws;
        if (get_winsize(&ws))
                (void)ioctl(master, TIOCSWINSZ, &ws);
}

/* recv_fd() - the fd sent with send_fd(), or -1 (EOF: the child failed). */
static int recv_fd(int sock)
{
        char byte;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                              .msg_controllen = sizeof u.buf };
        ssize_t n;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
        if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
                return -1;
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
        return fd;
}

/* read_cap_last() - the highest capability this kernel knows. */
static void read_cap_last(unsigned *out)
{
        char b[16] = { 0 };
        int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        if (read(fd, b, sizeof b - 1) > 0)
                *out = (unsigned)strtoul(b, NULL, 10);
        close(fd);
}

/* wait_child() - relay the pty (when @master >= 0) and signals until the
 * child is gone; returns its wait status. */
static int wait_child(pid_t pid, int sfd, int master, bool relay_stdin)
{
        int status = 0;
        bool exited = false, in_open = relay_stdin, master_open = master >= 0, out_ok = true;
        char chunk[16384];
        char in[4096];                 /* stdin read but not yet taken by the pty */
        size_t in_len = 0, in_off = 0;
        while (!exited || master_open) {
                bool pending = in_off < in_len;
                struct pollfd pf[3] = {
                        { .fd = sfd, .events = POLLIN },
                        { .fd = master_open ? master : -1, .events = POLLIN | (pending ? POLLOUT : 0) },
                        { .fd = in_open && master_open && !pending ? 0 : -1, .events = POLLIN },
                };
                /* Once the child is reaped, drain what the pty still holds. */
                int r = poll(pf, 3, exited ? 0 : -1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 && exited)
                        break;
                if (pf[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                                if (si.ssi_signo == SIGWINCH && master >= 0)
                                        copy_winsize(master);
                                else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH)
                                        kill(pid, (int)si.ssi_signo);
                        }
                        if (!exited && waitpid(pid, &status, WNOHANG) == pid)
                                exited = true;
                }
                if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(master, chunk, sizeof chunk);
                        if (n > 0) {
                                /* a gone reader: keep draining, or the command blocks */
                                if (out_ok && write_all(1, chunk, (size_t)n) < 0)
                                        out_ok = false;
                        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                                master_open = false;   /* EIO: every slave is closed */
                        }
                }
                if ((pf[1].revents & POLLOUT) && pending) {
                        /* the pty takes what it can; the rest waits (a paste is not lost) */
                        ssize_t n = write(master, in + in_off, in_len - in_off);
                        if (n > 0)
                                in_off += (size_t)n;
                        else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                in_off = in_len;
                }
                if (pf[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(0, in, sizeof in);
                        if (n > 0) {
                                in_len = (size_t)n;
                                in_off = 0;
                        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                                /* EOF on a pipe: an end-of-file for the pty's reader. */
                                struct termios t;
                                char eof = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
                                (void)write_all(master, &eof, 1);
                                in_open = false;
                        }
                }
        }
        if (!exited)
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
        return status;
}

/* join_prepare() - exec's side of the parent: the target's ipc, mnt and
 * (when not ours) net namespaces opened for the child; its pid namespace
 * joined here (it holds for the children made next) and its uts one, so
 * the hostname is the target's. */
static int join_prepare(struct plan *p, struct err *e)
{
        static const char *const names[] = { "ipc", "mnt", "net" };
        int pid = p->o->join_pid;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, names[i]);
                p->ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
                if (p->ns_fds[i] < 0)
                        return err_set(e, errno, "open %s", path);
        }
        struct stat ours, theirs;
        if (stat("/proc/self/ns/net", &ours) == 0 && fstat(p->ns_fds[2], &theirs) == 0 && ours.st_ino == theirs.st_ino) {
                close(p->ns_fds[2]);           /* the host's: nothing to join */
                p->ns_fds[2] = -1;
        }
        static const struct { const char *name; int type; } here[] = { { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS } };
        for (size_t i = 0; i < ARRAY_SIZE(here); i++) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, here[i].name);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, here[i].type) < 0)
                        return err_set(e, errno, "join %s", path);
        }
        if (gethostname(p->hostname, sizeof p->hostname - 1) < 0)
                return err_set(e, errno, "gethostname");
        return 0;
}

/* fit_ids() - the user's ids against the user namespace this runs in (a
 * user's store namespace, util/userns.h): a uid or gid it does not map is
 * one line; supplementary groups it does not map are left out; with one id
 * mapped setgroups is denied (the process keeps the groups it has). */
static int fit_ids(struct plan *p, struct err *e)
{
        p->tty_group = true;
        if (userns_in_initial())
                return 0;
        struct idmap m;
        int r = idmap_current(&m, e);
        if (r < 0)
                return r;
        uint32_t v;
        const char *why = m.single ? " (it maps 0 only: no subordinate range in /etc/subuid)" : "";
        if (!idmap_lookup(m.uid, m.n_uid, p->uid, true, &v))
                return err_setx(e, EINVAL, "user %s: uid %u is not mapped in this user's namespace%s",
                                p->o->user, (unsigned)p->uid, why);
        if (!idmap_lookup(m.gid, m.n_gid, p->gid, true, &v))
                return err_setx(e, EINVAL, "user %s: gid %u is not mapped in this user's namespace%s",
                                p->o->user, (unsigned)p->gid, why);
        size_t k = 0;
        for (size_t i = 0; i < p->n_groups; i++)
                if (idmap_lookup(m.gid, m.n_gid, p->groups[i], true, &v))
                        p->groups[k++] = p->groups[i];
        p->n_groups = k;
        p->no_setgroups = m.single;
        p->tty_group = idmap_lookup(m.gid, m.n_gid, 5, true, &v);
        return 0;
}

static void close_ns(struct plan *p)
{
        for (size_t i = 0; i < ARRAY_SIZE(p->ns_fds); i++)
                if (p->ns_fds[i] >= 0)
                        close(p->ns_fds[i]);
}

static int sandbox_start(struct plan *pp, int *exit_status, struct err *e)
{
        const struct sandbox_opts *o = pp->o;
        struct plan p = *pp;
        *exit_status = 125;
        if (!o->rootfs || !o->argv || !o->argv[0])
                return err_setx(e, EINVAL, "no command to run");
        if (!o->argv[0][0])
                return err_setx(e, EINVAL, "the command is empty");

        _cleanup_close_ int rootfd = p.rootfd = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return err_set(e, errno, "open %s", o->rootfs);
        _cleanup_free_ char *home = NULL;
        int r = sandbox_resolve_user(rootfd, o->user, &p.uid, &p.gid, p.groups, MAX_GROUPS,
                                     &p.n_groups, &home, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < o->n_group_add; i++) {
                gid_t g = 0;
                r = resolve_group(rootfd, o->group_add[i], &g, e);
                if (r < 0)
                        return r;
                bool have = false;
                for (size_t k = 0; k < p.n_groups; k++)
                        have |= p.groups[k] == g;
                if (!have && p.n_groups < MAX_GROUPS)
                        p.groups[p.n_groups++] = g;
        }
        r = fit_ids(&p, e);
        if (r < 0)
                return r;
        if (o->join_pid > 0) {
                r = join_prepare(&p, e);
                memcpy(pp->ns_fds, p.ns_fds, sizeof p.ns_fds);  /* closed by the caller */
                if (r < 0)
                        return r;
        } else if (o->hostname && *o->hostname) {
                snprintf(p.hostname, sizeof p.hostname, "%s", o->hostname);
        } else {
                random_hostname(p.hostname);
        }
        _cleanup_(strv_freep) char **envp = p.envp = build_env(&p, home);
        _cleanup_(strv_freep) char **cands = p.cands = build_candidates(&p, &p.searched);

        read_cap_last(&p.cap_last);
        _cleanup_free_ bool *bind_is_dir = p.bind_is_dir = xcalloc(o->n_binds + 1, sizeof *bind_is_dir);
        for (size_t i = 0; i < o->n_binds; i++) {
                const struct sandbox_bind *b = &o->binds[i];
                if (b->source[0] != '/' || b->target[0] != '/' || !b->target[strspn(b->target, "/")])
                        return err_setx(e, EINVAL, "bind %s:%s: both paths must be absolute, the target not /",
                                        b->source, b->target);
                struct stat st;
                if (stat(b->source, &st) < 0) {
                        if (errno != ENOENT)
                                return err_set(e, errno, "bind %s", b->source);
                        if (mkdir_p(b->source, 0755, e) < 0)
                                return err_wrap(e, "bind %s", b->source);
                        st.st_mode = S_IFDIR;
                }
                bind_is_dir[i] = S_ISDIR(st.st_mode);
        }
        for (size_t i = 0; i < o->n_tmpfs; i++)
                if (o->tmpfs[i].target[0] != '/' || !o->tmpfs[i].target[strspn(o->tmpfs[i].target, "/")])
                        return err_setx(e, EINVAL, "tmpfs %s: the path must be absolute, not /", o->tmpfs[i].target);

        _cleanup_close_ int devnull = -1, master = -1, sock_r = -1, sock_w = -1, rep_r = -1, rep_w = -1, sfd = -1;
        if (o->tty) {
                int sv[2];
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                        return err_set(e, errno, "socketpair");
                sock_r = sv[0];
                sock_w = p.pty_sock = sv[1];
                p.have_winsize = get_winsize(&p.winsize);
        } else if (!o->interactive) {
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0)
                        return err_set(e, errno, "open /dev/null");
                p.stdin_fd = devnull;
        }
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return err_set(e, errno, "pipe");
        rep_r = pfd[0];
        rep_w = p.report_fd = pfd[1];

        sigset_t handled, old;
        sigemptyset(&handled);
        int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2 };
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
                sigaddset(&handled, sigs[i]);
        sigprocmask(SIG_BLOCK, &handled, &old);
        sfd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                r = err_set(e, errno, "signalfd");
                goto restore_mask;
        }

        fflush(NULL);
        unsigned long flags = o->join_pid > 0 ? 0 : CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
        if (o->new_net && o->join_pid <= 0)
                flags |= CLONE_NEWNET;
        pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                r = errno == EPERM ? err_set(e, errno, "new namespaces for the sandbox (strata run needs root)")
                                   : err_set(e, errno, "clone the sandbox");
                goto restore_mask;
        }
        if (pid == 0 && o->join_pid > 0)
                join_main(&p);
        if (pid == 0)
                child_main(&p);

        close(TAKE_FD(rep_w));
        if (sock_w >= 0) {
                close(TAKE_FD(sock_w));
                master = recv_fd(sock_r);      /* -1 when the child failed first */
        }
        struct report rep;
        ssize_t n = read_full(rep_r, &rep, sizeof rep);
        if (n == (ssize_t)sizeof rep) {
                int status;
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                rep.what[sizeof rep.what - 1] = '\0';
                *exit_status = rep.stage == STAGE_SETUP ? 125 : rep.err == ENOENT ? 127 : 126;
                r = rep.complete ? err_setx(e, rep.err, "%s", rep.what) : err_set(e, rep.err, "%s", rep.what);
                goto restore_mask;
        }

        /* The command runs. */
        if (o->started)
                o->started(pid, o->started_ctx);
        struct termios saved;
        bool raw = o->tty && o->interactive && isatty(0) && tcgetattr(0, &saved) == 0;
        if (raw) {
                struct termios t = saved;
                cfmakeraw(&t);
                (void)tcsetattr(0, TCSANOW, &t);
        }
        if (master >= 0)
                (void)fcntl(master, F_SETFL, O_NONBLOCK);
        void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);     /* a gone reader is EPIPE */
        int status = wait_child(pid, sfd, master, o->tty && o->interactive);
        signal(SIGPIPE, old_pipe);
        if (raw)
                (void)tcsetattr(0, TCSADRAIN, &saved);
        *exit_status = status_code(status);
        r = 0;
restore_mask:
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}

int sandbox_run(const struct sandbox_opts *o, int *exit_status, struct err *e)
{
        struct plan p = { .o = o, .report_fd = -1, .stdin_fd = -1, .pty_sock = -1, .cap_last = 63,
                          .rootfd = -1, .ns_fds = { -1, -1, -1 } };
        int r = sandbox_start(&p, exit_status, e);
        close_ns(&p);
        return r;
}
