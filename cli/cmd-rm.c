/* strata rm [-f] ID|NAME... and strata container prune [-f] — docker rm and
 * docker container prune over kept runs: the record and the writable layer
 * go; rm -f stops a running run first (SIGKILL, as docker's). */
#include "cli.h"
#include "container.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static int remove_one(struct store *s, const char *arg, bool force, struct err *e)
{
        struct store_mount m = { 0 };
        int r = find_mount_arg(s, arg, &m, e);
        if (r == -ENOENT)
                r = err_setx(e, ENOENT, "no such run: %s", arg);
        if (r >= 0 && container_state(&m) == CT_RUNNING) {
                if (!m.command)
                        r = err_setx(e, EBUSY, "%s is running (a mount: strata umount %s)", m.id, m.mountpoint);
                else if (!force)
                        r = err_setx(e, EBUSY, "cannot remove run %s: it is running: stop it first, or use rm -f",
                                     m.id);
                else
                        r = container_stop(s, &m, SIGKILL, -1, e);
        }
        if (r >= 0)
                r = store_mount_remove(s, &m, e);
        store_mount_free(&m);
        return r;
}

int cmd_rm(int argc, char **argv)
{
        static const struct option opts[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
        bool force = false;
        int c;
        while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
                if (c != 'f')
                        return bad_option("rm", argv);
                force = true;
        }
        if (optind >= argc)
                return usage_error("rm", "requires at least 1 argument");
        struct err e = { 0 };
        struct store *s = NULL;
        if (open_store(&s, &e) < 0) {
                err_wrap(&e, "rm");
                return report_err(&e);
        }
        int status = 0;
        for (int i = optind; i < argc; i++) {
                err_clear(&e);
                if (remove_one(s, argv[i], force, &e) < 0) {
                        err_wrap(&e, "rm %s", argv[i]);
                        status = report_err(&e);
                        continue;
                }
                printf("%s\n", argv[i]);
        }
        store_close(s);
        return status;
}

/* docker container prune: "Deleted Containers:", the IDs, the total */
int container_prune(int argc, char **argv)
{
        if (wants_help("container", argc, argv))
                return 0;
        bool all, force;
        int st = prune_options("container prune", argc, argv, &all, &force);
        if (st)
                return st;
        if (all)
                return usage_error("container prune", "bad option '--all' (it takes -f only)");
        if (!force && !confirm_prompt("stopped runs"))
                return 0;
        struct err e = { 0 };
        struct store *s = NULL;
        struct store_mount *ms = NULL;
        size_t n = 0;
        int r = open_store(&s, &e);
        if (r >= 0)
                r = store_list_mounts(s, &ms, &n, &e);
        uint64_t total = 0;
        bool header = false;
        for (size_t i = 0; i < n; i++) {
                if (r >= 0 && container_state(&ms[i]) != CT_RUNNING) {
                        uint64_t bytes = ms[i].keep_upper ? 0 : store_tree_bytes(ms[i].upper);
                        r = store_mount_remove(s, &ms[i], &e);
                        if (r >= 0) {
                                if (!header)
                                        printf("Deleted Containers:\n"), header = true;
                                printf("%s\n", ms[i].id);
                                total += bytes;
                        }
                }
                store_mount_free(&ms[i]);
        }
        free(ms);
        store_close(s);
        return prune_done("container prune", r, &e, total, header);
}
