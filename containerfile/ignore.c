/* .dockerignore (.containerignore): docker's patternmatcher rules
 * (containerfile.h).  A path is excluded when the last pattern matching it,
 * or matching one of its parent directories, is not a '!' exception. */
#include "containerfile.h"

#include <fnmatch.h>
#include <string.h>

#define IGNORE_MAX_PATTERNS 100000

void bf_ignore_free(struct bf_ignore *ig)
{
        bf_strv_free(ig->pats);
        free(ig->neg);
        ig->pats = NULL;
        ig->neg = NULL;
        ig->n = 0;
}

/* @p cleaned in place: no "." components, ".." folded (never above the
 * top), no leading, trailing or doubled '/'. */
static void clean(char *p)
{
        char *out = p, *save = NULL;
        _cleanup_free_ char *copy = xstrdup(p);
        size_t len = 0;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..")) {
                        while (len && out[len - 1] != '/')
                                len--;
                        if (len)
                                len--;
                        continue;
                }
                if (len)
                        out[len++] = '/';
                memcpy(out + len, c, strlen(c));
                len += strlen(c);
        }
        out[len] = '\0';
}

int bf_ignore_parse(const char *text, size_t len, struct bf_ignore *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        size_t i = 0, cap = 0;
        while (i < len) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
                _cleanup_free_ char *line = xstrndup(text + i, l);
                i += l + 1;
                char *p = line;
                while (*p == ' ' || *p == '\t')
                        p++;
                size_t pl = strlen(p);
                while (pl && (p[pl - 1] == ' ' || p[pl - 1] == '\t' || p[pl - 1] == '\r'))
                        p[--pl] = '\0';
                if (!*p || *p == '#')
                        continue;
                bool neg = *p == '!';
                if (neg)
                        p++;
                while (*p == ' ' || *p == '\t')
                        p++;
                clean(p);
                if (!*p)
                        continue;
                if (out->n == IGNORE_MAX_PATTERNS) {
                        bf_ignore_free(out);
                        return err_setx(e, E2BIG, "more than %d patterns", IGNORE_MAX_PATTERNS);
                }
                if (out->n + 2 > cap) {
                        cap = cap ? cap * 2 : 16;
                        out->pats = xrealloc(out->pats, cap * sizeof *out->pats);
                        out->neg = xrealloc(out->neg, cap * sizeof *out->neg);
                }
                out->neg[out->n] = neg;
                out->pats[out->n++] = xstrdup(p);
                out->pats[out->n] = NULL;
        }
        return 0;
}

/* Segments of a pattern against segments of a path; "**" spans any number. */
static bool match_segs(char **p, size_t np, char **s, size_t ns)
{
        if (!np)
                return !ns;
        if (!strcmp(p[0], "**"))
                return match_segs(p + 1, np - 1, s, ns) || (ns && match_segs(p, np, s + 1, ns - 1));
        return ns && fnmatch(p[0], s[0], 0) == 0 && match_segs(p + 1, np - 1, s + 1, ns - 1);
}

static size_t split(char *s, char **v, size_t max)
{
        size_t n = 0;
        char *save = NULL;
        for (char *c = strtok_r(s, "/", &save); c && n < max; c = strtok_r(NULL, "/", &save))
                v[n++] = c;
        return n;
}

#define SEGS_MAX 256

bool bf_ignore_match(const struct bf_ignore *ig, const char *path)
{
        if (!ig || !ig->n)
                return false;
        _cleanup_free_ char *p = xstrdup(path);
        clean(p);
        if (!*p)
                return false;   /* the context itself */
        char *segs[SEGS_MAX];
        size_t ns = split(p, segs, SEGS_MAX);
        bool excluded = false;
        for (size_t i = 0; i < ig->n; i++) {
                if (excluded == !ig->neg[i])
                        continue;   /* cannot change the answer */
                _cleanup_free_ char *q = xstrdup(ig->pats[i]);
                char *ps[SEGS_MAX];
                size_t np = split(q, ps, SEGS_MAX);
                bool m = false;
                for (size_t k = 1; k <= ns && !m; k++)   /* the path, or a parent of it */
                        m = match_segs(ps, np, segs, k);
                if (m)
                        excluded = !ig->neg[i];
        }
        return excluded;
}
