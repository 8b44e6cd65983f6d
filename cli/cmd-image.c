/* strata image ls|rm|prune|inspect|history|tag|pull and strata container
 * ls|rm — docker's management form of the verbs: each an alias of the flat
 * verb (image ls = images, image rm = rmi, container ls = ps, container rm =
 * rm), and image prune, which removes dangling images (-a: every image
 * nothing uses) and what only they used. */
#include "cli.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct alias {
        const char *sub, *verb;
};
static const struct alias IMAGE_ALIASES[] = {
        { "ls", "images" }, { "list", "images" }, { "rm", "rmi" }, { "remove", "rmi" },
        { "inspect", "inspect" }, { "history", "history" }, { "tag", "tag" }, { "pull", "pull" },
};
static const struct alias CONTAINER_ALIASES[] = {
        { "ls", "ps" }, { "list", "ps" }, { "ps", "ps" }, { "rm", "rm" }, { "remove", "rm" },
        { "start", "start" }, { "stop", "stop" }, { "kill", "kill" }, { "wait", "wait" },
        { "logs", "logs" }, { "exec", "exec" }, { "run", "run" },
};

struct pruned {
        uint64_t bytes;
        struct buf deleted;      /* "deleted: ..." lines, printed after the untagged ones */
        struct store_image *im;
        struct store *s;
        uint64_t *layer_bytes;   /* each layer of im, measured before the delete */
};

static void note_deleted(const char *what, void *ctx)
{
        struct pruned *p = ctx;
        buf_printf(&p->deleted, "deleted: %s\n", what);
        for (size_t i = 0; i < p->im->n_layers; i++)
                if (!strcmp(p->im->layers[i].diff_id, what))
                        p->bytes += p->layer_bytes[i];
}

static bool confirm(bool all)
{
        return confirm_prompt(all ? "images without at least one mount or run using them" : "dangling images");
}

/* docker image prune: "Deleted Images:", untagged/deleted lines, the total */
static int image_prune(int argc, char **argv)
{
        bool all, force;
        int st = prune_options("image prune", argc, argv, &all, &force);
        if (st)
                return st;
        if (!force && !confirm(all))
                return 0;
        struct err e = { 0 };
        struct store *s = NULL;
        struct store_image *ims = NULL;
        size_t n = 0;
        int r = open_store(&s, &e);
        if (r >= 0)
                r = store_list_images(s, &ims, &n, &e);
        uint64_t total = 0;
        bool header = false;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct store_image *im = &ims[i];
                size_t tags = 0;
                for (size_t k = 0; k < im->n_names; k++)
                        tags += !strchr(im->names[k], '@');
                if (tags && !all)
                        continue;
                struct pruned p = { 0, BUF_INIT(1u << 20), im, s, xcalloc(im->n_layers + 1, sizeof(uint64_t)) };
                for (size_t k = 0; k < im->n_layers; k++)
                        p.layer_bytes[k] = store_layer_file_bytes(s, im->layers[k].diff_id);
                if (!header)
                        printf("Deleted Images:\n"), header = true;
                /* never forced: an image a mount or a kept run uses stays (docker's rule) */
                struct err ie = { 0 };
                int rr = store_delete_image(s, im->id, false, note_deleted, &p, &ie);
                if (rr == 0) {
                        for (size_t k = 0; k < im->n_names; k++)
                                printf("untagged: %s\n", im->names[k]);
                        printf("%s", p.deleted.data ? p.deleted.data : "");
                        total += p.bytes;
                } else if (rr != -EBUSY) {
                        e = ie;
                        r = rr;
                }
                free(p.layer_bytes);
                buf_free(&p.deleted);
        }
        for (size_t i = 0; i < n; i++)
                store_image_free(&ims[i]);
        free(ims);
        store_close(s);
        return prune_done("image prune", r, &e, total, header);
}

/* GROUP SUB ARGS...: the flat verb SUB stands for, with its own options and help */
static int dispatch(const char *group, const struct alias *al, size_t n, const char *subs, int argc, char **argv)
{
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                wants_help(group, argc, argv);
                return 0;
        }
        if (argc >= 2 && argv[1][0] == '-')
                return usage_error(group, "bad option '%s' (a command comes first: %s)", argv[1], subs);
        if (argc < 2)
                return usage_error(group, "requires a command: %s", subs);
        for (size_t i = 0; i < n; i++) {
                const struct command *cmd = strcmp(al[i].sub, argv[1]) ? NULL : find_command(al[i].verb);
                if (!cmd)
                        continue;
                if (wants_help(cmd->name, argc - 1, argv + 1))
                        return 0;
                argv[1] = (char *)cmd->name;   /* its errors name the flat verb */
                return cmd->run(argc - 1, argv + 1);
        }
        return usage_error(group, "unknown command '%s' (%s)", argv[1], subs);
}

int cmd_image(int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "prune")) {
                for (int i = 2; i < argc; i++)
                        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                                printf("Usage: strata image prune [-a] [-f]\n\nRemove dangling images (-a: every image no mount or run uses)\n\n"
                                       "Options:\n  -a, --all     every image without a mount or run using it, not only dangling ones\n"
                                       "  -f, --force   do not ask\n");
                                return 0;
                        }
                return image_prune(argc - 1, argv + 1);
        }
        return dispatch("image", IMAGE_ALIASES, ARRAY_SIZE(IMAGE_ALIASES), "ls, rm, prune, inspect, history, tag, pull",
                        argc, argv);
}

int cmd_container(int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "prune"))
                return container_prune(argc - 1, argv + 1);
        return dispatch("container", CONTAINER_ALIASES, ARRAY_SIZE(CONTAINER_ALIASES),
                        "ls, rm, prune, start, stop, kill, wait, logs, exec, run", argc, argv);
}
