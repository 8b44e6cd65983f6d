/* strata history IMAGE — one line per history entry (docker history),
 * newest first; --format over docker's fields, -H/--human=false for raw
 * times and byte counts. */
#include "cli.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

#define CREATED_BY_WIDTH 45   /* docker's */

struct history_opts {
        bool no_trunc, quiet, human;
        const char *format;
};

/* One entry as docker's history context. */
static json_t *entry_item(json_t *h, const char *id, uint64_t size, const struct history_opts *o, time_t now)
{
        time_t created = parse_rfc3339(json_string_value(json_object_get(h, "created")));
        char ago[64], at[64], sz[32];
        time_rfc3339(created, at, sizeof at);
        if (o->human)
                human_ago(created, now, ago, sizeof ago);
        else
                snprintf(ago, sizeof ago, "%s", at);
        if (o->human)
                human_size(size, sz, sizeof sz);
        else
                snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
        const char *by = json_string_value(json_object_get(h, "created_by"));
        _cleanup_free_ char *flat = xstrdup(by ? by : "");
        for (char *p = flat; *p; p++)
                if (*p == '\t')
                        *p = ' ';
        _cleanup_free_ char *cut = o->no_trunc ? xstrdup(flat) : truncate_ellipsis(flat, CREATED_BY_WIDTH);
        const char *comment = json_string_value(json_object_get(h, "comment"));
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Comment", comment ? comment : "", "CreatedAt", at,
                         "CreatedBy", cut, "CreatedSince", ago, "ID", id, "Size", sz);
}

static int history(const char *arg, const struct history_opts *o, struct err *e)
{
        struct store *s = NULL;
        int r = open_store(&s, e);
        if (r < 0)
                return r;
        struct store_image im = { 0 };
        json_t *cfg = NULL;
        r = lookup_image(s, arg, &im, NULL, e);
        if (r >= 0)
                r = image_config_json(s, &im, &cfg, e);
        if (r < 0)
                goto out;
        json_t *hist = json_object_get(cfg, "history");
        size_t n = json_array_size(hist);
        /* docker pairs each non-empty history entry with the next layer */
        uint64_t *sizes = xcalloc(n ? n : 1, sizeof *sizes);
        size_t li = 0;
        for (size_t i = 0; i < n; i++)
                if (!json_is_true(json_object_get(json_array_get(hist, i), "empty_layer")) && li < im.n_layers)
                        sizes[i] = store_layer_file_bytes(s, im.layers[li++].diff_id);
        json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Comment", "COMMENT", "CreatedAt", "CREATED AT",
                                   "CreatedBy", "CREATED BY", "CreatedSince", "CREATED", "ID", "IMAGE", "Size", "SIZE");
        struct fmt_out out = { 0 };
        if (!o->quiet)
                r = fmt_open(&out, o->format ? o->format : "table",
                             "{{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}", header, true,
                             stdout, e);
        time_t now = time(NULL);
        for (size_t k = n; r >= 0 && k-- > 0;) {
                char id[80];
                if (k != n - 1)
                        snprintf(id, sizeof id, "<missing>");
                else
                        snprintf(id, sizeof id, "%.*s", o->no_trunc ? (int)strlen(im.id) : 12,
                                 o->no_trunc ? im.id : im.id + 7);
                if (o->quiet) {
                        printf("%s\n", id);
                        continue;
                }
                r = fmt_item(&out, entry_item(json_array_get(hist, k), id, sizes[k], o, now), e);
        }
        r = fmt_close(&out, r, e);
        json_decref(header);
        free(sizes);
out:
        json_decref(cfg);
        store_image_free(&im);
        store_close(s);
        return r;
}

/* Go's strconv.ParseBool, as docker's boolean flags take it (-H=false) */
static int parse_bool(const char *v, bool *out)
{
        static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
        static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (!strcmp(v, yes[i]))
                        return *out = true, 0;
                if (!strcmp(v, no[i]))
                        return *out = false, 0;
        }
        return -EINVAL;
}

int cmd_history(int argc, char **argv)
{
        static const struct option opts[] = { { "no-trunc", no_argument, NULL, 'n' },
                                              { "quiet", no_argument, NULL, 'q' },
                                              { "human", optional_argument, NULL, 'H' },
                                              { "format", required_argument, NULL, 'F' }, { 0 } };
        struct history_opts o = { .human = true };
        int c;
        while ((c = getopt_long(argc, argv, "qH::", opts, NULL)) != -1) {
                switch (c) {
                case 'n': o.no_trunc = true; break;
                case 'q': o.quiet = true; break;
                case 'F': o.format = optarg; break;
                case 'H': {
                        const char *v = optarg ? optarg + (optarg[0] == '=') : "true";
                        if (parse_bool(v, &o.human) < 0)
                                return usage_error("history", "invalid argument \"%s\" for -H, --human: a boolean (true or false)", v);
                        break;
                }
                default: return bad_option("history", argv);
                }
        }
        if (argc - optind != 1)
                return usage_error("history", "requires exactly 1 argument");
        struct err e = { 0 };
        if (history(argv[optind], &o, &e) < 0) {
                err_wrap(&e, "history %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}
