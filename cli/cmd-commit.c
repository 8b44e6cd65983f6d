/* strata commit [OPTIONS] MOUNT|RUN-ID [NAME[:TAG]] — docker commit. */
#include "cli.h"
#include "commit.h"
#include "newimage.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_timestamp(const char *arg, struct pack_tar_opts *t, struct err *e)
{
        if (!arg) {
                t->clamp = pack_source_date_epoch(&t->epoch);
                return 0;
        }
        char *end;
        long long v = strtoll(arg, &end, 10);
        if (!*arg || *end || v < 0)
                return err_setx(e, EINVAL, "--timestamp %s: not a number of seconds since 1970", arg);
        t->clamp = true;
        t->epoch = (time_t)v;
        return 0;
}

/* The options commit and import share; then SOURCE [NAME[:TAG]], @make
 * called with them, and the new image's ID printed. */
typedef int (*make_fn)(struct store *s, const char *src, const struct commit_opts *o,
                       char id[DIGEST_STR_LEN + 1], struct err *e);

int commit_like(const char *verb, const char *operands, int argc, char **argv, make_fn make)
{
        static const struct option opts[] = {
                { "message", required_argument, NULL, 'm' },
                { "author", required_argument, NULL, 'a' },
                { "change", required_argument, NULL, 'c' },
                { "format", required_argument, NULL, 'f' },
                { "compress", required_argument, NULL, 'z' },
                { "timestamp", required_argument, NULL, 't' },
                { "quiet", no_argument, NULL, 'q' },
                { 0 }
        };
        struct commit_opts o = { 0 };
        struct err e = { 0 };
        const char *ts = NULL;
        int c, r = 0;
        while (r == 0 && (c = getopt_long(argc, argv, "m:a:c:q", opts, NULL)) != -1) {
                switch (c) {
                case 'm': o.message = optarg; break;
                case 'a': o.author = optarg; break;
                case 'c':
                        o.changes = xrealloc(o.changes, (o.n_changes + 1) * sizeof *o.changes);
                        o.changes[o.n_changes++] = optarg;
                        break;
                case 'f': r = pack_format_parse(optarg, &o.format, &e); o.format_set = true; break;
                case 'z': r = pack_compression_parse(optarg, &o.tar.compression, &e); break;
                case 't': ts = optarg; break;
                case 'q': break;   /* the ID is all these print anyway */
                default:
                        free(o.changes);
                        return bad_option(verb, argv);
                }
        }
        if (r == 0)
                r = parse_timestamp(ts, &o.tar, &e);
        if (r < 0) {
                free(o.changes);
                return usage_error(verb, "%s", e.msg);
        }
        if (argc - optind < 1 || argc - optind > 2) {
                free(o.changes);
                return usage_error(verb, "requires 1 or 2 arguments: %s [NAME[:TAG]]", operands);
        }
        const char *src = argv[optind];
        o.name = argc - optind == 2 ? argv[optind + 1] : NULL;
        struct store *s = NULL;
        char id[DIGEST_STR_LEN + 1];
        r = open_store(&s, &e);
        if (r >= 0)
                r = make(s, src, &o, id, &e);
        store_close(s);
        free(o.changes);
        if (r < 0) {
                err_wrap(&e, "%s %s", verb, src);
                return report_err(&e);
        }
        printf("%s\n", id);
        return 0;
}

int cmd_commit(int argc, char **argv)
{
        return commit_like("commit", "MOUNT|RUN-ID", argc, argv, commit_mount);
}
