/* cli/progress — docker-pull-style progress: one row per layer, redrawn in
 * place with ANSI cursor moves when the output is a terminal, plain lines
 * (status changes only) otherwise.  Thread-safe: layer workers update their
 * own rows. */
#ifndef STRATA_CLI_PROGRESS_H
#define STRATA_CLI_PROGRESS_H

#include "util/util.h"
#include <stdio.h>

struct progress;

/* progress_new() - rows go to @out; @tty selects redraw mode; @quiet prints
 * nothing at all (progress_line() still prints with @always). */
struct progress *progress_new(FILE *out, bool tty, bool quiet);
void progress_free(struct progress *p);                 /* accepts NULL */
/* progress_status() - set row @id's status ("Pulling fs layer", "Pull
 * complete"...); a new @id adds a row. */
void progress_status(struct progress *p, const char *id, const char *status);
/* progress_bytes() - "Downloading [====>   ] 12.3MB/40.1MB" for row @id;
 * redrawn at most every 100 ms per row, never printed in plain mode. */
void progress_bytes(struct progress *p, const char *id, const char *action, uint64_t cur, uint64_t total);
/* progress_notice() - a line that belongs above the rows (a retry, a mirror
 * skipped): on a terminal the rows are redrawn below it. */
void progress_notice(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* progress_line() - a line after the rows ("Digest: ...").  Printed even
 * when quiet if @always. */
void progress_line(struct progress *p, bool always, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
