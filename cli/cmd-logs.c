/* strata logs [-f] [-t] [-n N] ID|NAME — docker logs of a detached run: its
 * log (ROOT/mounts/ID/ctr.log, detach.h), stdout lines to stdout and stderr
 * lines to stderr; -f follows it until the run has exited. */
#include "cli.h"
#include "container.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct logs_opts {
        bool follow, timestamps;
        long tail;             /* -1: all */
};

/* print_line() - one "TIME STREAM F|P TEXT" line of the log; *@at_start:
 * the next text begins a line of the output (for -t). */
static void print_line(char *line, size_t n, bool timestamps, bool *at_start)
{
        if (n && line[n - 1] == '\n')
                line[--n] = '\0';
        char *ts = line, *stream = strchr(ts, ' ');
        char *tag = stream ? strchr(stream + 1, ' ') : NULL;
        if (!tag || !tag[1] || (tag[2] != ' ' && tag[2] != '\0'))
                return;                /* not a line of ours */
        *stream++ = '\0';
        *tag++ = '\0';
        bool full = tag[0] == 'F';
        const char *text = tag[1] ? tag + 2 : "";
        FILE *f = !strcmp(stream, "stderr") ? stderr : stdout;
        if (timestamps && *at_start)
                fprintf(f, "%s ", ts);
        fputs(text, f);
        if (full)
                fputc('\n', f);
        fflush(f);
        *at_start = full;
}

/* skip_to_tail() - the offset of the last @tail lines of @f */
static long tail_offset(FILE *f, long tail)
{
        char *line = NULL;
        size_t cap = 0;
        long total = 0;
        while (getline(&line, &cap, f) > 0)
                total++;
        rewind(f);
        for (long i = 0; i < total - tail && getline(&line, &cap, f) > 0; i++)
                ;
        free(line);
        return ftell(f);
}

static int show_logs(struct store *s, struct store_mount *m, const struct logs_opts *o, struct err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/ctr.log", m->dir);
        FILE *f = fopen(path, "re");
        if (!f && errno == ENOENT)
                return err_setx(e, ENOENT, "run %s has no log: its output went to the terminal (a run -d keeps one)",
                                m->id);
        if (!f)
                return err_set(e, errno, "open %s", path);
        if (o->tail >= 0)
                (void)fseek(f, tail_offset(f, o->tail), SEEK_SET);
        char *line = NULL;
        size_t cap = 0;
        bool at_start = true;
        int r = 0;
        for (;;) {
                long at = ftell(f);
                ssize_t n = getline(&line, &cap, f);
                if (n > 0 && line[n - 1] == '\n') {
                        print_line(line, (size_t)n, o->timestamps, &at_start);
                        continue;
                }
                /* the end, or half a line being written: read it again later */
                clearerr(f);
                (void)fseek(f, at, SEEK_SET);
                if (!o->follow || container_state(m) != CT_RUNNING)
                        break;
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                struct store_mount fresh;
                r = store_load_mount(s, m->id, &fresh, e);
                if (r < 0)
                        break;
                store_mount_free(m);
                *m = fresh;
                if (container_state(m) != CT_RUNNING)
                        continue;      /* one more pass reads what the run wrote last */
        }
        free(line);
        fclose(f);
        return r;
}

int cmd_logs(int argc, char **argv)
{
        static const struct option opts[] = { { "follow", no_argument, NULL, 'f' },
                                              { "timestamps", no_argument, NULL, 't' },
                                              { "tail", required_argument, NULL, 'n' }, { 0 } };
        struct logs_opts o = { .tail = -1 };
        int c;
        while ((c = getopt_long(argc, argv, "ftn:", opts, NULL)) != -1) {
                char *end;
                switch (c) {
                case 'f': o.follow = true; break;
                case 't': o.timestamps = true; break;
                case 'n':
                        o.tail = strcmp(optarg, "all") ? strtol(optarg, &end, 10) : -1;
                        if (strcmp(optarg, "all") && (!*optarg || *end || o.tail < 0))
                                return usage_error("logs", "invalid --tail %s (a number of lines, or all)", optarg);
                        break;
                default: return bad_option("logs", argv);
                }
        }
        if (argc - optind != 1)
                return usage_error("logs", "requires exactly 1 argument: ID|NAME");
        struct err e = { 0 };
        struct store *s = NULL;
        struct store_mount m = { 0 };
        int r = open_store(&s, &e);
        if (r >= 0)
                r = container_find_run(s, argv[optind], &m, &e);
        if (r >= 0)
                r = show_logs(s, &m, &o, &e);
        store_mount_free(&m);
        store_close(s);
        if (r < 0) {
                err_wrap(&e, "logs %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}
