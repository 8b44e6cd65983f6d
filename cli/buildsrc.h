/* cli/buildsrc — the COPY and ADD sources that are not in the build
 * context: ADD's URLs (fetched with the fetcher, --checksum checked) and
 * heredoc files (COPY <<EOF).  Each is staged as a file under a directory
 * of the store's tmp/, and copied from there as a context file would be. */
#ifndef STRATA_CLI_BUILDSRC_H
#define STRATA_CLI_BUILDSRC_H

#include "store/store.h"
#include "util/util.h"

struct staging {
        char *path;                /* ROOT/tmp/build-src-..., or NULL */
        int fd;                    /* open on it, or -1 */
        unsigned n;                /* sources staged: each in its own subdirectory */
};

#define STAGING_INIT { NULL, -1, 0 }

/* staging_close() - the directory removed; accepts an unopened one. */
void staging_close(struct staging *st);

/* staging_url_name() - the file name docker gives a URL's download: the
 * last name of its path (no query, no fragment); -EINVAL when it has none. */
int staging_url_name(const char *url, char **name, struct err *e);

/* staging_url() - GET @url (http:// or https://) into the staging
 * directory (made on first use) as staging_url_name(), mode 0600 as docker
 * makes it.  @checksum "sha256:HEX" or NULL: a download with another
 * sha256 is refused.  *@rel the file's path in the staging directory
 * (caller frees), @digest its sha256. */
int staging_url(struct store *s, struct staging *st, const char *url, const char *checksum, char **rel,
                char digest[DIGEST_STR_LEN + 1], struct err *e);

/* staging_file() - a file @name holding @body, mode 0644 (a heredoc). */
int staging_file(struct store *s, struct staging *st, const char *name, const char *body, char **rel,
                 char digest[DIGEST_STR_LEN + 1], struct err *e);

#endif
