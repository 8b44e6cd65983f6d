/* cli/container.c — see container.h. */
#include "container.h"
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

const char *container_state_name(enum container_state st)
{
        static const char *const names[] = { "running", "exited", "dead" };
        return names[st];
}

enum container_state container_state(const struct store_mount *m)
{
        if (m->command && m->finished)
                return CT_EXITED;
        /* the process that runs it unmounts first, then records the exit
         * status: while it lives, the run is still running */
        if (m->command && pid_alive(m->creator))
                return CT_RUNNING;
        return store_mount_live(m) ? CT_RUNNING : CT_DEAD;
}

int find_mount_arg(struct store *s, const char *arg, struct store_mount *out, struct err *e)
{
        struct stat st;
        if (strchr(arg, '/') && stat(arg, &st) == 0 && S_ISDIR(st.st_mode) && store_find_mount(s, arg, out, e) == 0)
                return 0;
        err_clear(e);
        struct store_mount *v = NULL;
        size_t n = 0;
        int r = store_list_mounts(s, &v, &n, e);
        if (r < 0)
                return r;
        size_t len = strlen(arg), hits = 0, pick = SIZE_MAX;
        for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
                if (v[i].name && !strcmp(v[i].name, arg))
                        pick = i;
        for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
                if (len && strspn(arg, "0123456789abcdef") == len && !strncmp(v[i].id, arg, len) && hits++ == 0)
                        pick = i;
        if (hits > 1)
                r = err_setx(e, EINVAL, "run ID prefix '%s' is ambiguous", arg);
        else if (pick == SIZE_MAX && stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
                r = store_find_mount(s, arg, out, e);     /* "rootfs", a relative mount point */
        else if (pick == SIZE_MAX)
                r = err_setx(e, ENOENT, "no such mount or run: %s", arg);
        for (size_t i = 0; i < n; i++) {
                if (i == pick && hits <= 1)
                        *out = v[i];
                else
                        store_mount_free(&v[i]);
        }
        free(v);
        return r;
}

int container_find_run(struct store *s, const char *arg, struct store_mount *out, struct err *e)
{
        int r = find_mount_arg(s, arg, out, e);
        if (r == -ENOENT)
                return err_setx(e, ENOENT, "no such run: %s", arg);
        if (r < 0)
                return r;
        if (!out->command) {
                store_mount_free(out);
                return err_setx(e, EINVAL, "%s is a mount, not a run (strata umount it)", arg);
        }
        return 0;
}

static void sleep_ms(int ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

int container_wait(struct store *s, struct store_mount *m, int timeout_ms, struct err *e)
{
        uint64_t until = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000ULL;
        while (container_state(m) == CT_RUNNING) {
                if (now_ns() >= until)
                        return -ETIMEDOUT;
                sleep_ms(50);
                struct store_mount fresh;
                int r = store_load_mount(s, m->id, &fresh, e);
                if (r < 0)
                        return err_wrap(e, "run %s", m->id);
                store_mount_free(m);
                *m = fresh;
        }
        return 0;
}

int container_kill(const struct store_mount *m, int sig, struct err *e)
{
        if (container_state(m) != CT_RUNNING || !store_run_alive(m))
                return err_setx(e, EINVAL, "run %s is not running", m->id);
        if (kill(m->run_pid, sig) < 0)
                return err_set(e, errno, "signal %d to run %s (pid %d)", sig, m->id, m->run_pid);
        return 0;
}

int signal_parse(const char *name)
{
        static const struct { const char *name; int sig; } sigs[] = {
                { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
                { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
                { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
                { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
                { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
                { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
                { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
                { "PWR", SIGPWR }, { "SYS", SIGSYS },
        };
        if (!name || !*name)
                return -1;
        if (strspn(name, "0123456789") == strlen(name)) {
                long n = strtol(name, NULL, 10);
                return n >= 1 && n < NSIG && strlen(name) < 4 ? (int)n : -1;
        }
        if (!strncasecmp(name, "SIG", 3))
                name += 3;
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
                if (!strcasecmp(name, sigs[i].name))
                        return sigs[i].sig;
        return -1;
}

int container_stop_signal(struct store *s, const struct store_mount *m)
{
        struct store_image im = { 0 };
        json_t *config = NULL;
        struct err ignore = { 0 };
        int sig = -1;
        if (m->image && store_find_image(s, m->image, &im, &ignore) == 0 &&
            image_config_json(s, &im, &config, &ignore) == 0)
                sig = signal_parse(json_string_value(json_object_get(json_object_get(config, "config"), "StopSignal")));
        json_decref(config);
        store_image_free(&im);
        return sig > 0 ? sig : SIGTERM;
}

int container_stop(struct store *s, struct store_mount *m, int sig, int timeout_s, struct err *e)
{
        if (container_state(m) != CT_RUNNING)
                return 0;
        if (sig <= 0)
                sig = container_stop_signal(s, m);
        if (store_run_alive(m) && kill(m->run_pid, sig) < 0 && errno != ESRCH)
                return err_set(e, errno, "signal %d to run %s", sig, m->id);
        int r = container_wait(s, m, timeout_s < 0 ? -1 : timeout_s * 1000, e);
        if (r == -ETIMEDOUT) {
                /* docker's habit: the grace period is over */
                if (store_run_alive(m))
                        (void)kill(m->run_pid, SIGKILL);
                r = container_wait(s, m, -1, e);
        }
        return r;
}

int container_each_run(const char *verb, int argc, char **argv, container_run_fn fn, const void *ctx)
{
        if (optind >= argc)
                return usage_error(verb, "requires at least 1 argument");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0) {
                err_wrap(&e, "%s", verb);
                return report_err(&e);
        }
        int status = 0;
        for (int i = optind; i < argc; i++) {
                struct store_mount m = { 0 };
                err_clear(&e);
                int r = container_find_run(s, argv[i], &m, &e);
                if (r >= 0)
                        r = fn(s, &m, argv[i], ctx, &e);
                store_mount_free(&m);
                if (r < 0) {
                        err_wrap(&e, "%s %s", verb, argv[i]);
                        status = report_err(&e);
                }
        }
        store_close(s);
        return status;
}
