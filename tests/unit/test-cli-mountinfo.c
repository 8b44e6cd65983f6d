/* Unit tests for cli/mountinfo.c: mount points and their types from
 * mountinfo lines (escapes, stacked mounts, optional fields). */
#include "cli/mountinfo.h"
#include "tests/unit/tap.h"

#include <string.h>

static const char *const text =
        "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "30 22 0:26 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw\n"
        "41 30 0:40 / /tmp/a\\040b rw,nosuid,nodev,relatime - fuse.strata busybox rw,user_id=0\n"
        "42 30 0:41 / /tmp/mnt rw - fuse.strata x rw\n"
        "43 42 0:42 / /tmp/mnt rw master:3 propagate_from:1 - tmpfs tmpfs rw\n"
        "44 30 0:43 / /tmp/back\\134slash rw - fuse.strata y rw\n";

static int lookup(const char *path, char *type, size_t n)
{
        FILE *f = fmemopen((void *)text, strlen(text), "r");
        int r = mountinfo_lookup(f, path, type, n);
        fclose(f);
        return r;
}

int main(void)
{
        char t[32];
        is_int(lookup("/tmp", t, sizeof t), 1, "/tmp is a mount point");
        is_str(t, "tmpfs", "of type tmpfs");
        is_int(lookup("/tmp/a b", t, sizeof t), 1, "\\040 is a space");
        is_str(t, STRATA_FSTYPE, "strata's type");
        is_int(lookup("/tmp/back\\slash", t, sizeof t), 1, "\\134 is a backslash");
        is_int(lookup("/tmp/mnt", t, sizeof t), 1, "stacked mounts: a mount point");
        is_str(t, "tmpfs", "the topmost one's type (optional fields skipped)");
        is_int(lookup("/tmp/a", t, sizeof t), 0, "a prefix is no mount point");
        is_int(lookup("/tmp/a\\040b", t, sizeof t), 0, "the escaped form is not the path");
        is_int(lookup("/home", t, sizeof t), 0, "an ordinary directory");
        char small[4];
        is_int(lookup("/tmp/mnt", small, sizeof small), 1, "a short buffer");
        is_str(small, "tmp", "truncated, terminated");
        return tap_done();
}
