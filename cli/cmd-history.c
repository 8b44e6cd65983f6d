/* strata history IMAGE — one line per history entry (docker history). */
#include "cli.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>



static int history(const char *arg, bool no_trunc, bool quiet, struct err *e)
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
        struct table t;
        table_init(&t, 5, "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
        time_t now = time(NULL);
        for (size_t k = n; k-- > 0;) {
                json_t *h = json_array_get(hist, k);
                char id[80], ago[64], size[32];
                if (k == n - 1)
                        snprintf(id, sizeof id, "%.12s", im.id + 7);
                else
                        snprintf(id, sizeof id, "<missing>");
                if (no_trunc && k == n - 1)
                        snprintf(id, sizeof id, "%s", im.id);
                if (quiet) {
                        printf("%s\n", id);
                        continue;
                }
                human_ago(parse_rfc3339(json_string_value(json_object_get(h, "created"))), now, ago, sizeof ago);
                human_size(sizes[k], size, sizeof size);
                const char *by = json_string_value(json_object_get(h, "created_by"));
                _cleanup_free_ char *cut = no_trunc ? xstrdup(by ? by : "") : truncate_ellipsis(by ? by : "", 45);
                const char *comment = json_string_value(json_object_get(h, "comment"));
                table_add(&t, id, ago, cut, size, comment ? comment : "");
        }
        if (!quiet)
                table_print(&t, stdout);
        table_free(&t);
        free(sizes);
out:
        json_decref(cfg);
        store_image_free(&im);
        store_close(s);
        return r;
}

int cmd_history(int argc, char **argv)
{
        static const struct option opts[] = { { "no-trunc", no_argument, NULL, 'n' },
                                              { "quiet", no_argument, NULL, 'q' },
                                              { "human", required_argument, NULL, 'H' }, { 0 } };
        bool no_trunc = false, quiet = false;
        int c;
        while ((c = getopt_long(argc, argv, "qH:", opts, NULL)) != -1) {
                switch (c) {
                case 'n': no_trunc = true; break;
                case 'q': quiet = true; break;
                case 'H': break;
                default: return bad_option("history", argv);
                }
        }
        if (argc - optind != 1)
                return usage_error("history", "requires exactly 1 argument");
        struct err e = { 0 };
        if (history(argv[optind], no_trunc, quiet, &e) < 0) {
                err_wrap(&e, "history %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}
