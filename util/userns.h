/* util/userns — rootless strata: the user namespace a non-root user's store
 * lives in (podman's model).
 *
 * A user's namespace maps 0 to the user and 1..N to the subordinate ranges
 * /etc/subuid and /etc/subgid give the user (every line for the user, in
 * order, up to IDMAP_MAX - 1 of them; useradd writes one of 65536), entered with
 * Debian's newuidmap/newgidmap (setuid helpers of the `uidmap` package).
 * Inside it the store's files belong to the image's owners (0, 33, 65534),
 * outside to the user and the range.  With no range configured the map is
 * 0 -> the user alone (written by the process itself, no helper) and the
 * owners are kept in the user.containers.override_stat xattr instead.
 *
 * ROOTLESS INVARIANTS
 * (1) An id is never mapped to a host id outside the user's own uid and the
 *     range /etc/subuid (/etc/subgid) names for the user: a layer cannot
 *     produce a file of another user.
 * (2) A rootless store's overlay xattrs are user.overlay.* (the kernel's
 *     `userxattr` format), root's trusted.overlay.*: one property of the
 *     store (userns_ovl_prefix()), never decided entry by entry.
 *
 * Nothing here logs; every failure is -errno with @e set. */
#ifndef STRATA_USERNS_H
#define STRATA_USERNS_H

#include "util/util.h"

#define OVL_PREFIX_TRUSTED "trusted.overlay."
#define OVL_PREFIX_USER "user.overlay."
/* containers-storage's "uid:gid:0MODE:type" for owners the map cannot hold */
#define OVERRIDE_STAT_XATTR "user.containers.override_stat"

/* override_stat_parse() - "UID:GID:0MODE[:TYPE]" (@len bytes, not NUL
 * terminated) into its parts; false when it is not that. */
bool override_stat_parse(const char *v, size_t len, uint32_t *uid, uint32_t *gid, mode_t *mode);

#define IDMAP_MAX 8
/* idmap_format()'s longest text: IDMAP_MAX "IN:OUT:COUNT" of 10-digit ids */
#define IDMAP_TEXT_MAX (IDMAP_MAX * 33 + 1)
struct idrange {
        uint32_t inside, outside, count;
};
struct idmap {
        struct idrange uid[IDMAP_MAX], gid[IDMAP_MAX];
        size_t n_uid, n_gid;
        bool rootless;        /* not root in the initial namespace */
        bool nested;          /* already inside a user namespace (the ranges read
                               * from /proc/self/uid_map and gid_map) */
        bool single;          /* only 0 -> the user: owners in OVERRIDE_STAT_XATTR */
        char uid_source[96];  /* where the ranges came from, for `strata info` */
        char gid_source[96];
        char user[64];        /* the user's name (or uid) in /etc/subuid */
};

/* userns_in_initial() - true when this process is in the initial user
 * namespace (/proc/self/uid_map is "0 0 4294967295"). */
bool userns_in_initial(void);

/* userns_rootless() - true unless this process is root in the initial user
 * namespace: a store it writes is a rootless one (invariant 2). */
bool userns_rootless(void);

/* userns_ovl_prefix() - "user.overlay." when rootless, else "trusted.overlay.". */
const char *userns_ovl_prefix(void);

/* idmap_current() - the map in force for this process: root's (identity,
 * rootless false), the one this namespace has (nested), or the one a new
 * namespace for this user would get: 0 -> getuid(), 1.. -> its ranges in
 * /etc/subuid (/etc/subgid), one after the other.  No range: single, and
 * the reason in the sources.  Fails only on an unreadable file. */
int idmap_current(struct idmap *m, struct err *e);

/* idmap_max_inside() - the highest id @r maps (inside), or 0 for none. */
uint32_t idmap_max_inside(const struct idrange *r, size_t n);

/* idmap_lookup() - @id through @r: inside -> outside when @out, else back.
 * Returns false when @r does not map it. */
bool idmap_lookup(const struct idrange *r, size_t n, uint32_t id, bool out, uint32_t *res);

/* idmap_format() - "0:1000:1:1:100000:65536" (fuse-overlayfs's
 * uidmapping= form: inside:outside:count, repeated) into @buf.
 * idmap_parse() - the reverse; -EINVAL on anything else. */
void idmap_format(const struct idrange *r, size_t n, char *buf, size_t len);
int idmap_parse(const char *s, struct idrange *r, size_t *n);

/* userns_enter() - move this process (it must have one thread) into the
 * user's namespace with @m's maps and become its root (uid, gid 0, no
 * supplementary groups): the pause process's, when there is one with those
 * maps (see userns.c), else a new one (ranges: newuidmap/newgidmap, run by a
 * helper child for this pid, then a pause process is left in it; single:
 * written by this process).  @mount: a new mount namespace too, owned by
 * the user namespace.  -EPERM etc. with a line
 * that says what is missing (user namespaces off, no newuidmap, a range
 * /etc/subuid does not grant). */
int userns_enter(const struct idmap *m, bool mount, struct err *e);

/* userns_join() - move this process (one thread) into the user namespace
 * of @pid, one the user made (a container's), and become its root. */
int userns_join(pid_t pid, struct err *e);

#endif
