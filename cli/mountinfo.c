/* Mount points from /proc/self/mountinfo (see mountinfo.h). */
#include "mountinfo.h"
#include "util/util.h"

#include <string.h>

/* The kernel escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else {
                        *w++ = *r;
                }
        }
        *w = '\0';
}

int mountinfo_lookup(FILE *f, const char *path, char *fstype, size_t n)
{
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        int found = 0;
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
         * a later line at the same mount point is mounted over the earlier */
        while (getline(&line, &cap, f) > 0) {
                char *save = NULL, *mp = NULL;
                char *tok = strtok_r(line, " \n", &save);
                for (int i = 0; tok && i < 4; i++)
                        tok = strtok_r(NULL, " \n", &save);
                mp = tok;
                if (!mp)
                        continue;
                unescape(mp);
                if (strcmp(mp, path))
                        continue;
                while ((tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-"))
                        ;
                tok = tok ? strtok_r(NULL, " \n", &save) : NULL;
                snprintf(fstype, n, "%s", tok ? tok : "?");
                found = 1;
        }
        return found;
}

int mount_point_type(const char *path, char *fstype, size_t n)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        int r = mountinfo_lookup(f, path, fstype, n);
        fclose(f);
        return r;
}
