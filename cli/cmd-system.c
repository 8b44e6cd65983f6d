/* strata system df | prune [-a] [-f] | check [--repair] — the store's
 * housekeeping (docker system df/prune, podman system check). */
#include "cli.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const system_usage =
        "Usage: strata system COMMAND\n\n"
        "Manage the store\n\n"
        "Commands:\n"
        "  df [-v] [--format T]  Show the store's disk usage (-v: each image, mount, leftover)\n"
        "  prune [-a] [-f]    Remove what no image, mount or running strata uses\n"
        "  check [--repair]   Find (and repair) states that break the store invariants\n";

/* ------------------------------------------------------------------- df */

/* One row as docker's df context (every field a string); into a table or a --format. */
static void usage_row(struct table *t, struct fmt_out *f, const char *type, const struct store_usage_row *r,
                      int *status, struct err *e)
{
        char total[24], active[24], size[32], rec[48];
        snprintf(total, sizeof total, "%zu", r->total);
        snprintf(active, sizeof active, "%zu", r->active);
        human_size(r->size, size, sizeof size);
        human_size(r->reclaimable, rec, sizeof rec);
        if (r->size > 0) {
                size_t n = strlen(rec);
                snprintf(rec + n, sizeof rec - n, " (%d%%)", (int)(r->reclaimable * 100 / r->size));
        }
        if (!f)
                table_add(t, type, total, active, size, rec);
        else if (*status >= 0)
                *status = fmt_item(f, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Active", active, "Reclaimable", rec,
                                                "Size", size, "TotalCount", total, "Type", type), e);
}

/* df -v: docker's "Images space usage:" and the like, one table each. */
struct df_detail {
        struct table images, mounts, leftovers;
};

static void df_item(const struct store_usage_item *it, void *ctx)
{
        struct df_detail *d = ctx;
        char size[32], a[32], b[32], n[24];
        human_size(it->size, size, sizeof size);
        switch (it->kind) {
        case STORE_ITEM_IMAGE: {
                char *repo = NULL, *tag = NULL, *digest = NULL;
                if (it->name)
                        split_store_name(it->name, &repo, &tag, &digest);
                human_size(it->shared, a, sizeof a);
                human_size(it->size - it->shared, b, sizeof b);
                snprintf(n, sizeof n, "%zu", it->users);
                char id[16];
                snprintf(id, sizeof id, "%.12s", it->id + 7);
                table_add(&d->images, repo ? repo : "<none>", tag ? tag : "<none>", id, size, a, b, n);
                free(repo), free(tag), free(digest);
                break;
        }
        case STORE_ITEM_MOUNT:
                snprintf(a, sizeof a, "%.12s", it->image ? it->image + 7 : "-");
                table_add(&d->mounts, it->id, a, it->mountpoint, size, it->active ? "live" : "finished");
                break;
        case STORE_ITEM_LEFTOVER:
                table_add(&d->leftovers, it->id, size, it->active ? "held" : "reclaimable");
                break;
        }
}

static void df_section(const char *title, struct table *t)
{
        printf("%s space usage:\n\n", title);
        table_print(t, stdout);
        table_free(t);
}

static int system_df(int argc, char **argv)
{
        static const struct option opts[] = { { "verbose", no_argument, NULL, 'v' },
                                              { "format", required_argument, NULL, 'F' }, { 0 } };
        bool verbose = false;
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
                switch (c) {
                case 'v': verbose = true; break;
                case 'F': format = optarg; break;
                default: return bad_option("system df", argv);
                }
        }
        if (optind < argc)
                return usage_error("system df", "takes no arguments");
        if (verbose && format)
                return usage_error("system df", "--format shows the summary: not with -v");
        struct err e = { 0 };
        struct fmt_out out = { 0 };
        json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Active", "ACTIVE", "Reclaimable", "RECLAIMABLE",
                                   "Size", "SIZE", "TotalCount", "TOTAL", "Type", "TYPE");
        int r = format ? fmt_open(&out, format, "{{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}",
                                  header, true, stdout, &e) : 0;
        struct store *s = NULL;
        if (r >= 0)
                r = open_store(&s, &e);
        if (r < 0) {
                fmt_close(&out, r, &e);
                json_decref(header);
                err_wrap(&e, "system df");
                return report_err(&e);
        }
        struct store_usage u;
        struct df_detail d;
        table_init(&d.images, 7, "REPOSITORY", "TAG", "IMAGE ID", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "MOUNTS");
        table_init(&d.mounts, 5, "MOUNT ID", "IMAGE ID", "MOUNTPOINT", "SIZE", "STATUS");
        table_init(&d.leftovers, 3, "NAME", "SIZE", "STATUS");
        r = store_usage(s, &u, verbose ? df_item : NULL, &d, &e);
        store_close(s);
        if (r < 0) {
                table_free(&d.images), table_free(&d.mounts), table_free(&d.leftovers);
                fmt_close(&out, r, &e);
                json_decref(header);
                err_wrap(&e, "system df");
                return report_err(&e);
        }
        if (verbose) {
                /* docker's -v: the detail instead of the summary */
                json_decref(header);
                df_section("Images", &d.images);
                putchar('\n');
                df_section("Mounts", &d.mounts);
                putchar('\n');
                df_section("Leftovers", &d.leftovers);
                return 0;
        }
        table_free(&d.images), table_free(&d.mounts), table_free(&d.leftovers);
        struct table t;
        struct fmt_out *f = format ? &out : NULL;
        table_init(&t, 5, "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
        usage_row(&t, f, "Images", &u.images, &r, &e);
        usage_row(&t, f, "Layers", &u.layers, &r, &e);
        usage_row(&t, f, "Blobs", &u.blobs, &r, &e);
        usage_row(&t, f, "Mounts", &u.mounts, &r, &e);
        usage_row(&t, f, "Leftovers", &u.leftovers, &r, &e);
        usage_row(&t, f, "Build Cache", &u.build_cache, &r, &e);
        if (!f)
                table_print(&t, stdout);
        table_free(&t);
        r = fmt_close(&out, r, &e);
        json_decref(header);
        if (r < 0) {
                err_wrap(&e, "system df");
                return report_err(&e);
        }
        return 0;
}

/* ---------------------------------------------------------------- prune */

/* What went, by section, printed once at the end like docker's. */
struct pruned {
        struct buf mounts, images, leftovers, cache;
};

static void display_name(const char *name, struct buf *out)
{
        char *repo, *tag, *digest;
        split_store_name(name, &repo, &tag, &digest);
        if (digest)
                buf_printf(out, "untagged: %s@%s\n", repo, digest);
        else
                buf_printf(out, "untagged: %s:%s\n", repo, tag);
        free(repo), free(tag), free(digest);
}

static void note_pruned(enum store_gone kind, const char *what, uint64_t bytes, void *ctx)
{
        struct pruned *p = ctx;
        switch (kind) {
        case STORE_GONE_MOUNT: buf_printf(&p->mounts, "%s\n", what); break;
        case STORE_GONE_UNTAGGED: display_name(what, &p->images); break;
        case STORE_GONE_IMAGE:
        case STORE_GONE_LAYER: buf_printf(&p->images, "deleted: %s\n", what); break;
        case STORE_GONE_LEFTOVER: buf_printf(&p->leftovers, "%s\n", what); break;
        case STORE_GONE_CACHE: buf_printf(&p->cache, "%s\n", what); break;
        case STORE_GONE_BLOB: break;    /* counted in the total, not listed (docker lists no blobs) */
        }
}

static bool confirm(bool all)
{
        printf("WARNING! This will remove:\n"
               "  - the writable layers of all finished runs, and of mounts whose daemon died\n"
               "  - %s\n"
               "  - all layers and blobs that no image and no mount uses\n"
               "  - all downloads and work files that no running strata holds\n"
               "  - all build cache\n\n"
               "Are you sure you want to continue? [y/N] ",
               all ? "all images without at least one mount using them" : "all dangling images");
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof line, stdin)) {
                putchar('\n');
                return false;
        }
        return (line[0] == 'y' || line[0] == 'Y') && (line[1] == '\n' || line[1] == '\0' ||
                                                     !strncasecmp(line, "yes", 3));
}

static int system_prune(int argc, char **argv)
{
        bool all, force;
        int st = prune_options("system prune", argc, argv, &all, &force);
        if (st)
                return st;
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0)
                return report_err(&e);
        /* a read-only store says so before asking */
        if (store_read_only(s)) {
                err_setx(&e, EROFS, "system prune: store %s is read-only", store_root(s));
                store_close(s);
                return report_err(&e);
        }
        if (!force && !confirm(all)) {
                store_close(s);
                return 0;
        }
        struct pruned p = { BUF_INIT(16u << 20), BUF_INIT(16u << 20), BUF_INIT(16u << 20), BUF_INIT(16u << 20) };
        uint64_t bytes = 0;
        int r = store_prune(s, all, note_pruned, &p, &bytes, &e);
        store_close(s);
        if (p.mounts.len)
                printf("Deleted Mounts:\n%s\n", p.mounts.data);
        if (p.images.len)
                printf("Deleted Images:\n%s\n", p.images.data);
        if (p.leftovers.len)
                printf("Deleted Leftovers:\n%s\n", p.leftovers.data);
        if (p.cache.len)
                printf("Deleted build cache objects:\n%s\n", p.cache.data);
        char hs[32];
        human_size(bytes, hs, sizeof hs);
        printf("Total reclaimed space: %s\n", hs);
        buf_free(&p.mounts);
        buf_free(&p.images);
        buf_free(&p.leftovers);
        buf_free(&p.cache);
        if (r < 0) {
                err_wrap(&e, "system prune");
                return report_err(&e);
        }
        return 0;
}

/* ---------------------------------------------------------------- check */

static void print_problem(const char *line, void *ctx)
{
        printf("%s\n", line);
}

static void print_repaired(enum store_gone kind, const char *what, uint64_t bytes, void *ctx)
{
        static const char *const verbs[] = {
                [STORE_GONE_MOUNT] = "removed mount record", [STORE_GONE_UNTAGGED] = "untagged",
                [STORE_GONE_IMAGE] = "deleted image", [STORE_GONE_LAYER] = "deleted layer",
                [STORE_GONE_BLOB] = "deleted blob", [STORE_GONE_LEFTOVER] = "deleted",
                [STORE_GONE_CACHE] = "deleted build cache entry",
        };
        int *n = ctx;
        (*n)++;
        printf("  repaired: %s %s\n", verbs[kind], what);
}

static int system_check(int argc, char **argv)
{
        static const struct option opts[] = { { "repair", no_argument, NULL, 'r' }, { 0 } };
        bool repair = false;
        int c;
        while ((c = getopt_long(argc, argv, "r", opts, NULL)) != -1) {
                switch (c) {
                case 'r': repair = true; break;
                default: return bad_option("system check", argv);
                }
        }
        if (optind < argc)
                return usage_error("system check", "takes no arguments");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0)
                return report_err(&e);
        int fixes = 0;
        int r = store_check(s, repair, print_problem, print_repaired, &fixes, &e);
        store_close(s);
        if (r < 0) {
                err_wrap(&e, "system check");
                return report_err(&e);
        }
        if (r == 0) {
                printf("No problems found\n");
                return 0;
        }
        if (repair) {
                printf("%d problem%s found, repaired\n", r, r == 1 ? "" : "s");
                return 0;
        }
        printf("%d problem%s found; 'strata system check --repair' repairs %s\n", r, r == 1 ? "" : "s",
               r == 1 ? "it" : "them");
        return 1;
}

/* --------------------------------------------------------------- system */

int cmd_system(int argc, char **argv)
{
        if (argc < 2) {
                fputs(system_usage, stderr);
                return 2;
        }
        const char *sub = argv[1];
        int (*fn)(int, char **) = !strcmp(sub, "df") ? system_df : !strcmp(sub, "prune") ? system_prune
                                : !strcmp(sub, "check") ? system_check : NULL;
        if (!fn) {
                if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
                        fputs(system_usage, stdout);
                        return 0;
                }
                fprintf(stderr, "strata system: unknown command '%s' (see 'strata system --help')\n", sub);
                return 2;
        }
        optind = 0;
        return fn(argc - 1, argv + 1);
}
