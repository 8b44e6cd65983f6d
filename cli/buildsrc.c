/* ADD URL and heredoc sources of `strata build`: see buildsrc.h. */
#include "buildsrc.h"
#include "fetch/fetch.h"
#include "fetchcfg.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void staging_close(struct staging *st)
{
        if (st->fd >= 0)
                close(st->fd);
        if (st->path) {
                struct err e = { 0 };
                rm_rf_at(AT_FDCWD, st->path, &e);
        }
        free(st->path);
        st->path = NULL;
        st->fd = -1;
}

int staging_url_name(const char *url, char **name, struct err *e)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        size_t end = strcspn(p, "?#");
        const char *path = memchr(p, '/', end);
        size_t pl = path ? end - (size_t)(path - p) : 0;
        while (pl && path[pl - 1] == '/')
                pl--;
        const char *base = path;
        for (size_t i = 0; i < pl; i++)
                if (path[i] == '/')
                        base = path + i + 1;
        size_t bl = path ? pl - (size_t)(base - path) : 0;
        if (!bl || (bl == 1 && base[0] == '.') || (bl == 2 && !memcmp(base, "..", 2)))
                return err_setx(e, EINVAL, "%s: cannot determine a file name from the URL (give the destination a "
                                           "file name)", url);
        *name = xstrndup(base, bl);
        return 0;
}

/* A new subdirectory for one source, the staging directory made first. */
static int staging_dir(struct store *s, struct staging *st, char **sub, struct err *e)
{
        if (!st->path) {
                int r = store_tmp_create(s, "build-src", true, &st->path, &st->fd, e);
                if (r < 0)
                        return r;
        }
        *sub = xasprintf("%u", st->n++);
        if (mkdirat(st->fd, *sub, 0700) < 0) {
                int r = err_set(e, errno, "mkdir %s/%s", st->path, *sub);
                free(*sub);
                return r;
        }
        return 0;
}

struct sink {
        int fd;
        struct sha256 h;
};

static int sink_write(void *ctx, const void *p, size_t n)
{
        struct sink *k = ctx;
        sha256_update(&k->h, p, n);
        ssize_t w = write_all(k->fd, p, n);
        return w < 0 ? (int)w : 0;
}

static int stage(struct store *s, struct staging *st, const char *name, const char *url, const char *body, mode_t mode,
                 char **rel, char digest[DIGEST_STR_LEN + 1], struct err *e)
{
        _cleanup_free_ char *sub = NULL;
        int r = staging_dir(s, st, &sub, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *p = xasprintf("%s/%s", sub, name);
        struct sink k = { .fd = openat(st->fd, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) };
        if (k.fd < 0)
                return err_set(e, errno, "create %s/%s", st->path, p);
        sha256_init(&k.h);
        if (url) {
                struct fetch_opts fo = { 0 };
                fetch_opts_from_env(&fo);
                r = fetch_url(url, &fo, sink_write, &k, e);
        } else {
                r = sink_write(&k, body, strlen(body));
                if (r < 0)
                        err_set(e, -r, "write %s/%s", st->path, p);
        }
        sha256_final(&k.h, digest);
        if (r >= 0 && fchmod(k.fd, mode) < 0)
                r = err_set(e, errno, "chmod %s/%s", st->path, p);
        close(k.fd);
        if (r >= 0)
                *rel = TAKE_PTR(p);
        return r;
}

int staging_url(struct store *s, struct staging *st, const char *url, const char *checksum, char **rel,
                char digest[DIGEST_STR_LEN + 1], struct err *e)
{
        _cleanup_free_ char *name = NULL;
        int r = staging_url_name(url, &name, e);
        if (r < 0)
                return r;
        r = stage(s, st, name, url, NULL, 0600, rel, digest, e);
        if (r >= 0 && checksum && strcasecmp(checksum, digest)) {
                free(*rel);
                *rel = NULL;
                r = err_setx(e, EBADMSG, "%s: checksum mismatch: the download is %s, --checksum says %s", url, digest,
                             checksum);
        }
        return r;
}

int staging_file(struct store *s, struct staging *st, const char *name, const char *body, char **rel,
                 char digest[DIGEST_STR_LEN + 1], struct err *e)
{
        return stage(s, st, name, NULL, body, 0644, rel, digest, e);
}
