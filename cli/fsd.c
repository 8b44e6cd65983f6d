/* strata-fsd: the union filesystem's daemon as a program of its own.
 *
 *   strata-fsd READY_FD WORD... MOUNTPOINT      (the WORDs: fs_config_argv();
 *                                              the mount point last, as ps shows it)
 *
 * daemon_start() (cli/daemon.c) execs it in the forked child.  It links
 * fs/, util/, libfuse and libc only, so the process that serves a mount for
 * as long as it lasts carries none of the registry, TLS and archive
 * libraries of strata (about 2 MiB less resident memory).  It writes '1' on
 * READY_FD once the mount is in place and keeps READY_FD open while it
 * serves, or writes "E<message>" there and exits 1.  Not for users: its
 * arguments are daemon_start()'s. */
#include "fs/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: strata-fsd READY_FD WORD... MOUNTPOINT (started by strata mount)\n");
                return 2;
        }
        int wfd = atoi(argv[1]);
        if (fcntl(wfd, F_SETFD, FD_CLOEXEC) < 0) {
                fprintf(stderr, "strata-fsd: ready fd %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        struct fs_config cfg = { 0 };
        struct err e = { 0 };
        const char *mountpoint = argv[argc - 1];
        argv[argc - 1] = NULL;
        int r = fs_config_from_argv(&cfg, argv + 2, &e);
        if (r == 0)
                r = fs_serve(&cfg, mountpoint, dup(wfd), &e);
        fs_config_free(&cfg);
        if (r < 0) {
                signal(SIGPIPE, SIG_IGN);   /* the parent may be gone */
                _cleanup_free_ char *msg = xasprintf("E%s", e.msg[0] ? e.msg : "the filesystem daemon failed");
                (void)!write(wfd, msg, strlen(msg));
                return 1;
        }
        return 0;
}
