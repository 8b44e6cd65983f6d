/* cli/mountinfo — is a directory a mount point, and of which filesystem
 * type (/proc/self/mountinfo): `strata mount` refuses to stack on a mount
 * point unless asked, `strata umount` unmounts strata's mounts only. */
#ifndef STRATA_CLI_MOUNTINFO_H
#define STRATA_CLI_MOUNTINFO_H

#include <stdio.h>
#include <stddef.h>

/* The filesystem type of strata's FUSE mounts (subtype=strata). */
#define STRATA_FSTYPE "fuse.strata"

/* mountinfo_lookup() - read mountinfo lines from @f: 1 when @path (absolute,
 * canonical, as the kernel prints it once unescaped) is a mount point, with
 * the type of the topmost mount there in @fstype (@n bytes, "fuse.strata",
 * "tmpfs"...); 0 when it is not. */
int mountinfo_lookup(FILE *f, const char *path, char *fstype, size_t n);
/* mount_point_type() - the same from /proc/self/mountinfo; -errno when it
 * cannot be read. */
int mount_point_type(const char *path, char *fstype, size_t n);

#endif
