/* strata run [OPTIONS] IMAGE [CMD...] — mount an image with a fresh writable
 * layer and run a command in it, in new namespaces (docker run); or, with
 * --rootfs DIR (podman's option), run in a directory the user made.
 *
 * An image run is a store mount like `strata mount`'s, with its mount point
 * inside its record: ROOT/mounts/<ID>/rootfs, where ID (12 hex) is also the
 * container's hostname, as docker's container id is.  Once the command has
 * exited the union is unmounted; --rm drops the record and the writable
 * layer, else both stay so that `strata diff ROOT/mounts/<ID>/rootfs` shows
 * what the command changed (and `strata umount` of that path drops them). */
#include "cli.h"
#include "daemon.h"
#include "detach.h"
#include "fetchcfg.h"
#include "util/userns.h"
#include "fs/fs.h"
#include "pull.h"
#include "runmount.h"
#include "runspec.h"
#include "sandbox.h"
#include "store/store.h"

#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

struct run_opts {
        bool interactive, tty, rm, privileged, read_only, detach;
        bool net_none;                 /* --network none */
        const char *workdir, *user, *name, *hostname, *entrypoint, *rootfs, *platform;
        const char *driver;            /* --driver: fuse or kernel (NULL: the configuration's) */
        char **env;            /* -e, in order */
        size_t n_env;
        struct sandbox_bind *binds;    /* -v, in order; strings point into argv */
        size_t n_binds;
        uint64_t cap_add, cap_drop;    /* --cap-add, --cap-drop */
        struct sandbox_tmpfs *tmpfs;   /* --tmpfs, in order; strings point into argv */
        size_t n_tmpfs;
        char **env_files;              /* --env-file, in order */
        size_t n_env_files;
        char **group_add;              /* --group-add, in order */
        size_t n_group_add;
};

/* parse_tmpfs() - docker's --tmpfs PATH[:OPTIONS], in place in @arg: the
 * mount flags among OPTIONS become flags, the rest stays tmpfs data.
 * docker's defaults: noexec, nosuid. */
static int parse_tmpfs(char *arg, struct run_opts *o, struct err *e)
{
        static const struct { const char *name; unsigned long set, clear; } words[] = {
                { "ro", MS_RDONLY, 0 }, { "rw", 0, MS_RDONLY },
                { "exec", 0, MS_NOEXEC }, { "noexec", MS_NOEXEC, 0 },
                { "suid", 0, MS_NOSUID }, { "nosuid", MS_NOSUID, 0 },
                { "dev", 0, 0 }, { "nodev", 0, 0 },            /* nodev is the sandbox's call */
        };
        char *opts = strchr(arg, ':');
        if (opts)
                *opts++ = '\0';
        if (arg[0] != '/')
                return err_setx(e, EINVAL, "tmpfs %s: the path must be absolute", arg);
        struct sandbox_tmpfs t = { .target = arg, .flags = MS_NOEXEC | MS_NOSUID };
        /* keep the data words in place, at the front of @opts */
        char *data = opts, *w = opts;
        for (char *tok = opts ? strsep(&opts, ",") : NULL; tok; tok = opts ? strsep(&opts, ",") : NULL) {
                size_t i;
                for (i = 0; i < ARRAY_SIZE(words) && strcmp(tok, words[i].name); i++)
                        ;
                if (i < ARRAY_SIZE(words)) {
                        t.flags = (t.flags | words[i].set) & ~words[i].clear;
                } else if (*tok) {
                        if (w != data)
                                *w++ = ',';
                        memmove(w, tok, strlen(tok));
                        w += strlen(tok);
                }
        }
        if (data) {
                *w = '\0';
                t.data = *data ? data : NULL;
        }
        o->tmpfs = xrealloc(o->tmpfs, (o->n_tmpfs + 1) * sizeof *o->tmpfs);
        o->tmpfs[o->n_tmpfs++] = t;
        return 0;
}

/* parse_cap() - one --cap-add/--cap-drop name into @mask. */
static int parse_cap(const char *name, uint64_t *mask, struct err *e)
{
        uint64_t bits;
        if (sandbox_cap_parse(name, &bits) < 0)
                return err_setx(e, EINVAL, "unknown capability: \"%s\"", name);
        *mask |= bits;
        return 0;
}

/* parse_volume() - docker's -v HOST:CTR[:ro|rw], in place in @arg. */
static int parse_volume(char *arg, struct run_opts *o, struct err *e)
{
        char *ctr = strchr(arg, ':');
        char *mode = ctr ? strchr(ctr + 1, ':') : NULL;
        if (ctr)
                *ctr++ = '\0';
        if (mode)
                *mode++ = '\0';
        if (!ctr || !*ctr || (mode && strcmp(mode, "ro") && strcmp(mode, "rw")))
                return err_setx(e, EINVAL, "invalid volume specification: expected HOST:CONTAINER[:ro|rw]");
        if (arg[0] != '/')
                return err_setx(e, EINVAL, "volume %s: the host path must be absolute (strata has no named volumes)",
                                arg);
        if (ctr[0] != '/')
                return err_setx(e, EINVAL, "volume %s: the container path must be absolute", ctr);
        o->binds = xrealloc(o->binds, (o->n_binds + 1) * sizeof *o->binds);
        o->binds[o->n_binds++] = (struct sandbox_bind){ arg, ctr, mode && !strcmp(mode, "ro") };
        return 0;
}

static void argv_free(char **v);

static void run_opts_free(struct run_opts *o)
{
        argv_free(o->env);
        argv_free(o->env_files);
        argv_free(o->group_add);
        free(o->binds);
        free(o->tmpfs);
}

/* argv_push() - append to a NULL-terminated vector (*@n strings so far). */
static void argv_push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

static void argv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

/* env_set() - "K=V" replaces an entry for K, or is appended. */
static void env_set(char ***env, size_t *n, const char *kv)
{
        size_t kl = strcspn(kv, "=");
        for (size_t i = 0; i < *n; i++)
                if (!strncmp((*env)[i], kv, kl) && (*env)[i][kl] == '=') {
                        free((*env)[i]);
                        (*env)[i] = xstrdup(kv);
                        return;
                }
        argv_push(env, n, xstrdup(kv));
}

/* What the command will be: the image's config, then the user's options. */
struct run_plan {
        char **argv;
        size_t argc;
        char **env;
        size_t n_env;
        char *workdir, *user;
};

static void run_plan_free(struct run_plan *p)
{
        argv_free(p->argv);
        argv_free(p->env);
        free(p->workdir);
        free(p->user);
}

static void push_json_strings(char ***v, size_t *n, json_t *arr)
{
        size_t i;
        json_t *it;
        if (!json_is_array(arr))
                return;
        json_array_foreach(arr, i, it)
                if (json_is_string(it))
                        argv_push(v, n, xstrdup(json_string_value(it)));
}

static char *json_str_dup(json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s && *s ? xstrdup(s) : NULL;
}

/* make_plan() - docker's rules: --entrypoint replaces the image's
 * Entrypoint and drops its Cmd; CMD given replaces the Cmd; -e adds to or
 * overrides the image's Env; PATH defaults to docker's. @config is the
 * image config's "config" object, or NULL. */
static int make_plan(const struct run_opts *o, json_t *config, char **cmd, int n_cmd,
                     struct run_plan *p, struct err *e)
{
        if (o->entrypoint) {
                if (*o->entrypoint)
                        argv_push(&p->argv, &p->argc, xstrdup(o->entrypoint));
        } else if (config) {
                push_json_strings(&p->argv, &p->argc, json_object_get(config, "Entrypoint"));
        }
        if (n_cmd > 0)
                for (int i = 0; i < n_cmd; i++)
                        argv_push(&p->argv, &p->argc, xstrdup(cmd[i]));
        else if (config && !o->entrypoint)
                push_json_strings(&p->argv, &p->argc, json_object_get(config, "Cmd"));
        if (!p->argc)
                return err_setx(e, EINVAL, "no command specified");

        if (config) {
                size_t i;
                json_t *it;
                json_array_foreach(json_object_get(config, "Env"), i, it)
                        if (json_is_string(it) && strchr(json_string_value(it), '='))
                                env_set(&p->env, &p->n_env, json_string_value(it));
        }
        bool has_path = false;
        for (size_t i = 0; i < p->n_env; i++)
                has_path |= !strncmp(p->env[i], "PATH=", 5);
        if (!has_path)
                env_set(&p->env, &p->n_env, "PATH=" SANDBOX_DEFAULT_PATH);
        for (size_t i = 0; i < o->n_env; i++) {
                const char *kv = o->env[i];
                if (strchr(kv, '=')) {
                        env_set(&p->env, &p->n_env, kv);
                } else {
                        /* docker: "-e NAME" passes the host's value when it has one */
                        const char *v = getenv(kv);
                        if (v) {
                                _cleanup_free_ char *s = xasprintf("%s=%s", kv, v);
                                env_set(&p->env, &p->n_env, s);
                        }
                }
        }
        p->workdir = o->workdir ? xstrdup(o->workdir) : config ? json_str_dup(config, "WorkingDir") : NULL;
        if (p->workdir && p->workdir[0] != '/')
                return err_setx(e, EINVAL, "the working directory '%s' is invalid, it needs to be an absolute path",
                                p->workdir);
        p->user = o->user ? xstrdup(o->user) : config ? json_str_dup(config, "User") : NULL;
        return 0;
}

/* fill_sandbox() - the sandbox options for @p under @o (rootfs and the
 * started hook left for the caller). */
static void fill_sandbox(const struct run_opts *o, const char *hostname, const struct run_plan *p,
                         struct sandbox_opts *so)
{
        *so = (struct sandbox_opts){
                .new_net = o->net_none,
                .argv = p->argv,
                .env = p->env,
                .workdir = p->workdir,
                .user = p->user,
                .group_add = o->group_add,
                .n_group_add = o->n_group_add,
                .hostname = o->hostname ? o->hostname : hostname,
                .tty = o->tty,
                .interactive = o->interactive,
                .privileged = o->privileged,
                /* docker: drop (ALL first), then add */
                .custom_caps = o->cap_add || o->cap_drop,
                .caps = ((o->cap_drop == ~0ULL ? 0 : sandbox_default_caps() & ~o->cap_drop)) | o->cap_add,
                .read_only = o->read_only,
                .binds = o->binds,
                .n_binds = o->n_binds,
                .tmpfs = o->tmpfs,
                .n_tmpfs = o->n_tmpfs,
        };
}

/* run_rootfs() - podman's --rootfs: the directory is the root, as it is. */
static int run_rootfs(const struct run_opts *o, char **cmd, int n_cmd, int *status, struct err *e)
{
        struct run_plan p = { 0 };
        int r = make_plan(o, NULL, cmd, n_cmd, &p, e);
        struct sandbox_opts so;
        fill_sandbox(o, NULL, &p, &so);
        so.rootfs = o->rootfs;
        if (r >= 0)
                r = sandbox_run(&so, status, e);
        run_plan_free(&p);
        return r;
}

/* docker run's exit codes: 125 for every error of strata's own (usage
 * too), 126 the command cannot be invoked, 127 it is not found (both from
 * sandbox_run()), else the command's status. */
#define RUN_FAILED 125

/* ------------------------------------------------------------ image mode */

/* mount_for_run() - a fresh writable layer over @im, mounted at
 * ROOT/mounts/<ID>/rootfs; the record is written with the daemon's pid so
 * that rmi sees the image in use. */
int mount_for_run(struct store *s, const struct store_image *im, const char *label, bool kernel,
                  const char *name, struct run_mount *rm, struct err *e)
{
        /* The record comes first (it picks the ID), so it is made with "/"
         * as a stand-in and saved again with the real mount point. */
        int r = store_mount_create(s, im->id, "/", NULL, name, &rm->m, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *dir = realpath(rm->m.dir, NULL);
        if (!dir)
                return err_set(e, errno, "mount record %s", rm->m.dir);
        free(rm->m.mountpoint);
        rm->m.mountpoint = xasprintf("%s/rootfs", dir);
        if (mkdir(rm->m.mountpoint, 0755) < 0)
                return err_set(e, errno, "create %s", rm->m.mountpoint);
        r = store_mount_save(s, &rm->m, e);
        if (r < 0)
                return r;
        return mount_record(s, im, label, kernel, rm, e);
}

int mount_record(struct store *s, const struct store_image *im, const char *label, bool kernel,
                 struct run_mount *rm, struct err *e)
{
        int r;
        struct fs_config cfg = { 0 };
        _cleanup_free_ char *empty = xasprintf("%s/empty", rm->m.dir);
        image_lowers(s, im, empty, &cfg);
        cfg.upper = realpath(rm->m.upper, NULL);
        cfg.work = realpath(rm->m.work, NULL);
        if (!cfg.upper || !cfg.work) {
                fs_config_free(&cfg);
                return err_set(e, errno, "the writable layer of mount %s", rm->m.id);
        }
        cfg.fsname = xstrdup(label);
        cfg.allow_other = true;        /* -u 1000 must get in (default_permissions checks) */
        rootless_fs_config(s, &cfg);
        r = fs_check_config(&cfg, e);
        if (r >= 0 && kernel)           /* --driver kernel: no daemon */
                r = fs_kernel_mount(&cfg, rm->m.mountpoint, e);
        else if (r >= 0)
                r = daemon_start(&cfg, rm->m.mountpoint, true, NULL, NULL, &rm->daemon, e);
        fs_config_free(&cfg);
        if (r < 0)
                return r;
        rm->mounted = true;
        rm->m.pid = kernel ? STORE_MOUNT_KERNEL : (int)rm->daemon;
        struct err ignore = { 0 };
        (void)store_mount_save(s, &rm->m, &ignore);
        return 0;
}

/* reap_daemon() - wait for the daemon to leave after the unmount: 10 s,
 * then SIGKILL (a hung daemon must not hang the run). */
static void reap_daemon(pid_t pid)
{
        for (int i = 0; i < 1000; i++) {
                pid_t w = waitpid(pid, NULL, WNOHANG);
                if (w == pid || (w < 0 && errno != EINTR))
                        return;
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* unmount_after_run() - unmount, wait for the daemon, then drop the record
 * and the writable layer (@drop) or keep them for `strata diff`. */
int unmount_after_run(struct store *s, struct run_mount *rm, bool drop, struct err *e)
{
        int r = 0;
        if (rm->mounted) {
                r = fs_umount(rm->m.mountpoint, e);
                if (r < 0 && rm->daemon > 0)
                        kill(rm->daemon, SIGTERM);
                if (rm->daemon > 0)
                        reap_daemon(rm->daemon);
                rm->mounted = false;
        }
        if (!rm->m.id)
                return r;
        struct err e2 = { 0 };
        int r2;
        if (drop) {
                r2 = store_mount_remove(s, &rm->m, &e2);
        } else {
                rm->m.pid = 0;
                r2 = store_mount_save(s, &rm->m, &e2);
        }
        if (r2 < 0 && r == 0) {
                *e = e2;
                r = r2;
        }
        return r;
}

/* pull_missing() - docker run's habit: an image not in the store is pulled
 * first, its progress on stderr (stdout belongs to the command). */
int pull_missing(struct store *s, const char *ref, const char *platform, struct err *e)
{
        struct fetch_setup fs;
        int r = fetch_setup_load(&fs, NULL, e);   /* mirrors, insecure registries, certs */
        if (r < 0)
                return r;
        fprintf(stderr, "Unable to find image '%s' locally\n", ref);
        fflush(stdout);
        int saved = dup(1);
        if (saved < 0 || dup2(2, 1) < 0) {
                fetch_setup_free(&fs);
                return err_set(e, errno, "redirect the pull's output");
        }
        struct pull_opts po = { .cfg = &fs.fc, .platform = platform };
        fetch_opts_from_env(&po.fetch);
        if (!po.platform) {
                const char *dp = getenv("DOCKER_DEFAULT_PLATFORM");
                po.platform = dp && *dp ? dp : NULL;
        }
        r = pull_image(s, ref, &po, e);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        fetch_setup_free(&fs);
        return r < 0 ? err_wrap(e, "pull %s", ref) : 0;
}

/* run_name_valid() - --name NAME: docker's name syntax (that no other
 * record has it is checked under the store lock, store_mount_create()). */
static int run_name_valid(const char *name, struct err *e)
{
        size_t n = strlen(name);
        bool ok = n >= 2 && isalnum((unsigned char)name[0]);
        for (size_t i = 1; ok && i < n; i++)
                ok = isalnum((unsigned char)name[i]) || strchr("_.-", name[i]);
        if (!ok)
                return err_setx(e, EINVAL, "invalid name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-]+ are allowed", name);
        return 0;
}

/* What the run's process hears when the command has started. */
struct run_started {
        struct store *s;
        struct run_mount *rm;
        struct detach *d;      /* run -d: the caller waiting for the ID, or NULL */
};

/* on_started() - the command's pid and start time into the record (ps,
 * stop, exec find it there); a detached run's caller is told the ID. */
static void on_started(pid_t pid, void *ctx)
{
        struct run_started *c = ctx;
        c->rm->m.run_pid = (int)pid;
        c->rm->m.run_start = store_proc_start((int)pid);
        c->rm->m.started = time(NULL);
        struct err ignore = { 0 };
        (void)store_mount_save(c->s, &c->rm->m, &ignore);
        if (c->d)
                detach_started(c->d, c->rm->m.id);
}

/* run_mounted() - the command over the mounted record @rm, its status
 * recorded; a detached run's output goes to the run's log. */
static int run_mounted(struct sandbox_opts *so, struct store *s, struct run_mount *rm, struct detach *d, int *status,
                       struct err *e)
{
        struct runlog log = { 0 };
        if (d) {
                _cleanup_free_ char *path = xasprintf("%s/ctr.log", rm->m.dir);
                int r = runlog_open(&log, path, e);
                if (r < 0)
                        return r;
        }
        struct run_started c = { s, rm, d };
        debugf("run: image %s mounted at %s (daemon %d)", rm->m.image, rm->m.mountpoint, (int)rm->daemon);
        so->rootfs = rm->m.mountpoint;
        if (!so->hostname)
                so->hostname = rm->m.id;       /* docker's: the container's ID */
        so->started = on_started;
        so->started_ctx = &c;
        int r = sandbox_run(so, status, e);
        debugf("run: exit status %d", *status);
        if (r >= 0) {
                rm->m.exit_code = *status;    /* saved with the kept record, for `strata ps -a` */
                rm->m.finished = time(NULL);
        }
        if (d)
                runlog_close(&log);
        return r;
}

static int run_image(const struct run_opts *o, const char *ref, char **cmd, int n_cmd,
                     int *status, struct err *e)
{
        struct store *s = NULL;
        struct store_image im = { 0 };
        json_t *config = NULL;
        struct run_plan p = { 0 };
        struct run_mount rm = { .daemon = -1 };
        struct detach d = { .fd = -1 };
        bool supervisor = false;
        int r = open_store(&s, e);
        if (r < 0)
                return r;
        r = lookup_image(s, ref, &im, NULL, e);
        if (r == -ENOENT) {
                err_clear(e);
                r = pull_missing(s, ref, o->platform, e);
                if (r >= 0)
                        r = lookup_image(s, ref, &im, NULL, e);
        }
        if (r >= 0)
                r = image_config_json(s, &im, &config, e);
        if (r >= 0)
                r = make_plan(o, json_object_get(config, "config"), cmd, n_cmd, &p, e);
        if (r >= 0 && o->name)
                r = run_name_valid(o->name, e);
        bool kernel = false;
        if (r >= 0)
                r = mount_driver(o->driver, &kernel, e);
        if (r >= 0 && o->detach) {
                r = detach_fork(&d, o->interactive, e);
                if (r == 0) {
                        /* the caller: the ID once the command runs, or why it did not */
                        char id[64];
                        r = detach_wait(&d, id, sizeof id, status, e);
                        if (r >= 0)
                                printf("%s\n", id);
                        goto out;
                }
                supervisor = r > 0;
        }
        if (r >= 0)
                r = mount_for_run(s, &im, ref, kernel, o->name, &rm, e);
        if (r >= 0) {
                /* what runs, for ps and for the history of a later `strata commit` */
                struct buf cmdline = BUF_INIT(1u << 20);
                for (size_t i = 0; i < p.argc; i++)
                        buf_printf(&cmdline, "%s%s", i ? " " : "", p.argv[i]);
                rm.m.command = buf_steal(&cmdline);
                struct err ignore = { 0 };
                (void)store_mount_save(s, &rm.m, &ignore);
        }
        struct sandbox_opts so;
        fill_sandbox(o, NULL, &p, &so);
        if (r >= 0) {
                /* what `strata start` runs again */
                _cleanup_free_ char *spec = xasprintf("%s/run.json", rm.m.dir);
                r = runspec_save(spec, &so, kernel, e);
        }
        if (r >= 0)
                r = run_mounted(&so, s, &rm, supervisor ? &d : NULL, status, e);
        if (supervisor && r < 0)
                detach_failed(&d, *status, e);
        struct err ue = { 0 };
        if (unmount_after_run(s, &rm, o->rm || r < 0, &ue) < 0 && r >= 0) {
                /* the command ran: its status stands, the failure is said once */
                err_wrap(&ue, "run %s: after the command", ref);
                report_err(&ue);
        }
out:
        run_plan_free(&p);
        json_decref(config);
        store_mount_free(&rm.m);
        store_image_free(&im);
        store_close(s);
        if (supervisor)
                _exit(r < 0 ? RUN_FAILED : *status);   /* nobody hears more */
        return r;
}

int start_kept_run(struct store *s, struct store_mount *m, bool attach, bool interactive, int *status,
                   struct err *e)
{
        *status = 0;
        if (store_mount_live(m) && !(m->command && m->finished))
                return 0;      /* docker: starting a running container does nothing */
        struct runspec rs;
        struct store_image im = { 0 };
        struct run_mount rm = { .daemon = -1 };
        struct detach d = { .fd = -1 };
        bool supervisor = false;
        _cleanup_free_ char *spec = xasprintf("%s/run.json", m->dir);
        int r = runspec_load(spec, &rs, e);
        if (r == -ENOENT)
                r = err_setx(e, ENOENT, "run %s kept no record of what it ran (a strata older than start, or a "
                                        "mount): it cannot start again", m->id);
        rs.so.interactive |= interactive;
        if (r >= 0 && (!m->image || store_find_image(s, m->image, &im, e) < 0))
                r = err_setx(e, ENOENT, "run %s: its image %.19s is no longer in the store", m->id,
                             m->image ? m->image : "(none)");
        if (r >= 0 && !attach) {
                r = detach_fork(&d, rs.so.interactive, e);
                if (r == 0) {
                        char id[64];
                        r = detach_wait(&d, id, sizeof id, status, e);
                        goto out;
                }
                supervisor = r > 0;
        }
        if (r >= 0) {
                rm.m = *m;
                memset(m, 0, sizeof *m);
                rm.m.finished = 0;
                rm.m.exit_code = -1;
                rm.m.creator = (int)getpid();
                rm.m.pid = 0;
                rm.m.run_pid = 0;
                r = store_mount_save(s, &rm.m, e);
        }
        if (r >= 0)
                r = mount_record(s, &im, rm.m.name ? rm.m.name : rm.m.id, rs.kernel, &rm, e);
        if (r >= 0)
                r = run_mounted(&rs.so, s, &rm, supervisor ? &d : NULL, status, e);
        if (supervisor && r < 0)
                detach_failed(&d, *status, e);
        struct err ue = { 0 };
        if (rm.m.id && unmount_after_run(s, &rm, false, &ue) < 0 && r >= 0) {
                err_wrap(&ue, "start %s: after the command", rm.m.id);
                report_err(&ue);
        }
out:
        store_mount_free(&rm.m);
        store_image_free(&im);
        runspec_free(&rs);
        if (supervisor)
                _exit(r < 0 ? RUN_FAILED : *status);
        return r;
}

int exec_in_run(struct store *s, const struct store_mount *m, const struct exec_opts *x, int *status, struct err *e)
{
        struct store_image im = { 0 };
        json_t *config = NULL;
        struct run_plan p = { 0 };
        *status = RUN_FAILED;
        if (!store_run_alive(m))
                return err_setx(e, EINVAL, "run %s is not running", m->id);
        int r = store_find_image(s, m->image, &im, e);
        if (r >= 0)
                r = image_config_json(s, &im, &config, e);
        /* the image's Env, WorkingDir and User, the command as given */
        struct run_opts o = { .env = x->env, .n_env = x->n_env, .workdir = x->workdir, .user = x->user,
                              .entrypoint = "" };
        if (r >= 0)
                r = make_plan(&o, json_object_get(config, "config"), x->argv, x->argc, &p, e);
        _cleanup_free_ char *root = xasprintf("/proc/%d/root", m->run_pid);
        struct sandbox_opts so = {
                .rootfs = root, .argv = p.argv, .env = p.env, .workdir = p.workdir, .user = p.user,
                .tty = x->tty, .interactive = x->interactive, .privileged = x->privileged, .join_pid = m->run_pid,
        };
        if (r >= 0)
                r = sandbox_run(&so, status, e);
        run_plan_free(&p);
        json_decref(config);
        store_image_free(&im);
        return r;
}

#define ENV_FILE_MAX (1u << 20)

/* read_env_files() - docker's --env-file: each line K=V, or K for the host's
 * value; blank lines and # comments skipped.  The files' entries come before
 * the -e ones (which so win), whatever the order on the command line. */
static int read_env_files(struct run_opts *o, struct err *e)
{
        char **files = o->env_files;
        size_t n_files = o->n_env_files;
        char **env = NULL;
        size_t n = 0;
        for (size_t i = 0; i < n_files; i++) {
                struct buf b = BUF_INIT(ENV_FILE_MAX);
                int r = read_file_bounded(files[i], ENV_FILE_MAX, &b, e);
                if (r < 0) {
                        buf_free(&b);
                        argv_free(env);
                        return err_wrap(e, "env file %s", files[i]);
                }
                char *save = NULL;
                for (char *l = strtok_r(b.data ? b.data : (char *)"", "\r\n", &save); l;
                     l = strtok_r(NULL, "\r\n", &save)) {
                        l += strspn(l, " \t");
                        if (*l && *l != '#')
                                argv_push(&env, &n, xstrdup(l));
                }
                buf_free(&b);
        }
        for (size_t i = 0; i < o->n_env; i++)
                argv_push(&env, &n, TAKE_PTR(o->env[i]));
        free(o->env);
        o->env = env;
        o->n_env = n;
        return 0;
}


int cmd_run(int argc, char **argv)
{
        static const struct option opts[] = {
                { "interactive", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                { "rm", no_argument, NULL, 'R' },
                { "env", required_argument, NULL, 'e' },
                { "env-file", required_argument, NULL, 'f' },
                { "workdir", required_argument, NULL, 'w' },
                { "user", required_argument, NULL, 'u' },
                { "group-add", required_argument, NULL, 'G' },
                { "name", required_argument, NULL, 'N' },
                { "hostname", required_argument, NULL, 'H' },
                { "entrypoint", required_argument, NULL, 'E' },
                { "volume", required_argument, NULL, 'v' },
                { "tmpfs", required_argument, NULL, 'T' },
                { "read-only", no_argument, NULL, 'r' },
                { "cap-add", required_argument, NULL, 'A' },
                { "cap-drop", required_argument, NULL, 'D' },
                { "privileged", no_argument, NULL, 'P' },
                { "platform", required_argument, NULL, 'L' },
                { "rootfs", required_argument, NULL, 'F' },
                { "driver", required_argument, NULL, 'K' },
                { "detach", no_argument, NULL, 'd' },
                { "network", required_argument, NULL, 'n' },
                { "net", required_argument, NULL, 'n' },
                { "publish", required_argument, NULL, 'X' },
                { 0 }
        };
        struct run_opts o = { 0 };
        struct err e = { 0 };
        int c, r = 0, status = RUN_FAILED;
        /* "+": options end at IMAGE; what follows belongs to the command. */
        while (r == 0 && (c = getopt_long(argc, argv, "+itde:w:u:v:p:", opts, NULL)) != -1) {
                switch (c) {
                case 'i': o.interactive = true; break;
                case 't': o.tty = true; break;
                case 'R': o.rm = true; break;
                case 'e': argv_push(&o.env, &o.n_env, xstrdup(optarg)); break;
                case 'f': argv_push(&o.env_files, &o.n_env_files, xstrdup(optarg)); break;
                case 'w': o.workdir = optarg; break;
                case 'u': o.user = optarg; break;
                case 'G': argv_push(&o.group_add, &o.n_group_add, xstrdup(optarg)); break;
                case 'N': o.name = optarg; break;
                case 'H': o.hostname = optarg; break;
                case 'E': o.entrypoint = optarg; break;
                case 'v': r = parse_volume(optarg, &o, &e); break;
                case 'T': r = parse_tmpfs(optarg, &o, &e); break;
                case 'r': o.read_only = true; break;
                case 'A': r = parse_cap(optarg, &o.cap_add, &e); break;
                case 'D': r = parse_cap(optarg, &o.cap_drop, &e); break;
                case 'P': o.privileged = true; break;
                case 'L': o.platform = optarg; break;
                case 'F': o.rootfs = optarg; break;
                case 'K': o.driver = optarg; break;
                case 'd': o.detach = true; break;
                case 'n':
                        o.net_none = !strcmp(optarg, "none");
                        if (!o.net_none && strcmp(optarg, "host"))
                                r = err_setx(&e, EINVAL, "--network %s: strata runs in the host's network (host) or in "
                                                         "none (loopback only); it makes no bridge", optarg);
                        break;
                case 'p':
                case 'X':
                        r = err_setx(&e, EINVAL, "-p %s: the run has no network namespace of its own to forward a "
                                                 "port into (it is the host's: the port is open as it is)", optarg);
                        break;
                default:
                        run_opts_free(&o);
                        (void)bad_option("run", argv);
                        return RUN_FAILED;
                }
        }
        if (r < 0) {
                run_opts_free(&o);
                (void)usage_error("run", "%s", e.msg);
                return RUN_FAILED;
        }
        if (!o.rootfs && optind >= argc) {
                run_opts_free(&o);
                (void)usage_error("run", "requires at least 1 argument: IMAGE [COMMAND...]");
                return RUN_FAILED;
        }
        if (o.detach && o.rootfs) {
                run_opts_free(&o);
                (void)usage_error("run", "-d with --rootfs: only an image's run is detached (it has a record)");
                return RUN_FAILED;
        }
        if (o.tty && o.interactive && !o.detach && !isatty(0)) {
                /* docker's refusal: a pty fed from a pipe loses its end of file */
                run_opts_free(&o);
                fprintf(stderr, "strata: run: the input device is not a TTY (drop -t to pipe into a command)\n");
                return RUN_FAILED;
        }
        const char *what = o.rootfs ? o.rootfs : argv[optind];
        if (geteuid() != 0) {
                /* said before anything is pulled or mounted (FUSE would
                 * refuse first, in libfuse's words and then ours) */
                run_opts_free(&o);
                fprintf(stderr, "strata: run %s: strata run needs root (it makes namespaces and mounts): "
                                "run it with sudo\n", what);
                return RUN_FAILED;
        }
        if (o.privileged && userns_rootless()) {
                run_opts_free(&o);
                fprintf(stderr, "strata: run %s: --privileged needs root: a user's container has the user's "
                                "privileges only (its root is the user outside)\n", what);
                return RUN_FAILED;
        }
        r = read_env_files(&o, &e);
        if (r >= 0 && o.rootfs)
                r = run_rootfs(&o, argv + optind, argc - optind, &status, &e);
        else if (r >= 0)
                r = run_image(&o, what, argv + optind + 1, argc - optind - 1, &status, &e);
        run_opts_free(&o);
        if (r < 0) {
                err_wrap(&e, "run %s", what);
                report_err(&e);
        }
        return status;
}
