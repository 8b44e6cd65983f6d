/* cli/runmount — an image mounted with a fresh writable layer for one
 * command, as `strata run` does (cmd-run.c); `strata build` mounts each RUN
 * and COPY step the same way. */
#ifndef STRATA_CLI_RUNMOUNT_H
#define STRATA_CLI_RUNMOUNT_H

#include "store/store.h"

/* An image mounted for a run: the store's record and the daemon serving it. */
struct run_mount {
        struct store_mount m;
        pid_t daemon;
        bool mounted;
};

/* mount_for_run() - a fresh writable layer over @im, mounted at
 * ROOT/mounts/<ID>/rootfs (FUSE label @label; with @kernel the kernel's
 * overlayfs instead); the record is written with the daemon's pid so that
 * rmi sees the image in use.  @name (may be NULL): the run's, unique. */
int mount_for_run(struct store *s, const struct store_image *im, const char *label, bool kernel,
                  const char *name, struct run_mount *rm, struct err *e);

/* mount_record() - the union of @im over the existing record @rm (its
 * writable layer, its mount point), as mount_for_run() mounts it. */
int mount_record(struct store *s, const struct store_image *im, const char *label, bool kernel,
                 struct run_mount *rm, struct err *e);

/* unmount_after_run() - unmount, wait for the daemon, then drop the record
 * and the writable layer (@drop) or keep them. */
int unmount_after_run(struct store *s, struct run_mount *rm, bool drop, struct err *e);

/* pull_missing() - pull @ref (an image not in the store), its progress on
 * stderr. */
int pull_missing(struct store *s, const char *ref, const char *platform, struct err *e);

/* start_kept_run() - podman start: the command the kept run @m ran, again,
 * over its writable layer, with its options (ROOT/mounts/ID/run.json);
 * detached (output appended to its log) unless @attach; @interactive keeps
 * stdin.  A running run is left as it is.  0 with *@status: detached, 0
 * once the command runs; attached, the command's exit status.  -errno with
 * @e set and *@status docker's 125/126/127.  @m may be taken over. */
int start_kept_run(struct store *s, struct store_mount *m, bool attach, bool interactive, int *status,
                   struct err *e);

/* What `strata exec` runs in a run (cmd-exec.c's options). */
struct exec_opts {
        bool interactive, tty, privileged;
        char **env;            /* -e K=V or K, in order */
        size_t n_env;
        const char *workdir, *user;    /* NULL: the image's */
        char **argv;           /* the command */
        int argc;
};

/* exec_in_run() - run @x's command in the namespaces and root of the running
 * run @m, with its image's Env (then -e), WorkingDir and User unless given.
 * 0 with *@status the command's exit status; -errno with @e set and *@status
 * docker's 125, 126 or 127. */
int exec_in_run(struct store *s, const struct store_mount *m, const struct exec_opts *x, int *status, struct err *e);

#endif
