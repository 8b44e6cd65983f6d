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

struct stop_args {
        int sig, timeout;
};

/* docker prints each argument it stopped or signalled, as it was given */
static int said(int r, const char *arg)
{
        if (r >= 0) {
                printf("%s\n", arg);
                fflush(stdout);
        }
        return r;
}

static int stop_one(struct store *s, struct store_mount *m, const char *arg, const void *ctx, struct err *e)
{
        const struct stop_args *a = ctx;
        return said(container_stop(s, m, a->sig, a->timeout, e), arg);
}

static int kill_one(struct store *s, struct store_mount *m, const char *arg, const void *ctx, struct err *e)
{
        (void)s;
        return said(container_kill(m, ((const struct stop_args *)ctx)->sig, e), arg);
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
        return st ? st : container_each_run("stop", argc, argv, stop_one, &a);
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
        return st ? st : container_each_run("kill", argc, argv, kill_one, &a);
}
