/* strata exec [-i] [-t] [-e K=V] [-u U[:G]] [-w DIR] ID|NAME CMD [ARG...] —
 * docker exec: CMD in a running run's namespaces (mnt, pid, uts, ipc, and
 * net when it has its own) and root; exit status CMD's. */
#include "cli.h"
#include "container.h"
#include "runmount.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#define EXEC_FAILED 125        /* strata's own errors, as run's */

int cmd_exec(int argc, char **argv)
{
        static const struct option opts[] = {
                { "interactive", no_argument, NULL, 'i' }, { "tty", no_argument, NULL, 't' },
                { "env", required_argument, NULL, 'e' }, { "user", required_argument, NULL, 'u' },
                { "workdir", required_argument, NULL, 'w' }, { "privileged", no_argument, NULL, 'P' }, { 0 }
        };
        struct exec_opts x = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "+ite:u:w:", opts, NULL)) != -1) {
                switch (c) {
                case 'i': x.interactive = true; break;
                case 't': x.tty = true; break;
                case 'e':
                        x.env = xrealloc(x.env, (x.n_env + 2) * sizeof *x.env);
                        x.env[x.n_env++] = optarg;
                        x.env[x.n_env] = NULL;
                        break;
                case 'u': x.user = optarg; break;
                case 'w': x.workdir = optarg; break;
                case 'P': x.privileged = true; break;
                default:
                        free(x.env);
                        (void)bad_option("exec", argv);
                        return EXEC_FAILED;
                }
        }
        if (argc - optind < 2) {
                free(x.env);
                (void)usage_error("exec", "requires at least 2 arguments: ID|NAME COMMAND [ARG...]");
                return EXEC_FAILED;
        }
        if (x.tty && x.interactive && !isatty(0)) {
                free(x.env);
                fprintf(stderr, "strata: exec: the input device is not a TTY (drop -t to pipe into a command)\n");
                return EXEC_FAILED;
        }
        const char *what = argv[optind];
        x.argv = argv + optind + 1;
        x.argc = argc - optind - 1;
        struct err e = { 0 };
        struct store *s = NULL;
        struct store_mount m = { 0 };
        int status = EXEC_FAILED;
        int r = open_store(&s, &e);
        if (r >= 0)
                r = container_find_run(s, what, &m, &e);
        if (r >= 0 && store_run_alive(&m))
                r = rootless_join_run(m.run_pid, &e);   /* a user's run: its namespace */
        if (r >= 0)
                r = exec_in_run(s, &m, &x, &status, &e);
        store_mount_free(&m);
        store_close(s);
        free(x.env);
        if (r < 0) {
                err_wrap(&e, "exec %s", what);
                report_err(&e);
        }
        return status;
}
