/* strata stop [-t N] [-s SIG] ID|NAME... and strata kill [-s SIG] ID|NAME...
 * — docker stop (the image's StopSignal, SIGTERM without one, then SIGKILL
 * after N seconds, default 10) and docker kill (SIGKILL, or SIG).  Each
 * prints the argument it was given, as docker does. */
#include "cli.h"
#include "container.h"
#include "store/store.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* each_run() - @fn over every operand; an error is said per operand, the
 * exit status is 1 when any failed. */
static int each_run(const char *verb, int argc, char **argv,
                    int (*fn)(struct store *s, struct store_mount *m, const void *ctx, struct err *e), const void *ctx)
{
        if (optind >= argc)
                return usage_error(verb, "requires at least 1 argument");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0) {
                err_wrap(&e, "%s", verb);
                return report_err(&e);
        }
        int status = 0;
        for (int i = optind; i < argc; i++) {
                struct store_mount m = { 0 };
                err_clear(&e);
                int r = container_find_run(s, argv[i], &m, &e);
                if (r >= 0)
                        r = fn(s, &m, ctx, &e);
                store_mount_free(&m);
                if (r < 0) {
                        err_wrap(&e, "%s %s", verb, argv[i]);
                        status = report_err(&e);
                        continue;
                }
                printf("%s\n", argv[i]);
                fflush(stdout);
        }
        store_close(s);
        return status;
}

struct stop_args {
        int sig, timeout;
};

static int stop_one(struct store *s, struct store_mount *m, const void *ctx, struct err *e)
{
        const struct stop_args *a = ctx;
        return container_stop(s, m, a->sig, a->timeout, e);
}

static int kill_one(struct store *s, struct store_mount *m, const void *ctx, struct err *e)
{
        (void)s;
        return container_kill(m, ((const struct stop_args *)ctx)->sig, e);
}

static int parse_signal(const char *verb, const char *arg, int *sig)
{
        *sig = signal_parse(arg);
        return *sig < 0 ? usage_error(verb, "invalid signal: %s", arg) : 0;
}

int cmd_stop(int argc, char **argv)
{
        static const struct option opts[] = { { "time", required_argument, NULL, 't' },
                                              { "timeout", required_argument, NULL, 't' },
                                              { "signal", required_argument, NULL, 's' }, { 0 } };
        struct stop_args a = { .sig = 0, .timeout = 10 };
        int c, st = 0;
        while (!st && (c = getopt_long(argc, argv, "t:s:", opts, NULL)) != -1) {
                char *end;
                switch (c) {
                case 't':
                        a.timeout = (int)strtol(optarg, &end, 10);
                        if (!*optarg || *end || a.timeout < -1)
                                st = usage_error("stop", "invalid time: %s (seconds, -1: wait for ever)", optarg);
                        break;
                case 's': st = parse_signal("stop", optarg, &a.sig); break;
                default: return bad_option("stop", argv);
                }
        }
        return st ? st : each_run("stop", argc, argv, stop_one, &a);
}

int cmd_kill(int argc, char **argv)
{
        static const struct option opts[] = { { "signal", required_argument, NULL, 's' }, { 0 } };
        struct stop_args a = { .sig = SIGKILL };
        int c, st = 0;
        while (!st && (c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
                if (c != 's')
                        return bad_option("kill", argv);
                st = parse_signal("kill", optarg, &a.sig);
        }
        return st ? st : each_run("kill", argc, argv, kill_one, &a);
}
