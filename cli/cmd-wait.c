/* strata wait ID|NAME... — docker wait: block until each run has exited,
 * then print its exit code, one line each. */
#include "cli.h"
#include "container.h"
#include "store/store.h"

#include <stdio.h>

int cmd_wait(int argc, char **argv)
{
        int st = no_options("wait", argc, argv);
        if (st)
                return st;
        if (optind >= argc)
                return usage_error("wait", "requires at least 1 argument");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0) {
                err_wrap(&e, "wait");
                return report_err(&e);
        }
        int status = 0;
        for (int i = optind; i < argc; i++) {
                struct store_mount m = { 0 };
                err_clear(&e);
                int r = container_find_run(s, argv[i], &m, &e);
                if (r >= 0)
                        r = container_wait(s, &m, -1, &e);
                if (r >= 0 && container_state(&m) != CT_EXITED)
                        r = err_setx(&e, EIO, "run %s ended without an exit status (its strata process died)", m.id);
                if (r >= 0) {
                        printf("%d\n", m.exit_code);
                        fflush(stdout);
                } else {
                        err_wrap(&e, "wait %s", argv[i]);
                        status = report_err(&e);
                }
                store_mount_free(&m);
        }
        store_close(s);
        return status;
}
