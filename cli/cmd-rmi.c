/* strata rmi [-f] IMAGE... — untag, and delete what no image uses (docker rmi). */
#include "cli.h"
#include "fetch/fetch.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <string.h>

struct deleted {
        char **what;
        size_t n;
};

static void note_deleted(const char *what, void *ctx)
{
        struct deleted *d = ctx;
        d->what = xrealloc(d->what, (d->n + 1) * sizeof *d->what);
        d->what[d->n++] = xstrdup(what);
}

static void print_untagged(const char *name)
{
        char *repo, *tag, *digest;
        split_store_name(name, &repo, &tag, &digest);
        if (digest)
                printf("Untagged: %s@%s\n", repo, digest);
        else
                printf("Untagged: %s:%s\n", repo, tag);
        free(repo), free(tag), free(digest);
}

static int remove_one(struct store *s, const char *arg, bool force, struct err *e)
{
        struct store_image im = { 0 };
        _cleanup_free_ char *name = NULL;
        int r = lookup_image(s, arg, &im, &name, e);
        if (r < 0)
                return r;
        size_t tags = 0;
        for (size_t i = 0; i < im.n_names; i++)
                tags += !strchr(im.names[i], '@');
        if (name && (tags > 1 || (tags == 1 && strchr(name, '@')))) {
                /* one name of several: untag only that one (docker's rule) */
                r = store_remove_name(s, name, NULL, e);
                if (r == 0)
                        print_untagged(name);
                store_image_free(&im);
                return r;
        }
        if (!name && tags > 1 && !force) {
                r = err_setx(e, EBUSY,
                             "conflict: unable to delete %.12s (must be forced) - image is referenced in multiple repositories",
                             im.id + 7);
                store_image_free(&im);
                return r;
        }
        /* The last tag goes: the image is deleted, names and all, or (in
         * use by a mount, not forced) nothing changes. */
        struct deleted d = { 0 };
        r = store_delete_image(s, im.id, force, note_deleted, &d, e);
        if (r == 0) {
                for (size_t i = 0; i < im.n_names; i++)
                        print_untagged(im.names[i]);
                for (size_t i = 0; i < d.n; i++)
                        printf("Deleted: %s\n", d.what[i]);
        }
        for (size_t i = 0; i < d.n; i++)
                free(d.what[i]);
        free(d.what);
        store_image_free(&im);
        return r;
}

int cmd_rmi(int argc, char **argv)
{
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
                                              { "no-prune", no_argument, NULL, 'P' }, { 0 } };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
                switch (c) {
                case 'f': force = true; break;
                case 'P': break;
                default: return bad_option("rmi", argv);
                }
        }
        if (optind >= argc)
                return usage_error("rmi", "requires at least 1 argument");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0)
                return report_err(&e);
        int status = 0;
        for (int i = optind; i < argc; i++) {
                err_clear(&e);
                if (remove_one(s, argv[i], force, &e) < 0) {
                        err_wrap(&e, "rmi %s", argv[i]);
                        status = report_err(&e);
                }
        }
        store_close(s);
        return status;
}
