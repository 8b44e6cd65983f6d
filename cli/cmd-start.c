/* strata start [-a] [-i] ID|NAME... — podman start: a kept run's command
 * runs again over its writable layer, with the options it was run with;
 * detached (its output appended to its log, the argument printed) unless
 * -a, which waits and gives the command's exit status. */
#include "cli.h"
#include "container.h"
#include "runmount.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

int cmd_start(int argc, char **argv)
{
        static const struct option opts[] = { { "attach", no_argument, NULL, 'a' },
                                              { "interactive", no_argument, NULL, 'i' }, { 0 } };
        bool attach = false, interactive = false;
        int c;
        while ((c = getopt_long(argc, argv, "ai", opts, NULL)) != -1) {
                switch (c) {
                case 'a': attach = true; break;
                case 'i': interactive = attach = true; break;   /* docker: -i attaches stdin */
                default: return bad_option("start", argv);
                }
        }
        if (optind >= argc)
                return usage_error("start", "requires at least 1 argument");
        if (attach && argc - optind > 1)
                return usage_error("start", "you cannot attach to several runs at once");
        struct err e = { 0 };
        struct store *s = NULL;
        if (geteuid() != 0 || open_store(&s, &e) < 0) {
                if (!e.msg[0])
                        err_setx(&e, EPERM, "strata start needs root (it makes namespaces and mounts): run it with sudo");
                err_wrap(&e, "start");
                return report_err(&e);
        }
        int status = 0;
        for (int i = optind; i < argc; i++) {
                struct store_mount m = { 0 };
                err_clear(&e);
                int st = 0;
                int r = container_find_run(s, argv[i], &m, &e);
                if (r >= 0)
                        r = start_kept_run(s, &m, attach, interactive, &st, &e);
                store_mount_free(&m);
                if (r < 0) {
                        err_wrap(&e, "start %s", argv[i]);
                        report_err(&e);
                        status = attach ? st : 1;
                } else if (attach) {
                        status = st;
                } else {
                        printf("%s\n", argv[i]);
                        fflush(stdout);
                }
        }
        store_close(s);
        return status;
}
