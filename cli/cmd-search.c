/* strata search — docker search: Docker Hub's v1 search API (config
 * "search-index"), or HOST[:PORT]/TERM against that registry's catalog. */
#include "cli.h"
#include "fetchcfg.h"
#include "format.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DESCRIPTION_WIDTH 45    /* docker's */

struct filters {
        long long stars;
        int official, automated;   /* -1 any, 0 false, 1 true */
};

static int parse_filter(const char *f, struct filters *fl)
{
        const char *eq = strchr(f, '=');
        if (!eq)
                return -EINVAL;
        size_t k = (size_t)(eq - f);
        const char *v = eq + 1;
        if (k == 5 && !strncmp(f, "stars", 5)) {
                char *end;
                long long n = strtoll(v, &end, 10);
                if (!*v || *end || n < 0)
                        return -EINVAL;
                fl->stars = n;
                return 0;
        }
        int *slot = k == 11 && !strncmp(f, "is-official", 11) ? &fl->official
                  : k == 12 && !strncmp(f, "is-automated", 12) ? &fl->automated : NULL;
        if (!slot || (strcmp(v, "true") && strcmp(v, "false")))
                return -EINVAL;
        *slot = !strcmp(v, "true");
        return 0;
}

static bool keep(const struct search_result *r, const struct filters *fl)
{
        return r->stars >= fl->stars && (fl->official < 0 || r->official == fl->official) &&
               (fl->automated < 0 || r->automated == fl->automated);
}

/* "HOST[:PORT]/TERM": the registry part when the first component names one
 * (it holds '.' or ':' or is localhost, as in references). */
static char *registry_of(const char *term, const char **rest)
{
        const char *slash = strchr(term, '/');
        if (!slash)
                return NULL;
        size_t n = (size_t)(slash - term);
        if (!memchr(term, '.', n) && !memchr(term, ':', n) && !(n == 9 && !strncmp(term, "localhost", 9)))
                return NULL;
        *rest = slash + 1;
        return xstrndup(term, n);
}

/* Descriptions are shown on one line, as docker does. */
static char *one_line(const char *s)
{
        char *t = xstrdup(s);
        for (char *p = t; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        return t;
}

/* One result as docker's search context: every field a string. */
static json_t *result_item(const struct search_result *r, const char *prefix, bool no_trunc)
{
        _cleanup_free_ char *name = prefix ? xasprintf("%s/%s", prefix, r->name) : xstrdup(r->name);
        _cleanup_free_ char *desc1 = one_line(r->description);
        _cleanup_free_ char *desc = no_trunc ? xstrdup(desc1) : truncate_ellipsis(desc1, DESCRIPTION_WIDTH);
        char stars[32];
        snprintf(stars, sizeof stars, "%lld", r->stars);
        return json_pack("{s:s, s:s, s:s, s:s, s:s}", "Description", desc, "IsAutomated", r->automated ? "[OK]" : "",
                         "IsOfficial", r->official ? "[OK]" : "", "Name", name, "StarCount", stars);
}

static int print_results(const struct search_result *res, size_t n, const char *prefix, const struct filters *fl,
                         bool no_trunc, const char *format, struct err *e)
{
        json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Description", "DESCRIPTION", "IsAutomated",
                                   "AUTOMATED", "IsOfficial", "OFFICIAL", "Name", "NAME", "StarCount", "STARS");
        struct fmt_out out;
        int r = fmt_open(&out, format ? format : "table",
                         "{{.Name}}\\t{{.Description}}\\t{{.StarCount}}\\t{{.IsOfficial}}\\t{{.IsAutomated}}", header,
                         true, stdout, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (!keep(&res[i], fl))
                        continue;
                r = fmt_item(&out, result_item(&res[i], prefix, no_trunc), e);
        }
        r = fmt_close(&out, r, e);
        json_decref(header);
        return r;
}

int cmd_search(int argc, char **argv)
{
        static const struct option opts[] = {
                { "limit", required_argument, NULL, 'l' },
                { "filter", required_argument, NULL, 'f' },
                { "no-trunc", no_argument, NULL, 'n' },
                { "format", required_argument, NULL, 'F' },
                { 0 }
        };
        struct filters fl = { 0, -1, -1 };
        int limit = 25;
        bool no_trunc = false;
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                switch (c) {
                case 'l': {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (!*optarg || *end || v < 1 || v > FETCH_SEARCH_MAX)
                                return usage_error("search", "invalid limit \"%s\": must be between 1 and %d", optarg,
                                                   FETCH_SEARCH_MAX);
                        limit = (int)v;
                        break;
                }
                case 'f':
                        if (parse_filter(optarg, &fl) < 0)
                                return usage_error("search", "invalid filter \"%s\" (stars=N, is-official=true|false, is-automated=true|false)", optarg);
                        break;
                case 'n': no_trunc = true; break;
                case 'F': format = optarg; break;
                default: return bad_option("search", argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("search", "requires exactly 1 argument");
        const char *term = argv[optind], *rest = NULL;
        struct err e = { 0 };
        struct fetch_setup fs;
        int r = fetch_setup_load(&fs, NULL, &e);
        if (r < 0)
                return report_err(&e);
        _cleanup_free_ char *reg = registry_of(term, &rest);
        struct search_result *res = NULL;
        size_t n = 0;
        struct fetch_opts o = { 0 };
        if (reg) {
                struct fetch_source *srcs = NULL;
                size_t ns = 0;
                r = registry_sources(&fs, reg, "library/x", &srcs, &ns, &e);
                if (r >= 0)
                        r = fetch_search_catalog(&srcs[ns - 1], rest, limit, &o, &res, &n, &e);
                fetch_sources_free(srcs, ns);
        } else {
                r = fetch_search_index(fs.cfg.search_index, term, limit, &o, &res, &n, &e);
        }
        fetch_setup_free(&fs);
        if (r < 0) {
                err_wrap(&e, "search %s", term);
                return report_err(&e);
        }
        r = print_results(res, n, reg, &fl, no_trunc, format, &e);
        search_results_free(res, n);
        if (r < 0) {
                err_wrap(&e, "search");
                return report_err(&e);
        }
        return 0;
}
