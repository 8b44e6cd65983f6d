/* cli/container — kept runs as docker's containers: what the verbs that take
 * a run (ps, rm, stop, kill, wait, logs, exec, start, commit, export) share.
 *
 * A run is a mount record with a command (store_mount.command).  It is
 * running while its command runs; the process that ran it (`strata run`,
 * or the supervisor of `run -d`) records the exit status and the time when
 * the command ends and unmounts, so a finished run is "exited". */
#ifndef STRATA_CLI_CONTAINER_H
#define STRATA_CLI_CONTAINER_H

#include "store/store.h"

enum container_state { CT_RUNNING, CT_EXITED, CT_DEAD };

/* container_state_name() - "running", "exited", "dead". */
const char *container_state_name(enum container_state st);
/* container_state() - a run with an exit status is exited; a run whose
 * strata process lives, or a live record, is running; else dead. */
enum container_state container_state(const struct store_mount *m);

/* find_mount_arg() - the record that @arg names: a run's name, a mount point
 * (a strata mount, or a run's rootfs), an ID or a unique ID prefix.
 * -ENOENT "no such mount or run", -EINVAL for an ambiguous prefix. */
int find_mount_arg(struct store *s, const char *arg, struct store_mount *out, struct err *e);

/* container_find_run() - find_mount_arg() for a run only: a plain mount is
 * -EINVAL ("ARG is a mount, not a run"). */
int container_find_run(struct store *s, const char *arg, struct store_mount *out, struct err *e);

/* container_wait() - reread @m until it is no longer running; @timeout_ms
 * < 0: no limit.  0, or -ETIMEDOUT (no message), or -errno with @e set. */
int container_wait(struct store *s, struct store_mount *m, int timeout_ms, struct err *e);

/* container_kill() - send @sig to a running run's command.  -EINVAL with @e
 * set when it does not run. */
int container_kill(const struct store_mount *m, int sig, struct err *e);

/* container_stop() - docker stop: the image's StopSignal (SIGTERM when it
 * has none), or @sig when > 0; SIGKILL after @timeout_s seconds (< 0: never);
 * returns once the run has exited (its status recorded).  A run that is not
 * running is left as it is. */
int container_stop(struct store *s, struct store_mount *m, int sig, int timeout_s, struct err *e);

/* container_stop_signal() - the image's StopSignal (config.StopSignal), or
 * SIGTERM. */
int container_stop_signal(struct store *s, const struct store_mount *m);

/* signal_parse() - "TERM", "SIGTERM", "sigkill", "9": the signal, or -1. */
int signal_parse(const char *name);

/* container_each_run() - @fn over each run named by argv[optind..] (ID,
 * prefix, name or mount dir; @arg: the operand as given); a failure is one
 * line per operand ("VERB ARG: ..."), the others still run; exit status 1
 * when any failed. */
typedef int (*container_run_fn)(struct store *s, struct store_mount *m, const char *arg, const void *ctx,
                                struct err *e);
int container_each_run(const char *verb, int argc, char **argv, container_run_fn fn, const void *ctx);

#endif
