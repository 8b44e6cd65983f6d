/* strata pull [OPTIONS] REF — argv to pull_opts, then one call. */
#include "cli.h"
#include "fetchcfg.h"
#include "pull.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cmd_pull(int argc, char **argv)
{
        struct pull_opts o = { 0 };
        struct strv mirrors = { 0 };
        static const struct option opts[] = {
                { "registry-mirror", required_argument, NULL, 'm' },
                { "platform", required_argument, NULL, 'p' },
                { "quiet", no_argument, NULL, 'q' },
                { "jobs", required_argument, NULL, 'j' },
                { 0 }
        };
        int c;
        while ((c = getopt_long(argc, argv, "qj:", opts, NULL)) != -1) {
                switch (c) {
                case 'p': o.platform = optarg; break;
                case 'q': o.quiet = true; break;
                case 'j': o.jobs = atoi(optarg); break;
                case 'm': strv_push(&mirrors, optarg); break;
                default: return bad_option("pull", argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("pull", "requires exactly 1 argument");
        const char *ref = argv[optind];
        if (!o.platform) {
                /* docker's variable for the default platform */
                const char *dp = getenv("DOCKER_DEFAULT_PLATFORM");
                if (dp && *dp)
                        o.platform = dp;
        }
        fetch_opts_from_env(&o.fetch);

        struct err e = { 0 };
        struct store *s = NULL;
        struct fetch_setup fs;
        /* the configuration first: a malformed one leaves the store untouched */
        int r = fetch_setup_load(&fs, &mirrors, &e);
        strv_free(&mirrors);
        if (r < 0)
                return report_err(&e);
        o.cfg = &fs.fc;
        r = store_open(default_root(), &s, &e);
        if (r >= 0)
                r = pull_image(s, ref, &o, &e);
        store_close(s);
        fetch_setup_free(&fs);
        if (r < 0) {
                err_wrap(&e, "pull %s", ref);
                return report_err(&e);
        }
        return 0;
}
