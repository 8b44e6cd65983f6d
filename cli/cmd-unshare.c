/* strata unshare [COMMAND]: podman unshare, a shell (or COMMAND) in the
 * rootless store's user namespace (cli/rootless.c, util/userns.h). */
#include "cli.h"
#include "util/userns.h"

#include <stdio.h>
#include <string.h>

int cmd_unshare(int argc, char **argv)
{
        /* the command's own options are its own: nothing parsed past the verb */
        optind = argc > 1 && !strcmp(argv[1], "--") ? 2 : 1;
        if (optind < argc && argv[optind][0] == '-' && optind == 1)
                return usage_error("unshare", "bad option '%s' (a command's options go after it)", argv[1]);
        struct err e = { 0 };
        if (!userns_rootless()) {
                fprintf(stderr, "strata: unshare: only for a user who is not root (root's store needs no user namespace)\n");
                return 1;
        }
        if (rootless_join("unshare", true, &e) < 0)
                return report_err(&e);
        if (G.root)     /* strata in the shell: the same store */
                setenv("STRATA_ROOT", G.root, 1);
        char *const *cmd = argv + optind;
        char *shell[] = { getenv("SHELL") && *getenv("SHELL") ? getenv("SHELL") : "/bin/sh", NULL };
        if (optind >= argc)
                cmd = shell;
        fflush(NULL);
        execvp(cmd[0], cmd);
        fprintf(stderr, "strata: unshare: %s: %s\n", cmd[0], strerror(errno));
        return errno == ENOENT ? 127 : 126;
}
