/* strata build [OPTIONS] CONTEXT — build an image from a Containerfile. */
#include "build.h"
#include "cli.h"
#include "commit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(char ***v, size_t *n, char *s)
{
        *v = xrealloc(*v, (*n + 1) * sizeof **v);
        (*v)[(*n)++] = s;
}

int cmd_build(int argc, char **argv)
{
        static const struct option opts[] = {
                { "file", required_argument, NULL, 'f' },
                { "tag", required_argument, NULL, 't' },
                { "build-arg", required_argument, NULL, 'B' },
                { "target", required_argument, NULL, 'T' },
                { "no-cache", no_argument, NULL, 'N' },
                { "pull", no_argument, NULL, 'P' },
                { "platform", required_argument, NULL, 'p' },
                { "label", required_argument, NULL, 'L' },
                { "iidfile", required_argument, NULL, 'I' },
                { "quiet", no_argument, NULL, 'q' },
                { "compress", required_argument, NULL, 'z' },
                { 0 }
        };
        struct build_opts o = { 0 };
        struct err e = { 0 };
        int c, r = 0;
        while (r == 0 && (c = getopt_long(argc, argv, "f:t:q", opts, NULL)) != -1) {
                switch (c) {
                case 'f': o.file = optarg; break;
                case 't': push(&o.tags, &o.n_tags, optarg); break;
                case 'B': push(&o.build_args, &o.n_build_args, optarg); break;
                case 'T': o.target = optarg; break;
                case 'N': o.no_cache = true; break;
                case 'P': o.pull = true; break;
                case 'p': o.platform = optarg; break;
                case 'L': push(&o.labels, &o.n_labels, optarg); break;
                case 'I': o.iidfile = optarg; break;
                case 'q': o.quiet = true; break;
                case 'z': r = pack_compression_parse(optarg, &o.tar.compression, &e); break;
                default:
                        free(o.tags);
                        free(o.build_args);
                        free(o.labels);
                        return bad_option("build", argv);
                }
        }
        if (r == 0)
                r = parse_timestamp(NULL, &o.tar, &e);
        int status = 2;
        if (r < 0) {
                status = usage_error("build", "%s", e.msg);
        } else if (argc - optind != 1) {
                status = usage_error("build", "requires exactly 1 argument: CONTEXT (a directory, or - for a "
                                              "Containerfile on stdin)");
        } else if (geteuid() != 0) {
                fprintf(stderr, "strata: build %s: strata build needs root (its RUN steps run as strata run does): "
                                "run it with sudo\n", argv[optind]);
                status = 1;
        } else {
                o.context = argv[optind];
                struct store *s = NULL;
                char id[DIGEST_STR_LEN + 1];
                r = open_store(&s, &e);
                if (r < 0)
                        status = 1;
                else
                        r = build_run(s, &o, id, &status, &e);
                store_close(s);
                if (r < 0) {
                        err_wrap(&e, "build %s", o.context);
                        report_err(&e);
                } else {
                        printf("%s\n", digest_hex(id));
                }
        }
        free(o.tags);
        free(o.build_args);
        free(o.labels);
        return status;
}
