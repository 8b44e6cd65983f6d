/* strata images [OPTIONS] [REPOSITORY[:TAG]] — docker images. */
#include "cli.h"
#include "config.h"
#include "fetch/fetch.h"
#include "format.h"
#include "template.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

struct images_opts {
        bool quiet, digests, no_trunc;
        bool all;               /* -a: the intermediate images of builds too */
        const char *format;     /* --format, or NULL: the default table */
        char *want_repo;        /* "REGISTRY/REPO" or NULL */
        char *want_tag;         /* or NULL: any tag */
        struct strv filters;    /* --filter K=V, as given */
};

/* --filter, parsed: docker's keys.  Several reference= patterns: any;
 * several label=: all; dangling once; before=/since=: the last. */
struct image_filters {
        int dangling;           /* -1 any, 0 tagged only, 1 untagged only */
        struct strv refs;       /* reference=PATTERN (path.Match wildcards) */
        struct strv labels;     /* label=KEY or label=KEY=VALUE */
        char *before, *since;   /* IMAGE */
        time_t before_t, since_t;
};

struct row {
        char *repo, *tag, *digest;
        const struct store_image *im;
};

/* The rows of one image: a row per tag; the digest of that repository if
 * the store has a digest name for it; one <none> row for an untagged image. */
static size_t image_rows(const struct store_image *im, struct row **rows, size_t n)
{
        size_t added = 0;
        for (size_t i = 0; i < im->n_names; i++) {
                char *repo, *tag, *digest;
                split_store_name(im->names[i], &repo, &tag, &digest);
                if (digest) {
                        free(repo), free(tag), free(digest);
                        continue;
                }
                /* the digest name of the same repository, if any */
                for (size_t k = 0; k < im->n_names && !digest; k++) {
                        char *r2, *t2, *d2;
                        split_store_name(im->names[k], &r2, &t2, &d2);
                        if (d2 && !strcmp(r2, repo))
                                digest = TAKE_PTR(d2);
                        free(r2), free(t2), free(d2);
                }
                *rows = xrealloc(*rows, (n + added + 1) * sizeof **rows);
                (*rows)[n + added++] = (struct row){ repo, tag, digest, im };
        }
        if (added == 0) {
                char *digest = NULL, *repo = xstrdup("<none>");
                for (size_t i = 0; i < im->n_names && !digest; i++) {
                        char *r2, *t2, *d2;
                        split_store_name(im->names[i], &r2, &t2, &d2);
                        if (d2) {
                                digest = TAKE_PTR(d2);
                                free(repo);
                                repo = TAKE_PTR(r2);
                        }
                        free(r2), free(t2), free(d2);
                }
                *rows = xrealloc(*rows, (n + 1) * sizeof **rows);
                (*rows)[n] = (struct row){ repo, xstrdup("<none>"), digest, im };
                added = 1;
        }
        return added;
}

/* docker's reference.FamiliarMatch: PATTERN against "repo:tag", then "repo" */
static bool ref_matches(const char *pattern, const struct row *rw)
{
        if (!strcmp(rw->repo, "<none>"))
                return false;
        _cleanup_free_ char *full = xasprintf("%s:%s", rw->repo, rw->tag);
        return fnmatch(pattern, full, FNM_PATHNAME) == 0 || fnmatch(pattern, rw->repo, FNM_PATHNAME) == 0;
}

static bool has_wildcard(const char *s)
{
        return strpbrk(s, "*?[\\") != NULL;
}

static bool row_matches(const struct row *rw, const struct images_opts *o, const struct image_filters *fl,
                        json_t *labels)
{
        if (o->want_repo) {
                char *repo, *tag, *digest;
                split_store_name(o->want_repo, &repo, &tag, &digest);
                bool ok = !strcmp(rw->repo, repo) && (!o->want_tag || !strcmp(rw->tag, o->want_tag));
                free(repo), free(tag), free(digest);
                if (!ok)
                        return false;
        }
        bool dangling = !strcmp(rw->tag, "<none>");
        if (fl->dangling >= 0 && dangling != (fl->dangling == 1))
                return false;
        if (fl->refs.n) {
                bool any = false;
                for (size_t i = 0; i < fl->refs.n && !any; i++)
                        any = ref_matches(fl->refs.v[i], rw);
                if (!any)
                        return false;
        }
        if (fl->before && !(rw->im->created < fl->before_t))
                return false;
        if (fl->since && !(rw->im->created > fl->since_t))
                return false;
        for (size_t i = 0; i < fl->labels.n; i++) {
                const char *kv = fl->labels.v[i], *eq = strchr(kv, '=');
                _cleanup_free_ char *k = eq ? xstrndup(kv, (size_t)(eq - kv)) : xstrdup(kv);
                json_t *v = json_object_get(labels, k);
                if (!v || (eq && (!json_is_string(v) || strcmp(json_string_value(v), eq + 1))))
                        return false;
        }
        return true;
}

/* The --filter arguments into @fl; the images before=/since= name are
 * looked up in @s.  -EINVAL naming the filter. */
static int parse_filters(struct store *s, const struct strv *args, struct image_filters *fl, struct err *e)
{
        for (size_t i = 0; i < args->n; i++) {
                const char *a = args->v[i], *eq = strchr(a, '=');
                if (!eq)
                        return err_setx(e, EINVAL, "bad format of filter '%s' (expected name=value)", a);
                size_t kl = (size_t)(eq - a);
                const char *v = eq + 1;
                if (kl == 8 && !strncmp(a, "dangling", kl)) {
                        int d = !strcasecmp(v, "true") || !strcmp(v, "1") ? 1
                              : !strcasecmp(v, "false") || !strcmp(v, "0") ? 0 : -2;
                        if (d == -2)
                                return err_setx(e, EINVAL, "invalid filter 'dangling=%s' (true or false)", v);
                        if (fl->dangling >= 0 && fl->dangling != d)
                                return err_setx(e, EINVAL, "filters dangling=true and dangling=false exclude each other");
                        fl->dangling = d;
                } else if (kl == 9 && !strncmp(a, "reference", kl)) {
                        strv_push(&fl->refs, v);
                } else if (kl == 5 && !strncmp(a, "label", kl)) {
                        if (!*v)
                                return err_setx(e, EINVAL, "invalid filter 'label=' (label=KEY or label=KEY=VALUE)");
                        strv_push(&fl->labels, v);
                } else if ((kl == 6 && !strncmp(a, "before", kl)) || (kl == 5 && !strncmp(a, "since", kl))) {
                        struct store_image im = { 0 };
                        int r = lookup_image(s, v, &im, NULL, e);
                        if (r < 0)
                                return err_wrap(e, "filter '%s'", a);
                        if (a[0] == 'b')
                                free(fl->before), fl->before = xstrdup(v), fl->before_t = im.created;
                        else
                                free(fl->since), fl->since = xstrdup(v), fl->since_t = im.created;
                        store_image_free(&im);
                } else {
                        return err_setx(e, EINVAL, "invalid filter '%.*s' (dangling, reference, before, since, label)",
                                        (int)kl, a);
                }
        }
        return 0;
}

static void filters_free(struct image_filters *fl)
{
        strv_free(&fl->refs);
        strv_free(&fl->labels);
        free(fl->before);
        free(fl->since);
}

/* docker's "2023-05-19 20:19:32 +0000 UTC" (Go's time.Time), local time */
static void go_time(time_t t, char *out, size_t n)
{
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(out, n, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
}

/* One row as docker's image context: its --format fields (and SizeBytes, strata's). */
static json_t *row_item(const struct row *rw, bool no_trunc, time_t now)
{
        char ago[64], size[32], created[64], id[80];
        human_ago(rw->im->created, now, ago, sizeof ago);
        human_size(rw->im->size, size, sizeof size);
        go_time(rw->im->created, created, sizeof created);
        snprintf(id, sizeof id, "%s", no_trunc ? rw->im->id : rw->im->id + 7);
        if (!no_trunc)
                id[12] = '\0';
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "Containers", "N/A",
                         "CreatedAt", created, "CreatedSince", ago, "Digest", rw->digest ? rw->digest : "<none>",
                         "ID", id, "Repository", rw->repo, "SharedSize", "N/A", "Size", size, "SizeBytes",
                         (json_int_t)rw->im->size, "Tag", rw->tag, "UniqueSize", "N/A", "VirtualSize", size);
}

static json_t *images_header(void)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Containers", "CONTAINERS",
                         "CreatedAt", "CREATED AT", "CreatedSince", "CREATED", "Digest", "DIGEST", "ID", "IMAGE ID",
                         "Repository", "REPOSITORY", "SharedSize", "SHARED SIZE", "Size", "SIZE", "SizeBytes",
                         "SIZE BYTES", "Tag", "TAG", "UniqueSize", "UNIQUE SIZE", "VirtualSize", "VIRTUAL SIZE");
}

static int list_images(const struct images_opts *o, struct err *e)
{
        struct store *s = NULL;
        int r = open_store(&s, e);
        if (r < 0)
                return r;
        struct image_filters fl = { .dangling = -1 };
        struct store_image *ims = NULL;
        size_t n = 0;
        r = parse_filters(s, &o->filters, &fl, e);
        if (r >= 0)
                r = store_list_images(s, &ims, &n, e);
        /* labels from each config, only when a filter asks */
        json_t **labels = xcalloc(n + 1, sizeof *labels);
        for (size_t i = 0; r >= 0 && fl.labels.n && i < n; i++) {
                json_t *cfg = NULL;
                r = image_config_json(s, &ims[i], &cfg, e);
                if (r >= 0)
                        labels[i] = json_incref(json_object_get(json_object_get(cfg, "config"), "Labels"));
                json_decref(cfg);
        }
        store_close(s);
        struct row *rows = NULL;
        size_t nrows = 0;
        for (size_t i = 0; r >= 0 && i < n; i++)
                nrows += image_rows(&ims[i], &rows, nrows);
        time_t now = time(NULL);
        const char *table = o->digests
                ? "{{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}"
                : "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";
        json_t *header = images_header();
        struct fmt_out out = { 0 };
        if (r >= 0 && !o->quiet)
                r = fmt_open(&out, o->format ? o->format : "table", table, header, true, stdout, e);
        const char *last_id = NULL;
        for (size_t i = 0; r >= 0 && i < nrows; i++) {
                const struct row *rw = &rows[i];
                if (!row_matches(rw, o, &fl, labels[rw->im - ims]))
                        continue;
                if (rw->im->intermediate && !rw->im->n_names && !o->all)
                        continue;   /* a build step's, as docker hides them */
                if (o->quiet) {
                        /* docker -q prints each image once */
                        if (!last_id || strcmp(last_id, rw->im->id))
                                printf("%.*s\n", o->no_trunc ? (int)strlen(rw->im->id) : 12,
                                       o->no_trunc ? rw->im->id : rw->im->id + 7);
                        last_id = rw->im->id;
                        continue;
                }
                r = fmt_item(&out, row_item(rw, o->no_trunc, now), e);
        }
        r = fmt_close(&out, r, e);
        json_decref(header);
        filters_free(&fl);
        for (size_t i = 0; i < nrows; i++)
                free(rows[i].repo), free(rows[i].tag), free(rows[i].digest);
        free(rows);
        for (size_t i = 0; i < n; i++) {
                store_image_free(&ims[i]);
                json_decref(labels[i]);
        }
        free(labels);
        free(ims);
        return r;
}

int cmd_images(int argc, char **argv)
{
        static const struct option opts[] = {
                { "quiet", no_argument, NULL, 'q' },   { "all", no_argument, NULL, 'a' },
                { "digests", no_argument, NULL, 'd' }, { "no-trunc", no_argument, NULL, 'n' },
                { "format", required_argument, NULL, 'F' }, { "filter", required_argument, NULL, 'f' }, { 0 }
        };
        struct images_opts o = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "qaf:", opts, NULL)) != -1) {
                switch (c) {
                case 'q': o.quiet = true; break;
                case 'a': o.all = true; break;
                case 'd': o.digests = true; break;
                case 'n': o.no_trunc = true; break;
                case 'F': o.format = optarg; break;
                case 'f': strv_push(&o.filters, optarg); break;
                default: return bad_option("images", argv);
                }
        }
        if (argc - optind > 1)
                return usage_error("images", "takes at most one REPOSITORY[:TAG]");
        struct err e = { 0 };
        if (optind < argc && has_wildcard(argv[optind])) {
                _cleanup_free_ char *f = xasprintf("reference=%s", argv[optind]);
                strv_push(&o.filters, f);   /* docker's matchName */
        } else if (optind < argc) {
                struct image_ref ref = { 0 };
                const char *arg = argv[optind];
                if (ref_parse(arg, &ref, &e) < 0)
                        return report_err(&e);
                const char *slash = strrchr(arg, '/');
                if (strchr(slash ? slash : arg, ':') && ref.tag)
                        o.want_tag = xstrdup(ref.tag);
                o.want_repo = ref_repo_name(&ref);
                ref_free(&ref);
        }
        int r = list_images(&o, &e);
        strv_free(&o.filters);
        free(o.want_repo);
        free(o.want_tag);
        if (r < 0) {
                err_wrap(&e, "images");
                return report_err(&e);
        }
        return 0;
}
