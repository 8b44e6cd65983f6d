/* cli/ — the command table and what the commands share.  Only cli/ prints
 * errors and exits.  Each command lives in cli/cmd-<verb>.c, parses only its
 * own options and makes one call into a module. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include "util/util.h"

#define STRATA_VERSION "0.1.0"

/* Global options, parsed before the verb. */
struct globals {
        const char *root;         /* --root, $STRATA_ROOT, or the default */
        const char *config;       /* --config, or NULL for /etc/strata/config.json */
        bool debug;               /* --debug */
        const char *argv0;        /* how strata was invoked */
};
extern struct globals G;

struct command {
        const char *name;
        int (*run)(int argc, char **argv);   /* argv[0] is the verb; returns exit status */
        const char *usage;                   /* "strata pull [OPTIONS] REF" */
        const char *summary;                 /* one line for `strata --help` */
        const char *help;                    /* the options, for `strata help VERB` */
};
/* find_command() - the verb named @name, or NULL. */
const struct command *find_command(const char *name);
/* command_table() - the verbs, as `strata --help` lists them; ends with a NULL name. */
const struct command *command_table(void);

/* The verbs; one definition per cli/cmd-<verb>.c. */
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_which(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_system(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_container(int argc, char **argv);
int container_prune(int argc, char **argv);      /* container prune (cmd-rm.c) */
int cmd_stop(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_complete_names(int argc, char **argv);   /* the hidden __complete */
/* print_version_line() - "strata version 0.1.0, build abc1234" (--version) */
void print_version_line(void);
int cmd_commit(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_unshare(int argc, char **argv);

/* rootless (cli/rootless.c, util/userns.h): rootless_enter_for() - for a
 * user who is not root, move this process into the store's user namespace
 * unless @verb stays outside it (mount, run...).  rootless_join() - that
 * namespace whatever the verb (@mount_ns: a mount namespace too).  0 when
 * root or already inside; -errno with @e set. */
int rootless_enter_for(const char *verb, struct err *e);
int rootless_join(const char *verb, bool mount_ns, struct err *e);
/* rootless_unpack_opts() - @o's overlay prefix (the store's) and, rootless,
 * what the user namespace can hold (max_id, owner_xattr). */
struct store;
struct unpack_opts;
void rootless_unpack_opts(const struct store *s, struct unpack_opts *o);
/* rootless_fs_config() - a mount of @s's layers by a user: userxattr, and
 * (outside the namespace) the id maps and "userns" for the daemon. */
struct fs_config;
void rootless_fs_config(const struct store *s, struct fs_config *c);
/* rootless_call() - @fn(@ctx) in the store's user namespace: directly when
 * root or inside it already, else in a child that joins it (its error comes
 * back in @e). */
int rootless_call(const char *verb, int (*fn)(void *ctx, struct err *e), void *ctx, struct err *e);
/* rootless_map() - the id maps in force: those entered with (their sources
 * /etc/subuid...), else root's or the namespace's own. */
struct idmap;
const struct idmap *rootless_map(void);
/* rootless_join_run() - a user's exec: into the user namespace of the run's
 * process @pid (a new one like it could not see the run's), as its root. */
int rootless_join_run(pid_t pid, struct err *e);

/* parse_timestamp() - --timestamp SECONDS (@arg), else $SOURCE_DATE_EPOCH:
 * sets @t's clamp and epoch (cmd-commit.c; import too). */
struct pack_tar_opts;
int parse_timestamp(const char *arg, struct pack_tar_opts *t, struct err *e);

/* die_err() - print "strata: <msg>" once on stderr; returns the exit status 1
 * (or 125 like docker for usage errors when @e->code == EINVAL from argv). */
int report_err(const struct err *e);
/* usage_error() - "strata VERB: <msg>" plus a hint to --help; returns 2.
 * @verb NULL: an error before the verb, "strata: <msg>". */
int usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* bad_option() - for the option getopt just refused (opterr is off):
 * "strata VERB: bad option '--x'" plus the --help hint; returns 2.
 * @verb NULL: a global option. */
int bad_option(const char *verb, char **argv);
/* no_options() - for a verb that takes none: refuses any option (bad_option()
 * and 2); 0 with optind at the first operand otherwise. */
int no_options(const char *verb, int argc, char **argv);
/* format_option() - for a verb whose one option is -f/--format T: *@format
 * (NULL when not given); 0 with optind at the first operand, or
 * bad_option()'s 2. */
int format_option(const char *verb, int argc, char **argv, const char **format);
/* prune_options() - docker's prune flags, -a/--all and -f/--force, and no
 * operand: 0, or the usage error's 2. */
int prune_options(const char *verb, int argc, char **argv, bool *all, bool *force);
/* prune_done() - the end of a prune: @r's error under @verb (its status),
 * or docker's "Total reclaimed space: 1.2MB" (after a blank line when
 * something was @listed) and 0. */
int prune_done(const char *verb, int r, struct err *e, uint64_t total, bool listed);
/* confirm_prompt() - docker's "WARNING! This will remove all @what." and
 * "Are you sure you want to continue? [y/N] " on stdout; true for y/yes. */
bool confirm_prompt(const char *what);
/* wants_help() - true when argv holds -h/--help before a "--"; prints the
 * verb's help then. */
bool wants_help(const char *verb, int argc, char **argv);
/* default_root() - the store directory in force (see struct globals). */
const char *default_root(void);

struct store;
struct store_image;
/* open_store() - the store in force (--root, $STRATA_ROOT, the default). */
int open_store(struct store **s, struct err *e);
/* lookup_image() - the image that @arg names: a reference ("busybox",
 * "host:5000/x:1", "x@sha256:...") or an image ID / ID prefix.  *@name (may
 * be NULL) receives the store name matched, or NULL for an ID. */
int lookup_image(struct store *s, const char *arg, struct store_image *out, char **name, struct err *e);

/* image_config_json() - the image's config blob (its id), parsed. */
typedef struct json_t json_t;
int image_config_json(struct store *s, const struct store_image *im, json_t **out, struct err *e);

/* Debug lines go to stderr only with --debug. */
void debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
