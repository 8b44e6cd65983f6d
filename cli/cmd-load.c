/* strata load [-i FILE] [-q] — docker load / podman load. */
#include "cli.h"
#include "load.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

int cmd_load(int argc, char **argv)
{
        static const struct option opts[] = {
                { "input", required_argument, NULL, 'i' },
                { "quiet", no_argument, NULL, 'q' },
                { 0 }
        };
        struct load_opts o = { 0 };
        const char *input = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "i:q", opts, NULL)) != -1) {
                switch (c) {
                case 'i': input = optarg; break;
                case 'q': o.quiet = true; break;
                default: return bad_option("load", argv);
                }
        }
        if (optind != argc)
                return usage_error("load", "takes no arguments (the archive comes with -i FILE or on stdin)");
        if (!input && isatty(STDIN_FILENO)) {
                fprintf(stderr, "strata: load: requested load from stdin, but stdin is a terminal (use -i FILE)\n");
                return 1;
        }
        struct err e = { 0 };
        int fd = input ? open(input, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
        if (fd < 0) {
                err_set(&e, errno, "load: open %s", input);
                return report_err(&e);
        }
        struct store *s = NULL;
        int r = open_store(&s, &e);
        if (r >= 0)
                r = load_archive(s, fd, &o, &e);
        store_close(s);
        if (input)
                close(fd);
        if (r < 0) {
                err_wrap(&e, "load %s", input ? input : "-");
                return report_err(&e);
        }
        return 0;
}
