/* Jobs on a few threads, each with a connection of its own: the layers of
 * a pull and the blobs of a push. */
#ifndef STRATA_CLI_WORKERS_H
#define STRATA_CLI_WORKERS_H

#include "fetch/fetch.h"
#include "util/util.h"

#include <signal.h>

#define WORKERS_MAX 16

/* One job: 0 or -errno with @e set. */
typedef int (*worker_fn)(void *ctx, size_t i, struct fetch_conn *c, struct err *e);

/* workers_run() - run jobs 0..@n-1 in order of index on min(@threads, @n,
 * WORKERS_MAX) threads, each thread with one fetch_conn.  After a failure,
 * or once *@stop (may be NULL) is set, no job starts; the jobs running
 * finish.  The failure of the lowest index wins: -errno with @e set. */
int workers_run(size_t n, int threads, worker_fn fn, void *ctx, const volatile sig_atomic_t *stop,
                const char *what, struct err *e);

/* workers_parse() - a -j/--jobs argument: 1..WORKERS_MAX; false otherwise. */
bool workers_parse(const char *s, int *out);

#endif
