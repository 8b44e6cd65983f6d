#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int n_run, n_fail;

static void vreport(bool cond, const char *fmt, va_list ap)
{
        n_run++;
        if (!cond)
                n_fail++;
        printf("%sok %d - ", cond ? "" : "not ", n_run);
        vprintf(fmt, ap);
        putchar('\n');
}

void tap_ok(bool cond, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vreport(cond, fmt, ap);
        va_end(ap);
}

void is_str(const char *got, const char *want, const char *name)
{
        bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);
        tap_ok(same, "%s", name);
        if (!same)
                printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)", want ? want : "(null)");
}

void is_int(long long got, long long want, const char *name)
{
        tap_ok(got == want, "%s", name);
        if (got != want)
                printf("#   got:  %lld\n#   want: %lld\n", got, want);
}

int tap_done(void)
{
        printf("1..%d\n%d passed, %d failed\n", n_run, n_run - n_fail, n_fail);
        return n_fail ? 1 : 0;
}
