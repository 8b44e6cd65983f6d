/* strata run [OPTIONS] IMAGE [CMD...] — mount an image with a fresh writable
 * layer and run a command in it, in new namespaces (docker run); or, with
 * --rootfs DIR (podman's option), run in a directory the user made. */
#include "cli.h"
#include "sandbox.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct run_opts {
        bool interactive, tty, rm;
        const char *workdir, *user, *name, *hostname, *entrypoint, *rootfs;
        char **env;            /* -e, in order */
        size_t n_env;
};

/* strv_push() - append to a NULL-terminated vector (*@n strings so far). */
static void strv_push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

static void strv_free(char **v)
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
        strv_push(env, n, xstrdup(kv));
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
        strv_free(p->argv);
        strv_free(p->env);
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
                        strv_push(v, n, xstrdup(json_string_value(it)));
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
                        strv_push(&p->argv, &p->argc, xstrdup(o->entrypoint));
        } else if (config) {
                push_json_strings(&p->argv, &p->argc, json_object_get(config, "Entrypoint"));
        }
        if (n_cmd > 0)
                for (int i = 0; i < n_cmd; i++)
                        strv_push(&p->argv, &p->argc, xstrdup(cmd[i]));
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

static int run_in(const struct run_opts *o, const char *rootfs, const char *hostname,
                  const struct run_plan *p, int *status, struct err *e)
{
        struct sandbox_opts so = {
                .rootfs = rootfs,
                .argv = p->argv,
                .env = p->env,
                .workdir = p->workdir,
                .user = p->user,
                .hostname = o->hostname ? o->hostname : hostname,
                .tty = o->tty,
                .interactive = o->interactive,
        };
        return sandbox_run(&so, status, e);
}

/* run_rootfs() - podman's --rootfs: the directory is the root, as it is. */
static int run_rootfs(const struct run_opts *o, char **cmd, int n_cmd, int *status, struct err *e)
{
        struct run_plan p = { 0 };
        int r = make_plan(o, NULL, cmd, n_cmd, &p, e);
        if (r >= 0)
                r = run_in(o, o->rootfs, NULL, &p, status, e);
        run_plan_free(&p);
        return r;
}

int cmd_run(int argc, char **argv)
{
        static const struct option opts[] = {
                { "interactive", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                { "rm", no_argument, NULL, 'R' },
                { "env", required_argument, NULL, 'e' },
                { "workdir", required_argument, NULL, 'w' },
                { "user", required_argument, NULL, 'u' },
                { "name", required_argument, NULL, 'N' },
                { "hostname", required_argument, NULL, 'H' },
                { "entrypoint", required_argument, NULL, 'E' },
                { "rootfs", required_argument, NULL, 'F' },
                { 0 }
        };
        struct run_opts o = { 0 };
        int c;
        /* "+": options end at IMAGE; what follows belongs to the command. */
        while ((c = getopt_long(argc, argv, "+ite:w:u:", opts, NULL)) != -1) {
                switch (c) {
                case 'i': o.interactive = true; break;
                case 't': o.tty = true; break;
                case 'R': o.rm = true; break;
                case 'e': strv_push(&o.env, &o.n_env, xstrdup(optarg)); break;
                case 'w': o.workdir = optarg; break;
                case 'u': o.user = optarg; break;
                case 'N': o.name = optarg; break;
                case 'H': o.hostname = optarg; break;
                case 'E': o.entrypoint = optarg; break;
                case 'F': o.rootfs = optarg; break;
                default:
                        strv_free(o.env);
                        return usage_error("run", "bad option");
                }
        }
        struct err e = { 0 };
        int status = 125, r;
        const char *what;
        if (o.rootfs) {
                what = o.rootfs;
                r = run_rootfs(&o, argv + optind, argc - optind, &status, &e);
        } else {
                if (optind >= argc) {
                        strv_free(o.env);
                        return usage_error("run", "requires at least 1 argument: IMAGE [COMMAND...]");
                }
                what = argv[optind];
                r = err_setx(&e, ENOSYS, "running an image needs image mounts, not built yet");
        }
        strv_free(o.env);
        if (r < 0) {
                err_wrap(&e, "run %s", what);
                report_err(&e);
                return status;
        }
        return status;
}
