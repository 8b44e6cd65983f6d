/* strata images [OPTIONS] [REPOSITORY[:TAG]] — docker images. */
#include "cli.h"
#include "fetch/fetch.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

struct images_opts {
        bool quiet, digests, no_trunc, json;
        char *want_repo;        /* "REGISTRY/REPO" or NULL */
        char *want_tag;         /* or NULL: any tag */
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

static bool row_matches(const struct row *rw, const struct images_opts *o)
{
        if (!o->want_repo)
                return true;
        char *repo, *tag, *digest;
        split_store_name(o->want_repo, &repo, &tag, &digest);
        bool ok = !strcmp(rw->repo, repo) && (!o->want_tag || !strcmp(rw->tag, o->want_tag));
        free(repo), free(tag), free(digest);
        return ok;
}

static void print_json_row(const struct row *rw, bool no_trunc, time_t now)
{
        char ago[64], size[32], created[64], id[80];
        human_ago(rw->im->created, now, ago, sizeof ago);
        human_size(rw->im->size, size, sizeof size);
        time_rfc3339(rw->im->created, created, sizeof created);
        snprintf(id, sizeof id, "%s", no_trunc ? rw->im->id : rw->im->id + 7);
        if (!no_trunc)
                id[12] = '\0';
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "Repository", rw->repo, "Tag", rw->tag,
                              "Digest", rw->digest ? rw->digest : "<none>", "ID", id, "CreatedAt", created,
                              "CreatedSince", ago, "Size", size, "SizeBytes", (json_int_t)rw->im->size);
        char *s = json_dumps(j, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(j);
}

static int list_images(const struct images_opts *o, struct err *e)
{
        struct store *s = NULL;
        int r = open_store(&s, e);
        if (r < 0)
                return r;
        struct store_image *ims = NULL;
        size_t n = 0;
        r = store_list_images(s, &ims, &n, e);
        store_close(s);
        if (r < 0)
                return r;
        struct row *rows = NULL;
        size_t nrows = 0;
        for (size_t i = 0; i < n; i++)
                nrows += image_rows(&ims[i], &rows, nrows);
        time_t now = time(NULL);
        struct table t;
        if (o->digests)
                table_init(&t, 6, "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
        else
                table_init(&t, 5, "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
        const char *last_id = NULL;
        for (size_t i = 0; i < nrows; i++) {
                const struct row *rw = &rows[i];
                if (!row_matches(rw, o))
                        continue;
                char id[80], ago[64], size[32];
                snprintf(id, sizeof id, "%s", o->no_trunc ? rw->im->id : rw->im->id + 7);
                if (!o->no_trunc)
                        id[12] = '\0';
                if (o->quiet) {
                        /* docker -q prints each image once */
                        if (!last_id || strcmp(last_id, rw->im->id))
                                printf("%s\n", id);
                        last_id = rw->im->id;
                        continue;
                }
                if (o->json) {
                        print_json_row(rw, o->no_trunc, now);
                        continue;
                }
                human_ago(rw->im->created, now, ago, sizeof ago);
                human_size(rw->im->size, size, sizeof size);
                if (o->digests)
                        table_add(&t, rw->repo, rw->tag, rw->digest ? rw->digest : "<none>", id, ago, size);
                else
                        table_add(&t, rw->repo, rw->tag, id, ago, size);
        }
        if (!o->quiet && !o->json)
                table_print(&t, stdout);
        table_free(&t);
        for (size_t i = 0; i < nrows; i++)
                free(rows[i].repo), free(rows[i].tag), free(rows[i].digest);
        free(rows);
        for (size_t i = 0; i < n; i++)
                store_image_free(&ims[i]);
        free(ims);
        return 0;
}

int cmd_images(int argc, char **argv)
{
        static const struct option opts[] = {
                { "quiet", no_argument, NULL, 'q' },   { "all", no_argument, NULL, 'a' },
                { "digests", no_argument, NULL, 'd' }, { "no-trunc", no_argument, NULL, 'n' },
                { "format", required_argument, NULL, 'f' }, { 0 }
        };
        struct images_opts o = { 0 };
        int c;
        while ((c = getopt_long(argc, argv, "qa", opts, NULL)) != -1) {
                switch (c) {
                case 'q': o.quiet = true; break;
                case 'a': break;   /* strata keeps no intermediate images: -a lists the same */
                case 'd': o.digests = true; break;
                case 'n': o.no_trunc = true; break;
                case 'f':
                        if (strcmp(optarg, "json") && strcmp(optarg, "{{json .}}"))
                                return usage_error("images", "unsupported --format '%s' (only json)", optarg);
                        o.json = true;
                        break;
                default: return bad_option("images", argv);
                }
        }
        if (argc - optind > 1)
                return usage_error("images", "takes at most one REPOSITORY[:TAG]");
        struct err e = { 0 };
        if (optind < argc) {
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
        free(o.want_repo);
        free(o.want_tag);
        return r < 0 ? report_err(&e) : 0;
}
