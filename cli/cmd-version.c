/* strata version [--format T] — docker version's client half: the version,
 * the git commit the binary was built from (the Makefile passes it; "unknown"
 * outside a checkout), OS/Arch. */
#include "cli.h"
#include "format.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#ifndef STRATA_GIT_COMMIT
#define STRATA_GIT_COMMIT "unknown"
#endif

/* docker's GOARCH names for the machine */
static const char *go_arch(void)
{
        static struct utsname u;
        if (uname(&u) < 0)
                return "unknown";
        static const char *const map[][2] = { { "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" },
                                               { "armv7l", "arm" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
                                               { "riscv64", "riscv64" } };
        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                if (!strcmp(u.machine, map[i][0]))
                        return map[i][1];
        return u.machine;
}

void print_version_line(void)
{
        printf("strata version %s, build %s\n", STRATA_VERSION, STRATA_GIT_COMMIT);
}

int cmd_version(int argc, char **argv)
{
        const char *format;
        int st = format_option("version", argc, argv, &format);
        if (st)
                return st;
        if (optind < argc)
                return usage_error("version", "takes no arguments");
        json_t *v = json_pack("{s:{s:s, s:s, s:s, s:s}}", "Client", "Version", STRATA_VERSION, "GitCommit",
                              STRATA_GIT_COMMIT, "Os", "linux", "Arch", go_arch());
        if (!format) {
                json_t *cl = json_object_get(v, "Client");
                printf("Client:\n Version:    %s\n Git commit: %s\n OS/Arch:    linux/%s\n",
                       json_string_value(json_object_get(cl, "Version")),
                       json_string_value(json_object_get(cl, "GitCommit")), go_arch());
                json_decref(v);
                return 0;
        }
        struct err e = { 0 };
        struct fmt_out out;
        int r = fmt_open(&out, format, "{{json .}}", NULL, true, stdout, &e);
        if (r >= 0)
                r = fmt_item(&out, v, &e);
        else
                json_decref(v);
        r = fmt_close(&out, r, &e);
        if (r < 0) {
                err_wrap(&e, "version");
                return report_err(&e);
        }
        return 0;
}
