/* Looking inside layers: strata layers, ls, which, diff. */
#include "cli.h"
#include "format.h"
#include "layerview.h"
#include "mountinfo.h"
#include "store/store.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* The image's layers read from the store (bottom first), plus, for a mount,
 * its writable layer on top. */
struct view {
        struct store *s;
        struct store_image im;
        size_t n;
        struct lv_layer *l;
        char *label;           /* what the user named */
};

static void view_free(struct view *v)
{
        for (size_t i = 0; i < v->n; i++)
                lv_layer_free(&v->l[i]);
        free(v->l);
        store_image_free(&v->im);
        store_close(v->s);
        free(v->label);
        memset(v, 0, sizeof *v);
}

/* A directory that is no mount of an image in the store, nor an image's
 * name: say which it is not (not the reference parser's complaint). */
static int not_a_mount(const char *dir, struct err *e)
{
        _cleanup_free_ char *real = realpath(dir, NULL);
        char type[64];
        if (real && mount_point_type(real, type, sizeof type) > 0 && !strcmp(type, STRATA_FSTYPE))
                return err_setx(e, EINVAL, "a mount of directories, not of an image");
        return err_setx(e, ENOENT, "neither a strata mount nor an image");
}

static int image_of_mount(const struct store_mount *m, struct store_image *im)
{
        memset(im, 0, sizeof *im);
        im->id = xstrdup(m->image);
        im->n_layers = m->n_layers;
        im->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *im->layers);
        for (size_t i = 0; i < m->n_layers; i++) {
                const char *d = m->digests && m->digests[i] ? m->digests[i] : m->layers[i];
                im->layers[i].digest = xstrdup(d);
                im->layers[i].diff_id = xstrdup(m->layers[i]);
        }
        return 0;
}

static int view_open(const char *arg, bool want_mount, struct view *v, struct err *e)
{
        memset(v, 0, sizeof *v);
        v->label = xstrdup(arg);
        int r = open_store(&v->s, e);
        if (r < 0)
                return r;
        struct store_mount m = { 0 };
        struct stat st;
        bool is_dir = want_mount && arg[0] && stat(arg, &st) == 0 && S_ISDIR(st.st_mode);
        bool is_mount = is_dir && store_find_mount(v->s, arg, &m, e) == 0;
        err_clear(e);
        if (is_mount) {
                if (!m.image) {
                        store_mount_free(&m);
                        return err_setx(e, EINVAL, "a mount of directories, not of an image");
                }
                r = store_find_image(v->s, m.image, &v->im, e);
                if (r == -ENOENT) {
                        /* the image went (rmi -f) but the mount record keeps
                         * its layers (store invariant (6)): read them from it */
                        err_clear(e);
                        r = image_of_mount(&m, &v->im);
                }
        } else {
                r = lookup_image(v->s, arg, &v->im, NULL, e);
                if (r < 0 && is_dir)
                        r = not_a_mount(arg, e);
        }
        if (r < 0) {
                store_mount_free(&m);
                return r;
        }
        v->l = xcalloc(v->im.n_layers + 1, sizeof *v->l);
        for (size_t i = 0; i < v->im.n_layers && r == 0; i++) {
                _cleanup_free_ char *dir = store_layer_path(v->s, v->im.layers[i].diff_id);
                r = lv_read_layer(dir, (int)i, &v->l[i], e);
                if (r == 0)
                        v->n++;
        }
        if (r == 0 && is_mount) {
                r = lv_read_layer(m.upper, (int)v->n, &v->l[v->n], e);
                if (r == 0)
                        v->n++;
        }
        store_mount_free(&m);
        return r;
}

static void mode_string(mode_t m, char out[11])
{
        const char *t = S_ISDIR(m) ? "d" : S_ISLNK(m) ? "l" : S_ISCHR(m) ? "c" : S_ISBLK(m) ? "b"
                        : S_ISFIFO(m) ? "p" : S_ISSOCK(m) ? "s" : "-";
        snprintf(out, 11, "%s%c%c%c%c%c%c%c%c%c", t, m & 0400 ? 'r' : '-', m & 0200 ? 'w' : '-',
                 m & 04000 ? (m & 0100 ? 's' : 'S') : (m & 0100 ? 'x' : '-'), m & 040 ? 'r' : '-',
                 m & 020 ? 'w' : '-', m & 02000 ? (m & 010 ? 's' : 'S') : (m & 010 ? 'x' : '-'),
                 m & 04 ? 'r' : '-', m & 02 ? 'w' : '-', m & 01000 ? (m & 01 ? 't' : 'T') : (m & 01 ? 'x' : '-'));
}

/* ------------------------------------------------------------- layers */

struct counts {
        size_t a, c, d;
};

static void count(char kind, const char *path, void *ctx)
{
        struct counts *k = ctx;
        (void)path;
        if (kind == 'A')
                k->a++;
        else if (kind == 'C')
                k->c++;
        else
                k->d++;
}

static int show_layers(const char *arg, struct err *e)
{
        struct view v;
        int r = view_open(arg, false, &v, e);
        if (r < 0) {
                view_free(&v);
                return r;
        }
        struct table t;
        table_init(&t, 8, "LAYER", "DIGEST", "DIFF ID", "SIZE", "UNPACKED", "ADDED", "CHANGED", "DELETED");
        for (size_t i = 0; i < v.n; i++) {
                struct lv_merged below;
                lv_merge(v.l, i, &below);
                struct counts k = { 0 };
                lv_diff(&below, &v.l[i], count, &k);
                lv_merged_free(&below);
                uint64_t bytes = 0;
                for (size_t j = 0; j < v.l[i].n; j++)
                        if (S_ISREG(v.l[i].e[j].st.st_mode))
                                bytes += (uint64_t)v.l[i].e[j].st.st_size;
                char idx[24], size[32], unpacked[32], a[24], c[24], d[24], dg[24], di[24];
                snprintf(idx, sizeof idx, "%zu", i);
                human_size(v.im.layers[i].size, size, sizeof size);
                human_size(bytes, unpacked, sizeof unpacked);
                snprintf(a, sizeof a, "%zu", k.a);
                snprintf(c, sizeof c, "%zu", k.c);
                snprintf(d, sizeof d, "%zu", k.d);
                snprintf(dg, sizeof dg, "%.19s", v.im.layers[i].digest);
                snprintf(di, sizeof di, "%.19s", v.im.layers[i].diff_id);
                table_add(&t, idx, dg, di, size, unpacked, a, c, d);
        }
        table_print(&t, stdout);
        table_free(&t);
        view_free(&v);
        return 0;
}

int cmd_layers(int argc, char **argv)
{
        int st = no_options("layers", argc, argv);
        if (st)
                return st;
        if (argc - optind != 1)
                return usage_error("layers", "requires exactly 1 argument");
        struct err e = { 0 };
        if (show_layers(argv[optind], &e) < 0) {
                err_wrap(&e, "layers %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}

/* ----------------------------------------------------------------- ls */

struct ls_opts {
        int layer;             /* -1: merged */
        bool recursive, longfmt;
};

static void print_entry(const struct lv_entry *x, bool longfmt)
{
        if (!longfmt) {
                printf("%-5d %s%s\n", x->layer, x->path, S_ISDIR(x->st.st_mode) ? "/" : "");
                return;
        }
        char mode[11], size[32];
        mode_string(x->st.st_mode, mode);
        if (S_ISCHR(x->st.st_mode) || S_ISBLK(x->st.st_mode))
                snprintf(size, sizeof size, "%u,%u", major(x->st.st_rdev), minor(x->st.st_rdev));
        else
                snprintf(size, sizeof size, "%lld", (long long)x->st.st_size);
        printf("%-5d %s %5u %5u %10s %s%s%s%s\n", x->layer, mode, (unsigned)x->st.st_uid, (unsigned)x->st.st_gid,
               size, x->path, x->link ? " -> " : "", x->link ? x->link : "",
               x->whiteout ? " (whiteout)" : x->opaque ? " (opaque)" : "");
}

/* Is @p a child of @dir (directly, or at any depth when @deep)? */
static bool child_of(const char *p, const char *dir, bool deep)
{
        size_t n = strcmp(dir, "/") ? strlen(dir) : 0;
        if (strncmp(p, dir, n) != 0 || p[n] != '/' || !p[n + 1])
                return false;
        return deep || !strchr(p + n + 1, '/');
}

static int list_tree(const char *arg, const char *path, const struct ls_opts *o, struct err *e)
{
        struct view v;
        int r = view_open(arg, false, &v, e);
        if (r < 0) {
                view_free(&v);
                return r;
        }
        if (o->layer >= (int)v.n) {
                view_free(&v);
                return err_setx(e, EINVAL, "--layer %d: the image has %zu layers (0 to %zu)", o->layer, v.n,
                                v.n - 1);
        }
        struct lv_merged m = { 0 };
        if (o->layer < 0) {
                lv_merge(v.l, v.n, &m);
        } else {
                m.e = xcalloc(v.l[o->layer].n + 1, sizeof *m.e);
                for (size_t i = 0; i < v.l[o->layer].n; i++)
                        m.e[m.n++] = &v.l[o->layer].e[i];
        }
        _cleanup_free_ char *dir = xstrdup(path && *path ? path : "/");
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/')
                dir[--dl] = '\0';
        const struct lv_entry *self = strcmp(dir, "/") ? lv_merged_find(&m, dir) : NULL;
        if (strcmp(dir, "/") && !self) {
                r = err_setx(e, ENOENT, "%s: no such file or directory in %s", dir,
                             o->layer < 0 ? "the image" : "that layer");
        } else if (self && !S_ISDIR(self->st.st_mode)) {
                print_entry(self, o->longfmt);
        } else {
                for (size_t i = 0; i < m.n; i++)
                        if (child_of(m.e[i]->path, dir, o->recursive))
                                print_entry(m.e[i], o->longfmt);
        }
        lv_merged_free(&m);
        view_free(&v);
        return r;
}

int cmd_ls(int argc, char **argv)
{
        static const struct option opts[] = { { "layer", required_argument, NULL, 'L' },
                                              { "recursive", no_argument, NULL, 'R' },
                                              { "long", no_argument, NULL, 'l' }, { 0 } };
        struct ls_opts o = { .layer = -1 };
        int c;
        while ((c = getopt_long(argc, argv, "Rl", opts, NULL)) != -1) {
                switch (c) {
                case 'L': {
                        char *end;
                        long n = strtol(optarg, &end, 10);
                        if (*end || n < 0 || n > 100000)
                                return usage_error("ls", "--layer wants a layer index, not '%s'", optarg);
                        o.layer = (int)n;
                        break;
                }
                case 'R': o.recursive = true; break;
                case 'l': o.longfmt = true; break;
                default: return bad_option("ls", argv);
                }
        }
        if (argc - optind < 1 || argc - optind > 2)
                return usage_error("ls", "requires IMAGE and at most one PATH");
        struct err e = { 0 };
        if (list_tree(argv[optind], argc - optind == 2 ? argv[optind + 1] : "/", &o, &e) < 0) {
                err_wrap(&e, "ls %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}

/* -------------------------------------------------------------- which */

static int which(const char *arg, const char *path, struct err *e)
{
        struct view v;
        int r = view_open(arg, false, &v, e);
        if (r < 0) {
                view_free(&v);
                return r;
        }
        _cleanup_free_ char *p = path[0] == '/' ? xstrdup(path) : xasprintf("/%s", path);
        size_t pl = strlen(p);
        while (pl > 1 && p[pl - 1] == '/')
                p[--pl] = '\0';
        int winner = -1;
        bool any = false;
        for (size_t i = 0; i < v.n; i++) {
                const struct lv_entry *x = lv_find(&v.l[i], p);
                /* an opaque or whited-out ancestor in this layer hides lower copies */
                const char *hider = NULL;
                _cleanup_free_ char *anc = xstrdup(p);
                for (char *s = strrchr(anc, '/'); s && s > anc; s = strrchr(anc, '/')) {
                        *s = '\0';
                        const struct lv_entry *a = lv_find(&v.l[i], anc);
                        if (a && (a->whiteout || a->opaque || !S_ISDIR(a->st.st_mode))) {
                                hider = a->whiteout ? "whiteout of" : a->opaque ? "opaque directory" : "non-directory";
                                printf("layer %zu %.19s: %s %s hides %s below\n", i, v.im.layers[i].diff_id,
                                       hider, a->path, p);
                                winner = -1;
                                break;
                        }
                }
                if (!x)
                        continue;
                any = true;
                if (x->whiteout) {
                        printf("layer %zu %.19s: whiteout %s%s\n", i, v.im.layers[i].diff_id, p,
                               winner >= 0 ? "" : " (nothing below to hide)");
                        if (winner >= 0)
                                printf("  hides layer %d's copy\n", winner);
                        winner = -1;
                        continue;
                }
                char mode[11];
                mode_string(x->st.st_mode, mode);
                printf("layer %zu %.19s: %s %lld bytes%s%s%s\n", i, v.im.layers[i].diff_id, mode,
                       (long long)x->st.st_size, x->opaque ? " opaque" : "", x->link ? " -> " : "",
                       x->link ? x->link : "");
                winner = (int)i;
        }
        if (winner >= 0)
                printf("wins: layer %d\n", winner);
        else if (any)
                printf("wins: none (%s is deleted in the image)\n", p);
        else
                r = err_setx(e, ENOENT, "%s: in no layer", p);
        view_free(&v);
        return r;
}

int cmd_which(int argc, char **argv)
{
        int st = no_options("which", argc, argv);
        if (st)
                return st;
        if (argc - optind != 2)
                return usage_error("which", "requires IMAGE and PATH");
        struct err e = { 0 };
        if (which(argv[optind], argv[optind + 1], &e) < 0) {
                err_wrap(&e, "which %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}

/* --------------------------------------------------------------- diff */

static void print_change(char kind, const char *path, void *ctx)
{
        (void)ctx;
        printf("%c %s\n", kind, path);
}

static int diff(const char *arg, struct err *e)
{
        struct view v;
        int r = view_open(arg, true, &v, e);
        if (r < 0) {
                view_free(&v);
                return r;
        }
        bool mount = v.n > v.im.n_layers;
        for (size_t i = mount ? v.n - 1 : 0; i < v.n; i++) {
                struct lv_merged below;
                lv_merge(v.l, i, &below);
                if (!mount)
                        printf("# layer %zu %s\n", i, v.im.layers[i].diff_id);
                lv_diff(&below, &v.l[i], print_change, NULL);
                lv_merged_free(&below);
        }
        view_free(&v);
        return 0;
}

int cmd_diff(int argc, char **argv)
{
        int st = no_options("diff", argc, argv);
        if (st)
                return st;
        if (argc - optind != 1)
                return usage_error("diff", "requires exactly 1 argument: IMAGE or a mount directory");
        struct err e = { 0 };
        if (diff(argv[optind], &e) < 0) {
                err_wrap(&e, "diff %s", argv[optind]);
                return report_err(&e);
        }
        return 0;
}
