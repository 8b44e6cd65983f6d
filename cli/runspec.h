/* cli/runspec — what a kept run ran, so that `strata start` runs it again:
 * the sandbox options (sandbox.h) saved as ROOT/mounts/ID/run.json. */
#ifndef STRATA_CLI_RUNSPEC_H
#define STRATA_CLI_RUNSPEC_H

#include "sandbox.h"

#include <jansson.h>

/* A loaded spec: @so points into the strings and arrays held here. */
struct runspec {
        struct sandbox_opts so;        /* rootfs and started unset */
        bool kernel;                   /* mounted with the kernel's overlayfs */
        json_t *json;                  /* owns the strings */
        const char **argv, **env, **group_add;
        struct sandbox_bind *binds;
        struct sandbox_tmpfs *tmpfs;
};

/* runspec_save() - @so (and @kernel) as @path, written atomically. */
int runspec_save(const char *path, const struct sandbox_opts *so, bool kernel, struct err *e);
/* runspec_load() - the spec saved as @path.  runspec_free() after. */
int runspec_load(const char *path, struct runspec *rs, struct err *e);
void runspec_free(struct runspec *rs);

#endif
