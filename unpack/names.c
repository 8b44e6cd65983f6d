/* The pure name logic of unpack/: media types, magic bytes, entry paths,
 * whiteout names, quoting for messages, a small string set.  No I/O. */
#include "unpack-internal.h"

#include <string.h>

const char *unpack_bad_number(int64_t uid, int64_t gid, bool is_dev, uint64_t major, uint64_t minor,
                              int64_t *value)
{
        if (uid < 0 || uid >= (int64_t)UINT32_MAX) {
                *value = uid;
                return "uid";
        }
        if (gid < 0 || gid >= (int64_t)UINT32_MAX) {
                *value = gid;
                return "gid";
        }
        if (is_dev && major > 0xfff) {
                *value = (int64_t)major;
                return "device major number";
        }
        if (is_dev && minor > 0xfffff) {
                *value = (int64_t)minor;
                return "device minor number";
        }
        return NULL;
}

const char *unpack_comp_name(enum unpack_comp c)
{
        switch (c) {
        case UNPACK_COMP_NONE: return "none";
        case UNPACK_COMP_GZIP: return "gzip";
        case UNPACK_COMP_ZSTD: return "zstd";
        case UNPACK_COMP_AUTO: return "auto";
        default: return "unsupported";
        }
}

int unpack_media_comp(const char *mt)
{
        static const struct { const char *type; enum unpack_comp comp; } types[] = {
                { "application/vnd.oci.image.layer.v1.tar", UNPACK_COMP_NONE },
                { "application/vnd.oci.image.layer.v1.tar+gzip", UNPACK_COMP_GZIP },
                { "application/vnd.oci.image.layer.v1.tar+zstd", UNPACK_COMP_ZSTD },
                { "application/vnd.oci.image.layer.nondistributable.v1.tar", UNPACK_COMP_NONE },
                { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", UNPACK_COMP_GZIP },
                { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", UNPACK_COMP_ZSTD },
                { "application/vnd.docker.image.rootfs.diff.tar", UNPACK_COMP_NONE },
                { "application/vnd.docker.image.rootfs.diff.tar.gzip", UNPACK_COMP_GZIP },
                { "application/vnd.docker.image.rootfs.diff.tar.zstd", UNPACK_COMP_ZSTD },
                { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", UNPACK_COMP_GZIP },
                { "application/x-tar", UNPACK_COMP_NONE },
        };
        if (!mt)
                return UNPACK_COMP_AUTO;
        for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                if (!strcmp(mt, types[i].type))
                        return types[i].comp;
        return -1;
}

enum unpack_comp unpack_sniff(const void *buf, size_t n)
{
        const unsigned char *p = buf;
        if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
                return UNPACK_COMP_GZIP;
        if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
                return UNPACK_COMP_ZSTD;
        /* zstd skippable frame: 0x184D2A5? little-endian */
        if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
                return UNPACK_COMP_ZSTD;
        if (n >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h')
                return UNPACK_COMP_OTHER;
        if (n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
                return UNPACK_COMP_OTHER;
        if (n >= 4 && !memcmp(p, "\x04\x22\x4d\x18", 4))          /* lz4 */
                return UNPACK_COMP_OTHER;
        return UNPACK_COMP_NONE;
}

int unpack_clean_path(const char *name, char out[PATH_MAX], const char **why)
{
        size_t len = 0;
        const char *s = name;
        *why = NULL;
        out[0] = '\0';
        while (*s) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                const char *end = strchrnul(s, '/');
                size_t n = (size_t)(end - s);
                if (n == 1 && s[0] == '.') {
                        s = end;
                        continue;
                }
                if (n == 2 && s[0] == '.' && s[1] == '.') {
                        *why = "path has a \"..\" component";
                        return -EPERM;
                }
                if (n > NAME_MAX) {
                        *why = "a path component is longer than NAME_MAX";
                        return -EPERM;
                }
                if (len + (len > 0) + n >= PATH_MAX) {
                        *why = "path longer than PATH_MAX";
                        return -EPERM;
                }
                if (len > 0) {
                        /* the previous component was not the last one */
                        const char *prev = out + len;
                        while (prev > out && prev[-1] != '/')
                                prev--;
                        if (!strncmp(prev, ".wh.", 4)) {
                                *why = "a whiteout name is used as a directory";
                                return -EPERM;
                        }
                        out[len++] = '/';
                }
                memcpy(out + len, s, n);
                len += n;
                out[len] = '\0';
                s = end;
        }
        return (int)len;
}

bool unpack_aufs_meta(const char *name)
{
        for (;;) {
                if (name[0] == '/')
                        name++;
                else if (name[0] == '.' && name[1] == '/')
                        name += 2;
                else
                        break;
        }
        if (strncmp(name, ".wh..wh.", 8) != 0)
                return false;
        /* the root's opaque marker is a whiteout, not aufs bookkeeping */
        size_t n = strcspn(name, "/");
        return !(n == 12 && !strncmp(name, ".wh..wh..opq", 12) && name[strspn(name + 12, "/") + 12] == '\0');
}

enum unpack_wh unpack_whiteout(const char *base, const char **target)
{
        *target = NULL;
        if (strncmp(base, ".wh.", 4) != 0)
                return UNPACK_WH_NONE;
        if (!strcmp(base, ".wh..wh..opq"))
                return UNPACK_WH_OPAQUE;
        if (!strncmp(base, ".wh..wh.", 8))
                return UNPACK_WH_META;
        const char *t = base + 4;
        if (!*t || !strcmp(t, ".") || !strcmp(t, "..") || strchr(t, '/'))
                return UNPACK_WH_BAD;
        *target = t;
        return UNPACK_WH_FILE;
}

char *unpack_quote(const char *s, char *out, size_t outsz)
{
        static const char hx[] = "0123456789abcdef";
        size_t o = 0, limit = outsz < 220 ? outsz : 220;
        if (!s)
                s = "(null)";
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (o + 8 >= limit) {
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
                if (c < 0x20 || c == 0x7f) {
                        out[o++] = '\\';
                        out[o++] = 'x';
                        out[o++] = hx[c >> 4];
                        out[o++] = hx[c & 15];
                } else if (c == '"' || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char)c;
                } else {
                        out[o++] = (char)c;
                }
        }
        out[o] = '\0';
        return out;
}

/* ------------------------------------------------------------ string set */

uint64_t unpack_hash(const char *s, size_t n)
{
        uint64_t h = 1469598103934665603ULL;        /* FNV-1a */
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 1099511628211ULL;
        }
        return h;
}

static size_t find_slot(char **slot, size_t cap, const char *str, size_t len)
{
        size_t i = (size_t)unpack_hash(str, len) & (cap - 1);
        while (slot[i] && !(strlen(slot[i]) == len && !memcmp(slot[i], str, len)))
                i = (i + 1) & (cap - 1);
        return i;
}

bool unpack_strset_has(const struct unpack_strset *s, const char *str, size_t len)
{
        if (!s->cap)
                return false;
        return s->slot[find_slot(s->slot, s->cap, str, len)] != NULL;
}

bool unpack_strset_add(struct unpack_strset *s, const char *str, size_t len)
{
        if ((s->n + 1) * 2 > s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 1024;
                char **ns = xcalloc(ncap, sizeof *ns);
                for (size_t i = 0; i < s->cap; i++)
                        if (s->slot[i])
                                ns[find_slot(ns, ncap, s->slot[i], strlen(s->slot[i]))] = s->slot[i];
                free(s->slot);
                s->slot = ns;
                s->cap = ncap;
        }
        size_t i = find_slot(s->slot, s->cap, str, len);
        if (s->slot[i])
                return false;
        s->slot[i] = xstrndup(str, len);
        s->n++;
        return true;
}

void unpack_strset_free(struct unpack_strset *s)
{
        for (size_t i = 0; i < s->cap; i++)
                free(s->slot[i]);
        free(s->slot);
        s->slot = NULL;
        s->cap = s->n = 0;
}
