/* cli/daemon — what `strata mount` and `strata run` share to put an image's
 * union filesystem in place: its layer list, and the daemon that serves it. */
#ifndef STRATA_CLI_DAEMON_H
#define STRATA_CLI_DAEMON_H

#include "fs/fs.h"
#include "util/util.h"

struct store;
struct store_image;

/* image_lowers() - set @cfg's lower directories to @im's layers, topmost
 * first, as absolute paths (the daemon leaves the working directory); an
 * image without layers gets the empty directory @empty_dir (created). */
void image_lowers(struct store *s, const struct store_image *im, const char *empty_dir, struct fs_config *cfg);

/* mount_driver() - *@kernel: mount with the kernel's overlayfs (fs/kmount.c)
 * rather than serve FUSE.  @flag is --driver ("fuse" or "kernel"), or NULL:
 * then the configuration's "mount-driver", else fuse. */
int mount_driver(const char *flag, bool *kernel, struct err *e);

/* daemon_start() - fork a daemon serving @cfg at @mountpoint (own session,
 * stdin/stdout on /dev/null, cwd /, stderr quiet once mounted) and wait
 * until the mount is in place.  @die_with_parent: it gets SIGTERM, and
 * unmounts, when this process dies.  @on_pid (may be NULL) hears the pid
 * before the wait (to record it).  0 with *@pid set, or -errno with @e
 * holding the daemon's own message.  Prints nothing. */
int daemon_start(struct fs_config *cfg, const char *mountpoint, bool die_with_parent,
                 void (*on_pid)(pid_t pid, void *ctx), void *ctx, pid_t *pid, struct err *e);

#endif
