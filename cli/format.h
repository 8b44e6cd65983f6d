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

/* --format: docker's values ("json", "table", "table TEMPLATE", "TEMPLATE")
 * over one JSON object per item (see template.h).  As docker: "\t" and "\n"
 * written as two characters become a tab and a newline; each item's output
 * ends in a newline; "table" prints a header row (the template run over
 * @header, which maps each Field to its column title) and aligns the cells
 * that tabs end, as Go's tabwriter (minimum width 10, padding 3). */
struct tmpl;
struct fmt_out {
        struct tmpl *t;
        bool table;
        int mode;               /* enum tmpl_mode of the items */
        json_t *header;         /* borrowed */
        struct buf rows;        /* table: everything, printed by fmt_close() */
        FILE *f;
};
typedef struct json_t json_t;
/* fmt_open() - @format as given; @table_default the template "table" alone
 * means (e.g. "{{.Repository}}\t{{.Tag}}"); @strict: a field missing from an
 * item is an error naming it (docker's typed contexts; inspect is lenient).
 * -EINVAL with @e "template: ..." on a syntax error. */
int fmt_open(struct fmt_out *o, const char *format, const char *table_default, json_t *header, bool strict,
             FILE *f, struct err *e);
/* fmt_item() - run the template over @item, which is consumed (released by
 * this call); prints it, or keeps it for fmt_close() in a table.  Nothing is
 * printed for a failing item. */
int fmt_item(struct fmt_out *o, json_t *item, struct err *e);
/* fmt_close() - when @r (the caller's status so far) is >= 0, a table's
 * header and rows, aligned; frees @o either way.  Returns @r, or the
 * header's error. */
int fmt_close(struct fmt_out *o, int r, struct err *e);
/* tabwrite() - Go's text/tabwriter over @text (cells end with a tab). */
void tabwrite(const char *text, size_t minwidth, size_t padding, FILE *f);

#endif
