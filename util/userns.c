/* The rootless user namespace: its maps and entering it (see userns.h). */
#include "userns.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>


/* Parse a /proc/self/[ug]id_map text into @r; the number of lines. */
static size_t parse_proc_map(const char *text, struct idrange *r)
{
        size_t n = 0;
        const char *p = text;
        while (*p && n < IDMAP_MAX) {
                unsigned long a, b, c;
                if (sscanf(p, "%lu %lu %lu", &a, &b, &c) == 3)
                        r[n++] = (struct idrange){ (uint32_t)a, (uint32_t)b, (uint32_t)c };
                p = strchr(p, '\n');
                if (!p)
                        break;
                p++;
        }
        return n;
}

/* The lines of /proc/self/[ug]id_map (none in a namespace that maps no
 * one), or -1 when it cannot be read. */
static ssize_t read_proc_map(const char *path, struct idrange *r)
{
        char buf[1024];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read_full(fd, buf, sizeof buf - 1);
        if (n < 0)
                return -1;
        buf[n] = '\0';
        return (ssize_t)parse_proc_map(buf, r);
}

bool userns_in_initial(void)
{
        struct idrange r[IDMAP_MAX];
        ssize_t n = read_proc_map("/proc/self/uid_map", r);
        /* no /proc: take the answer getuid() implies */
        return n < 0 || (n == 1 && r[0].inside == 0 && r[0].outside == 0 && r[0].count == UINT32_MAX);
}

bool userns_rootless(void)
{
        /* cached: entering the store's namespace keeps the answer (a user
         * outside, root of a namespace that is not the initial one inside) */
        static int known = -1;
        if (known < 0)
                known = getuid() != 0 || !userns_in_initial();
        return known;
}

const char *userns_ovl_prefix(void)
{
        return userns_rootless() ? OVL_PREFIX_USER : OVL_PREFIX_TRUSTED;
}

/* The "NAME:START:COUNT" (or "UID:START:COUNT") lines of @path for the
 * user, in their order, as the namespace's ids 1, 2, ... (podman's way: all
 * of them): into @r, at most @max ranges (more lines are left out) and no
 * id at or above 2^32-1, the invalid one.  How many ranges, or -errno. */
static int find_subids(const char *path, const char *name, uint32_t id, struct idrange *r, size_t max,
                       struct err *e)
{
        FILE *f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                return err_set(e, errno, "read %s", path);
        }
        char line[512];
        char idstr[16];
        snprintf(idstr, sizeof idstr, "%" PRIu32, id);
        int found = 0;
        uint32_t next = 1;
        while ((size_t)found < max && next < UINT32_MAX && fgets(line, sizeof line, f)) {
                char *c1 = strchr(line, ':');
                if (!c1)
                        continue;
                *c1 = '\0';
                if (strcmp(line, name) && strcmp(line, idstr))
                        continue;
                unsigned long s, n;
                if (sscanf(c1 + 1, "%lu:%lu", &s, &n) == 2 && n > 0 && s > 0 && s <= UINT32_MAX - n) {
                        uint32_t count = (uint32_t)(n < UINT32_MAX - next ? n : UINT32_MAX - next);
                        r[found++] = (struct idrange){ next, (uint32_t)s, count };
                        next += count;
                }
        }
        fclose(f);
        return found;
}

static int load_sub(struct idmap *m, bool gid, uint32_t self, struct err *e)
{
        const char *file = gid ? "/etc/subgid" : "/etc/subuid";
        struct idrange *r = gid ? m->gid : m->uid;
        size_t *n = gid ? &m->n_gid : &m->n_uid;
        char *src = gid ? m->gid_source : m->uid_source;
        int found = find_subids(file, m->user, gid ? getgid() : getuid(), r + 1, IDMAP_MAX - 1, e);
        if (found < 0)
                return found;
        r[0] = (struct idrange){ 0, self, 1 };
        *n = 1 + (size_t)found;
        if (found == 1)
                snprintf(src, 96, "%s", file);
        else if (found)
                snprintf(src, 96, "%s, %d ranges", file, found);
        else {
                snprintf(src, 96, "none in %s for %s", file, m->user);
        }
        return found;
}

int idmap_current(struct idmap *m, struct err *e)
{
        memset(m, 0, sizeof *m);
        uid_t uid = getuid();
        struct passwd *pw = getpwuid(uid);
        if (pw)
                snprintf(m->user, sizeof m->user, "%s", pw->pw_name);
        else
                snprintf(m->user, sizeof m->user, "%u", (unsigned)uid);
        if (!userns_in_initial()) {
                m->rootless = m->nested = true;
                ssize_t nu = read_proc_map("/proc/self/uid_map", m->uid);
                ssize_t ng = read_proc_map("/proc/self/gid_map", m->gid);
                m->n_uid = nu > 0 ? (size_t)nu : 0;
                m->n_gid = ng > 0 ? (size_t)ng : 0;
                m->single = m->n_uid == 1 && m->uid[0].count == 1;
                snprintf(m->uid_source, sizeof m->uid_source, "/proc/self/uid_map");
                snprintf(m->gid_source, sizeof m->gid_source, "/proc/self/gid_map");
                return 0;
        }
        if (uid == 0) {
                m->uid[0] = m->gid[0] = (struct idrange){ 0, 0, UINT32_MAX };
                m->n_uid = m->n_gid = 1;
                snprintf(m->uid_source, sizeof m->uid_source, "root: the host's ids");
                snprintf(m->gid_source, sizeof m->gid_source, "root: the host's ids");
                return 0;
        }
        m->rootless = true;
        int ru = load_sub(m, false, uid, e);
        if (ru < 0)
                return ru;
        int rg = load_sub(m, true, getgid(), e);
        if (rg < 0)
                return rg;
        if (!ru || !rg) {        /* both ranges, or the single mapping for both */
                m->single = true;
                m->n_uid = m->n_gid = 1;
        }
        return 0;
}

uint32_t idmap_max_inside(const struct idrange *r, size_t n)
{
        uint32_t max = 0;
        for (size_t i = 0; i < n; i++)
                if (r[i].count && r[i].inside + (r[i].count - 1) > max)
                        max = r[i].inside + (r[i].count - 1);
        return max;
}

bool idmap_lookup(const struct idrange *r, size_t n, uint32_t id, bool out, uint32_t *res)
{
        for (size_t i = 0; i < n; i++) {
                uint32_t from = out ? r[i].inside : r[i].outside;
                uint32_t to = out ? r[i].outside : r[i].inside;
                if (id >= from && id - from < r[i].count) {
                        *res = to + (id - from);
                        return true;
                }
        }
        return false;
}

void idmap_format(const struct idrange *r, size_t n, char *buf, size_t len)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && off < len; i++) {
                int k = snprintf(buf + off, len - off, "%s%" PRIu32 ":%" PRIu32 ":%" PRIu32, i ? ":" : "",
                                 r[i].inside, r[i].outside, r[i].count);
                if (k < 0)
                        return;
                off += (size_t)k;
        }
}

int idmap_parse(const char *s, struct idrange *r, size_t *n)
{
        *n = 0;
        const char *p = s;
        while (*p) {
                unsigned long v[3];
                for (int k = 0; k < 3; k++) {
                        char *end;
                        errno = 0;
                        v[k] = strtoul(p, &end, 10);
                        if (end == p || errno || v[k] > UINT32_MAX || (*end != ':' && *end != '\0'))
                                return -EINVAL;
                        if (*end == '\0' && k < 2)
                                return -EINVAL;
                        if (*end == ':' && end[1] == '\0')
                                return -EINVAL;         /* a trailing ':' */
                        p = *end ? end + 1 : end;
                }
                if (*n >= IDMAP_MAX || v[2] == 0)
                        return -EINVAL;
                r[(*n)++] = (struct idrange){ (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2] };
        }
        return *n ? 0 : -EINVAL;
}

static int write_proc(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write_all(fd, text, strlen(text)) < 0 ? -errno : 0;
}

/* Start "newuidmap PID 0 1000 1 1 100000 65536" (or newgidmap): its pid,
 * or -1 with a reason in @why. */
static pid_t start_newidmap(const char *prog, pid_t pid, const struct idrange *r, size_t n, char *why,
                            size_t wlen)
{
        char *argv[2 + 3 * IDMAP_MAX + 1];
        char nums[1 + 3 * IDMAP_MAX][16];
        size_t k = 0;
        argv[k++] = (char *)prog;
        snprintf(nums[0], sizeof nums[0], "%d", (int)pid);
        argv[k++] = nums[0];
        for (size_t i = 0; i < n; i++) {
                uint32_t v[3] = { r[i].inside, r[i].outside, r[i].count };
                for (int j = 0; j < 3; j++) {
                        snprintf(nums[1 + 3 * i + j], sizeof nums[0], "%" PRIu32, v[j]);
                        argv[k++] = nums[1 + 3 * i + j];
                }
        }
        argv[k] = NULL;
        pid_t c = fork();
        if (c < 0) {
                snprintf(why, wlen, "fork: %s", strerror(errno));
                return -1;
        }
        if (c == 0) {
                execvp(prog, argv);
                _exit(127);
        }
        return c;
}

/* Wait for start_newidmap()'s @c: 0, or -1 with a reason in @why. */
static int wait_newidmap(const char *prog, pid_t c, pid_t pid, char *why, size_t wlen)
{
        int st;
        while (waitpid(c, &st, 0) < 0)
                if (errno != EINTR)
                        return -1;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                snprintf(why, wlen, "%s is not installed (Debian's uidmap package)", prog);
        else
                snprintf(why, wlen, "%s %d failed (see its message above)", prog, (int)pid);
        return -1;
}

/* Map @pid's ids: newuidmap and newgidmap run side by side (each is a
 * setuid program to load: one wait instead of two).  0, or -1 with the
 * first failure's reason in @why. */
static int map_ids(const struct idmap *m, pid_t pid, char *why, size_t wlen)
{
        char gwhy[256] = "";
        pid_t u = start_newidmap("newuidmap", pid, m->uid, m->n_uid, why, wlen);
        pid_t g = start_newidmap("newgidmap", pid, m->gid, m->n_gid, gwhy, sizeof gwhy);
        int ru = u < 0 ? -1 : wait_newidmap("newuidmap", u, pid, why, wlen);
        int rg = g < 0 ? -1 : wait_newidmap("newgidmap", g, pid, gwhy, sizeof gwhy);
        if (ru == 0 && rg < 0)
                snprintf(why, wlen, "%s", gwhy);
        return ru < 0 || rg < 0 ? -1 : 0;
}

static int enter_single(const struct idmap *m, struct err *e)
{
        char text[64];
        if (write_proc("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
                return err_set(e, errno, "user namespace: write /proc/self/setgroups");
        snprintf(text, sizeof text, "0 %" PRIu32 " 1\n", m->uid[0].outside);
        int r = write_proc("/proc/self/uid_map", text);
        if (r < 0)
                return err_set(e, -r, "user namespace: write uid_map");
        snprintf(text, sizeof text, "0 %" PRIu32 " 1\n", m->gid[0].outside);
        r = write_proc("/proc/self/gid_map", text);
        if (r < 0)
                return err_set(e, -r, "user namespace: write gid_map");
        return 0;
}

/* Be root of the user namespace just entered: uid and gid 0 and, with
 * @groups, no supplementary groups (a namespace of one id denies
 * setgroups: the groups stay). */
static int become_root(bool groups, struct err *e)
{
        if (setresgid(0, 0, 0) < 0)
                return err_set(e, errno, "user namespace: setresgid 0");
        if (groups && setgroups(0, NULL) < 0 && errno != EPERM)
                return err_set(e, errno, "user namespace: setgroups");
        if (setresuid(0, 0, 0) < 0)
                return err_set(e, errno, "user namespace: setresuid 0");
        return 0;
}

/* A new user namespace with @m's maps, this process its root. */
static int enter_new(const struct idmap *m, struct err *e)
{
        int go[2], done[2];
        pid_t helper = -1;
        if (!m->single) {
                /* the helper waits until we have unshared, then maps us */
                if (pipe2(go, O_CLOEXEC) < 0)
                        return err_set(e, errno, "pipe");
                if (pipe2(done, O_CLOEXEC) < 0) {
                        close(go[0]);
                        close(go[1]);
                        return err_set(e, errno, "pipe");
                }
                pid_t self = getpid();
                fflush(NULL);
                helper = fork();
                if (helper < 0) {
                        int s = errno;
                        close(go[0]), close(go[1]), close(done[0]), close(done[1]);
                        return err_set(e, s, "fork");
                }
                if (helper == 0) {
                        close(go[1]);
                        close(done[0]);
                        char c, why[256] = "";
                        if (read(go[0], &c, 1) != 1)
                                _exit(1);
                        int r = map_ids(m, self, why, sizeof why);
                        if (r < 0)
                                (void)!write(done[1], why, strlen(why));
                        _exit(r < 0 ? 1 : 0);
                }
                close(go[0]);
                close(done[1]);
        }
        int r = 0;
        if (unshare(CLONE_NEWUSER) < 0) {
                int s = errno;
                if (helper > 0) {
                        close(go[1]);
                        close(done[0]);
                        waitpid(helper, NULL, 0);
                }
                if (s == EPERM || s == ENOSPC || s == EUSERS)
                        return err_set(e, s, "cannot create a user namespace (user namespaces are off here: "
                                             "sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)");
                return err_set(e, s, "unshare(CLONE_NEWUSER)");
        }
        if (helper > 0) {
                (void)!write(go[1], "1", 1);
                close(go[1]);
                char why[257];
                ssize_t n = read_full(done[0], why, sizeof why - 1);
                close(done[0]);
                int st = 0;
                while (waitpid(helper, &st, 0) < 0 && errno == EINTR)
                        ;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        why[n > 0 ? n : 0] = '\0';
                        return err_setx(e, EPERM, "map ids 0-%" PRIu32 " of the user namespace: %s",
                                        idmap_max_inside(m->uid, m->n_uid), n > 0 ? why : "newuidmap failed");
                }
        } else {
                r = enter_single(m, e);
                if (r < 0)
                        return r;
        }
        return become_root(!m->single, e);
}

/* The user namespace of @pid, opened (for setns), or -1 with errno; with
 * @start, only while @pid is still the process that started then (not a
 * new one given its number). */
static int open_userns(pid_t pid, unsigned long long start)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && start && proc_start(pid) != start) {
                close(fd);
                errno = ESRCH;
                return -1;
        }
        return fd;
}

/* ---- the pause process: one namespace for all of a user's commands ----
 *
 * Entering a new namespace runs newuidmap and newgidmap, two setuid
 * programs, for every command.  As podman does, the first command leaves a
 * process behind that only waits in the namespace ("strata-pause"), and the
 * next ones join it (setns): the same ids, the same namespace, none of the
 * helpers.  Its pid and start time are in $XDG_RUNTIME_DIR/strata-pause.pid
 * (a directory of the user's own, mode 0700: without one, every command
 * makes its namespace anew, as before).  A pause process whose maps are no
 * longer what /etc/subuid and /etc/subgid give is killed and replaced. */

static char *pause_file(void)
{
        const char *rt = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        if (!rt || rt[0] != '/' || lstat(rt, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
            (st.st_mode & 077))
                return NULL;
        return xasprintf("%s/strata-pause.pid", rt);
}

static bool same_ranges(const struct idrange *a, size_t na, const struct idrange *b, size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (a[i].inside != b[i].inside || a[i].outside != b[i].outside || a[i].count != b[i].count)
                        return false;
        return true;
}

/* The pause process the file names, when it is alive, the user's, and its
 * namespace has @m's maps: its pid, its start time in @start; else 0 (a
 * stale one is killed). */
static pid_t pause_find(const struct idmap *m, const char *file, unsigned long long *pstart)
{
        char buf[64] = "";
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || read_full(fd, buf, sizeof buf - 1) <= 0)
                return 0;
        int pid = 0;
        unsigned long long start = 0;
        if (sscanf(buf, "%d %llu", &pid, &start) != 2 || pid <= 0 || !start || proc_start(pid) != start)
                return 0;
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%d", pid);
        if (stat(path, &st) < 0 || st.st_uid != getuid())
                return 0;
        struct idrange u[IDMAP_MAX], g[IDMAP_MAX];
        snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
        ssize_t nu = read_proc_map(path, u);
        snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
        ssize_t ng = read_proc_map(path, g);
        if (nu < 0 || ng < 0 || !same_ranges(u, (size_t)nu, m->uid, m->n_uid) ||
            !same_ranges(g, (size_t)ng, m->gid, m->n_gid)) {
                kill(pid, SIGKILL);     /* /etc/subuid changed: its namespace is not the user's now */
                return 0;
        }
        *pstart = start;
        return pid;
}

/* Leave a pause process in the namespace just made (this process is its
 * root; no mount namespace of its own yet).  Best effort: without it, the
 * next command makes its own namespace. */
static void pause_start(const char *file)
{
        _cleanup_close_ int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                return;         /* another command is starting one */
        fflush(NULL);
        pid_t c = fork();
        if (c < 0)
                return;
        if (c == 0) {
                setsid();
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, 0);
                        dup2(null, 1);
                        dup2(null, 2);
                }
                close_range(3, ~0U, 0);
                (void)!chdir("/");
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_IGN);
                signal(SIGHUP, SIG_IGN);
                prctl(PR_SET_NAME, "strata-pause");
                for (;;)
                        pause();
        }
        /* (the child is in /proc from fork() on) */
        unsigned long long start = proc_start(c);
        if (!start)
                return;
        char line[64];
        int n = snprintf(line, sizeof line, "%d %llu\n", (int)c, start);
        if (ftruncate(fd, 0) == 0)
                (void)!pwrite(fd, line, (size_t)n, 0);
}

int userns_enter(const struct idmap *m, bool mount, struct err *e)
{
        _cleanup_free_ char *file = m->single ? NULL : pause_file();
        unsigned long long start = 0;
        pid_t pause_pid = file ? pause_find(m, file, &start) : 0;
        _cleanup_close_ int ns = pause_pid > 0 ? open_userns(pause_pid, start) : -1;
        int r;
        if (ns >= 0 && setns(ns, CLONE_NEWUSER) == 0) {
                r = become_root(true, e);
        } else {
                r = enter_new(m, e);
                if (r == 0 && file)
                        pause_start(file);
        }
        if (r == 0 && mount && unshare(CLONE_NEWNS) < 0)
                r = err_set(e, errno, "unshare(CLONE_NEWNS)");
        return r;
}

int userns_join(pid_t pid, struct err *e)
{
        _cleanup_close_ int fd = open_userns(pid, 0);
        if (fd < 0)
                return err_set(e, errno, "open /proc/%d/ns/user", (int)pid);
        if (setns(fd, CLONE_NEWUSER) < 0)
                return err_set(e, errno, "join the user namespace of pid %d", (int)pid);
        return become_root(true, e);
}

bool override_stat_parse(const char *v, size_t len, uint32_t *uid, uint32_t *gid, mode_t *mode)
{
        char b[96];
        if (!v || len >= sizeof b)
                return false;
        memcpy(b, v, len);
        b[len] = '\0';
        char *end;
        errno = 0;
        unsigned long u = strtoul(b, &end, 10);
        if (end == b || *end != ':')
                return false;
        char *p = end + 1;
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || *end != ':')
                return false;
        p = end + 1;
        unsigned long m = strtoul(p, &end, 8);
        if (end == p || (*end != ':' && *end) || errno || u > UINT32_MAX - 1 || g > UINT32_MAX - 1 || m > 07777)
                return false;
        *uid = (uint32_t)u;
        *gid = (uint32_t)g;
        *mode = (mode_t)m;
        return true;
}
