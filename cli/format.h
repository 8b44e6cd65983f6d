/* cli/format — output shared by the commands: docker-style tables, times,
 * image names for display. */
#ifndef STRATA_CLI_FORMAT_H
#define STRATA_CLI_FORMAT_H

#include "util/util.h"
#include <stdio.h>
#include <time.h>

/* A table printed like docker's tabwriter: columns padded to the widest
 * cell plus 3 spaces, the last column unpadded. */
struct table {
        size_t n_cols, n_rows;
        char **cells;          /* n_rows * n_cols, row-major; row 0 is the header */
};
void table_init(struct table *t, size_t n_cols, ...);      /* the header cells */
void table_add(struct table *t, ...);                      /* n_cols strings (copied) */
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

/* human_ago() - docker's "2 weeks ago", "About an hour ago". */
void human_ago(time_t when, time_t now, char *out, size_t outlen);
/* time_rfc3339() - "2026-11-27T20:44:23Z" (UTC). */
void time_rfc3339(time_t when, char *out, size_t outlen);
/* parse_rfc3339() - seconds since the epoch of an RFC 3339 time, 0 on garbage. */
time_t parse_rfc3339(const char *s);

/* familiar_repo() - "busybox" for "docker.io/library/busybox:latest",
 * "joe/app" for docker.io/joe/app, "127.0.0.1:5000/x" otherwise; *@tag is
 * the tag ("<none>" for a digest name) and *@digest the digest or NULL.
 * All three are newly allocated. */
void split_store_name(const char *name, char **repo, char **tag, char **digest);

/* truncate_utf8() - copy @s into a new string of at most @max characters,
 * ending in "…" when cut (docker's stringutils.Ellipsis). */
char *truncate_ellipsis(const char *s, size_t max);

#endif
