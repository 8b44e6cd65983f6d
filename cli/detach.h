/* cli/detach — `strata run -d`: the run goes on in a supervisor process of
 * its own session, which writes the command's output to the run's log
 * (ROOT/mounts/ID/ctr.log, podman's k8s-file format: one
 * "TIME STREAM F|P TEXT" line per line of output) and records its exit
 * status; the `strata run` that started it prints the ID once the command
 * runs, or the error that stopped it, and exits.
 *
 * DETACH INVARIANTS
 * (1) The supervisor holds nothing of the caller's: stdin, stdout and stderr
 *     are /dev/null until the log takes stdout and stderr, so a caller
 *     reading `strata run -d`'s output sees its end when it exits.
 * (2) The supervisor is the parent of the filesystem daemon and of the
 *     command: it reaps both; its own parent exits at once, so init reaps it.
 * (3) The caller hears one message: "I<ID>" (the command runs) or
 *     "E<status> <error>"; EOF without one is a failure too. */
#ifndef STRATA_CLI_DETACH_H
#define STRATA_CLI_DETACH_H

#include "util/util.h"

#include <sys/types.h>

struct detach {
        int fd;                /* the caller: read end; the supervisor: write end */
        bool told;             /* the supervisor has sent its message */
};

/* detach_fork() - fork the supervisor.  Returns 1 in the supervisor (a new
 * session, stdio on /dev/null; @keep_stdin: stdin a pipe that never ends,
 * docker's -i without an attached client), 0 in the caller, -errno. */
int detach_fork(struct detach *d, bool keep_stdin, struct err *e);
/* detach_wait() - the caller: the supervisor's message.  0 with @id (13
 * bytes) set, or -errno with @e and *@status (docker's 125/126/127). */
int detach_wait(struct detach *d, char *id, size_t id_len, int *status, struct err *e);
/* detach_started() / detach_failed() - the supervisor's message (once). */
void detach_started(struct detach *d, const char *id);
void detach_failed(struct detach *d, int status, const struct err *e);

/* The log of a detached run. */
struct runlog {
        int fd;                /* the log file (the writer's) */
        int rd[2];             /* read ends of the stdout and stderr pipes (the writer's) */
        pid_t logger;          /* the writer, or -1 */
};
/* runlog_open() - create @path and make fds 1 and 2 pipes that a writer
 * process copies into it, line by line with a time stamp. */
int runlog_open(struct runlog *l, const char *path, struct err *e);
/* runlog_close() - fds 1 and 2 back to /dev/null, and wait until the writer
 * has written everything the command's processes wrote. */
void runlog_close(struct runlog *l);

#endif
