/* A tiny TAP producer for the C unit tests.  Each test binary prints
 * "ok N - name" / "not ok N - name" lines and a closing "N passed, N failed"
 * line, and exits non-zero when anything failed. */
#ifndef STRATA_TAP_H
#define STRATA_TAP_H
#include <stdbool.h>

void tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
/* is_str() - compares two strings (NULL allowed), prints both on mismatch. */
void is_str(const char *got, const char *want, const char *name);
void is_int(long long got, long long want, const char *name);
/* tap_done() - print the summary; returns the process exit status. */
int tap_done(void);
#endif
