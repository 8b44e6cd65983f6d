/* strata wait ID|NAME... — docker wait: block until each run has exited,
 * then print its exit code, one line each. */
#include "cli.h"
#include "container.h"
#include "store/store.h"

#include <stdio.h>

static int wait_one(struct store *s, struct store_mount *m, const char *arg, const void *ctx, struct err *e)
{
        (void)arg;
        (void)ctx;
        int r = container_wait(s, m, -1, e);
        if (r >= 0 && container_state(m) != CT_EXITED)
                r = err_setx(e, EIO, "run %s ended without an exit status (its strata process died)", m->id);
        if (r >= 0) {
                printf("%d\n", m->exit_code);
                fflush(stdout);
        }
        return r;
}

int cmd_wait(int argc, char **argv)
{
        int st = no_options("wait", argc, argv);
        return st ? st : container_each_run("wait", argc, argv, wait_one, NULL);
}
