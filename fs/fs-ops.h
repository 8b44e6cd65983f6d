/* fs/ private: what the FUSE adapters (fuse-ops.c) share with the mount
 * code (mount.c).  Include after defining FUSE_USE_VERSION. */
#ifndef STRATA_FS_OPS_H
#define STRATA_FS_OPS_H

#include "fs-internal.h"

#include <fuse_lowlevel.h>

struct fs_session {
        struct ovl *o;
        double timeout;           /* entry/attr cache seconds */
        bool writeback;           /* asked for the writeback cache */
        bool splice;              /* move data with splice(2) */
        int readdirplus;          /* 0 (default) or 1 always, -1 never, 2 auto */
        bool no_open;             /* answer OPEN with ENOSYS: I/O through node descriptors */
        bool no_opendir;          /* answer OPENDIR with ENOSYS: readdir from the node's listing */
        unsigned caps;            /* conn->want after init */
        struct fuse_session *se;  /* for notifications to the kernel */
};

/* fs_inval_node() - the ovl->inval hook: drop the kernel's cached attributes. */
void fs_inval_node(void *ctx, struct node *n);

extern const struct fuse_lowlevel_ops fs_fuse_ops;

#endif
