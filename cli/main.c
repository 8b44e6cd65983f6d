/* strata — the command table, global options and help. */
#include "cli.h"
#include "config.h"
#include "util/userns.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct globals G;

/* One line per verb; keep them in the order `strata --help` lists them. */
static const struct command commands[] = {
        { "pull", cmd_pull, "strata pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
          "  -a, --all-tags                    every tagged image of the repository (the registry's tags list)\n"
          "      --platform os/arch[/variant]  pick this platform from an index (default: $DOCKER_DEFAULT_PLATFORM, else the host's)\n"
          "  -q, --quiet                       print only the image name\n"
          "  -j, --jobs N                      layers downloaded at once (default 3)\n"
          "      --registry-mirror URL         try this mirror first (repeatable; replaces the configured Docker Hub mirrors)\n"
          "Environment: STRATA_CONNECT_TIMEOUT, STRATA_STALL_TIMEOUT (seconds), STRATA_RETRIES\n"
          "Limits (each layer, also for `strata unpack`): STRATA_MAX_LAYER_BYTES (default 64G; a number with\n"
          "  K, M, G or T) caps the uncompressed tar stream and the sum of the files' declared sizes (a sparse\n"
          "  file counts at its full size); raise it for one run: STRATA_MAX_LAYER_BYTES=200G strata pull IMAGE.\n"
          "  Fixed: uid/gid 0..4294967294, device major 0..4095, minor 0..1048575 (never truncated), names up\n"
          "  to 255 bytes, paths up to 4095; a layer past a limit is refused and nothing of it is kept.\n" },
        { "push", cmd_push, "strata push [OPTIONS] IMAGE [DESTINATION]", "Upload an image to a registry",
          "  -q, --quiet               print only the name pushed\n"
          "  -j, --jobs N              blobs uploaded at once (default 5)\n"
          "      --format oci|docker   the manifest in this format (the blobs unchanged; docker has no zstd layers)\n"
          "      --compress gzip|zstd  layers compressed otherwise are written anew so (new digests)\n"
          "DESTINATION: [docker://]REGISTRY/REPO[:TAG] (default: IMAGE's own name)\n"
          "Environment: STRATA_PUSH_CHUNK_SIZE (bytes; larger blobs go in PATCH chunks, default 64 MiB),\n"
          "             STRATA_CONNECT_TIMEOUT, STRATA_STALL_TIMEOUT (seconds), STRATA_RETRIES\n" },
        { "images", cmd_images, "strata images [OPTIONS] [REPOSITORY[:TAG]]", "List images",
          "  -q, --quiet       only image IDs\n"
          "  -a, --all         all images (also the intermediate images of builds)\n"
          "      --digests     show digests\n"
          "      --no-trunc    full image IDs\n"
          "  -f, --filter K=V  dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE,\n"
          "                    label=KEY[=VALUE] (repeatable)\n"
          "      --format T    a Go template ({{.Repository}}, {{json .}}, table ...), or json\n" },
        { "tag", cmd_tag, "strata tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
          "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL },
        { "rmi", cmd_rmi, "strata rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
          "  -f, --force   remove an image in use by a mount, or with several tags\n" },
        { "inspect", cmd_inspect, "strata inspect [OPTIONS] IMAGE [IMAGE...]",
          "Show the image config and manifest as JSON",
          "  -f, --format T   a Go template over each image ({{.Id}}, {{json .Config}}), or json\n" },
        { "history", cmd_history, "strata history [OPTIONS] IMAGE", "Show the history of an image",
          "  -H, --human[=false]  sizes and dates for humans (default true; false: bytes, RFC 3339)\n"
          "      --no-trunc       do not truncate output\n"
          "  -q, --quiet          only image IDs\n"
          "      --format T       a Go template ({{.ID}}, {{.CreatedBy}}, table ...), or json\n" },
        { "layers", cmd_layers, "strata layers IMAGE",
          "Show each layer: digest, diff ID, sizes, files added/changed/deleted", NULL },
        { "ls", cmd_ls, "strata ls [OPTIONS] IMAGE [PATH]",
          "List the merged tree (or one layer's) with the layer each entry comes from",
          "      --layer N   only layer N (0 = bottom)\n"
          "  -R, --recursive  list subdirectories too\n"
          "  -l, --long      mode, owner, size, link target\n" },
        { "which", cmd_which, "strata which IMAGE PATH",
          "Show every layer that holds PATH, which one wins, which whiteout hides which", NULL },
        { "diff", cmd_diff, "strata diff (IMAGE | MOUNTDIR)",
          "Show what each layer of an image, or a mount's writable layer, changed (A/C/D)", NULL },
        { "unpack", cmd_unpack, "strata unpack IMAGE DIR", "Flatten an image into a plain directory (like umoci unpack's rootfs), no FUSE", NULL },
        { "mount", cmd_mount, "strata mount [OPTIONS] (IMAGE DIR | -o lowerdir=L1:L2[,upperdir=U,workdir=W] DIR)", "Mount an image (or directories) as a union filesystem",
          "  -o OPTS          fuse-overlayfs options: lowerdir=,upperdir=,workdir=,ro,allow_other,writeback,timeout=,fsname=,...\n"
          "  -r, --read-only  no writable layer: writes answer EROFS\n"
          "      --upper DIR  keep the writable layer in DIR (kept by umount; resume it later)\n"
          "      --stack      mount even if DIR is a mount point already (over it, hiding it)\n"
          "  -f               stay in the foreground\n"
          "  -d               FUSE debug output (implies -f)\n"
          "      --driver D   fuse (the default; config key mount-driver) or kernel (root: the kernel's overlayfs)\n" },
        { "umount", cmd_umount, "strata umount DIR", "Unmount a strata mount (dropping its writable layer unless --upper named it)", NULL },
        { "run", cmd_run, "strata run [OPTIONS] IMAGE [COMMAND [ARG...]]",
          "Run a command in a new container over a mounted image",
          "  -i, --interactive      keep stdin open (else the command reads /dev/null)\n"
          "  -t, --tty              allocate a pseudo-terminal\n"
          "      --rm               drop the writable layer when the command exits\n"
          "  -e, --env K=V          set an environment variable (K alone: the host's value)\n"
          "      --env-file FILE    read K=V lines (# comments) from FILE; -e wins\n"
          "  -w, --workdir DIR      working directory inside the container\n"
          "  -u, --user U[:G]       user and group, names or numbers (the image's passwd)\n"
          "      --group-add G      one more supplementary group (the image's /etc/group)\n"
          "      --name NAME        the run's name, unique (strata ps, strata rm NAME)\n"
          "      --hostname NAME    the container's hostname (default: its random id)\n"
          "      --entrypoint CMD   replace the image's entrypoint (and drop its Cmd)\n"
          "      --rootfs DIR       run in DIR instead of an image (COMMAND required)\n"
          "      --cap-add CAP      keep CAP too (NET_ADMIN, SYS_ADMIN..., ALL)\n"
          "      --cap-drop CAP     drop CAP from docker's default set (ALL: every one)\n"
          "      --privileged       keep every capability; /proc/sys & co writable\n"
          "  -v, --volume H:C[:ro]  bind the host path H at C (a missing H is made a directory)\n"
          "      --tmpfs P[:OPTS]   a tmpfs at P (noexec,nosuid unless OPTS say exec,suid; size=,mode=)\n"
          "      --read-only        mount the container's root filesystem read-only\n"
          "      --platform P       os/arch[/variant] to pull when IMAGE is not in the store\n"
          "      --driver D         mount IMAGE with fuse (default) or kernel (root: the kernel's overlayfs)\n"
          "  -d, --detach           run in the background: print the run's ID; output to its log (strata logs)\n"
          "      --network N        host (the default: the host's network) or none (loopback only)\n"
          "  -p, --publish P        refused: the run has no network namespace of its own to forward into\n" },
        { "ps", cmd_ps, "strata ps [OPTIONS]", "List runs (kept ones with -a) and mounts, as docker's containers",
          "  -a, --all         also finished runs (kept without --rm) and dead mounts\n"
          "  -q, --quiet       only IDs\n"
          "      --no-trunc    do not truncate the command\n"
          "  -f, --filter K=V  status=running|exited|dead, name=PART, id=PREFIX, exited=CODE,\n"
          "                    ancestor=IMAGE (repeatable)\n"
          "      --format T    a Go template ({{.ID}}, {{.Status}}, {{.Names}}, table ...), or json\n" },
        { "rm", cmd_rm, "strata rm [-f] ID|NAME [ID|NAME...]",
          "Remove finished runs (their records and writable layers)",
          "  -f, --force   stop a running run first (SIGKILL)\n" },
        { "start", cmd_start, "strata start [OPTIONS] ID|NAME [ID|NAME...]",
          "Run a kept run's command again over its writable layer (podman start)",
          "  -a, --attach       wait for the command, its output on ours; exit status its\n"
          "  -i, --interactive  keep stdin open (implies -a)\n" },
        { "logs", cmd_logs, "strata logs [OPTIONS] ID|NAME", "Show the output of a detached run (run -d)",
          "  -f, --follow      follow the output until the run exits\n"
          "  -t, --timestamps  show each line's time (RFC 3339, nanoseconds)\n"
          "  -n, --tail N      only the last N lines (all: every one)\n" },
        { "stop", cmd_stop, "strata stop [OPTIONS] ID|NAME [ID|NAME...]", "Stop running runs",
          "  -t, --time N      seconds to wait for the run to exit before SIGKILL (default 10; -1: no limit)\n"
          "  -s, --signal SIG  the signal to send first (default: the image's StopSignal, else SIGTERM)\n" },
        { "kill", cmd_kill, "strata kill [OPTIONS] ID|NAME [ID|NAME...]", "Send a signal to running runs",
          "  -s, --signal SIG  the signal (default KILL; a name or a number)\n" },
        { "wait", cmd_wait, "strata wait ID|NAME [ID|NAME...]", "Wait until runs exit, then print their exit codes",
          NULL },
        { "exec", cmd_exec, "strata exec [OPTIONS] ID|NAME COMMAND [ARG...]",
          "Run a command in a running run (its namespaces and root)",
          "  -i, --interactive  keep stdin open (else the command reads /dev/null)\n"
          "  -t, --tty          allocate a pseudo-terminal\n"
          "  -e, --env K=V      set an environment variable (K alone: the host's value)\n"
          "  -u, --user U[:G]   user and group, names or numbers (default: the image's)\n"
          "  -w, --workdir DIR  working directory (default: the image's)\n"
          "      --privileged   keep every capability\n" },
        { "commit", cmd_commit, "strata commit [OPTIONS] MOUNT|RUN-ID [NAME[:TAG]]",
          "Create a new image from a mount's (or a kept run's) writable layer",
          "  -m, --message MSG        commit message (history comment and created_by)\n"
          "  -a, --author AUTHOR      author (\"Name <email>\")\n"
          "  -c, --change INSTR       apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,\n"
          "                           USER, WORKDIR, VOLUME, STOPSIGNAL (repeatable)\n"
          "      --format oci|docker  manifest format (default: the parent image's)\n"
          "      --compress gzip|zstd|none  layer compression (default gzip)\n"
          "      --timestamp SECONDS  clamp file times to it and date the image then\n"
          "                           (default: $SOURCE_DATE_EPOCH when set)\n" },
        { "build", cmd_build, "strata build [OPTIONS] CONTEXT",
          "Build an image from a Containerfile (or Dockerfile)",
          "  -f, --file FILE          the Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile; - stdin)\n"
          "  -t, --tag NAME[:TAG]     name the image (repeatable)\n"
          "      --build-arg K[=V]    set a build argument (K alone: the host's value; repeatable)\n"
          "      --target STAGE       build up to this stage\n"
          "      --no-cache           run every step (the cache is still written)\n"
          "      --pull               pull the FROM images even when they are in the store\n"
          "      --platform P         os/arch[/variant] of the FROM images to pull\n"
          "      --label K=V          add a label to the image (repeatable)\n"
          "      --iidfile FILE       write the image ID to FILE\n"
          "  -q, --quiet              print only the image ID (RUN output goes to stderr)\n"
          "      --compress gzip|zstd|none  layer compression (default gzip)\n"
          "CONTEXT: a directory, or - for a Containerfile on stdin and no context\n" },
        { "save", cmd_save, "strata save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE...",
          "Save images to a tar archive (docker's, or an OCI layout)",
          "  -o, --output FILE   write to FILE (default: stdout, when it is not a terminal)\n"
          "      --format F      docker-archive (default; docker load, podman load), oci-archive, oci-dir\n" },
        { "load", cmd_load, "strata load [-i FILE] [-q]", "Load images from a tar archive (docker's or OCI's; also gzip/zstd; stdin)",
          "  -i, --input FILE   read FILE (default: stdin)\n"
          "  -q, --quiet        no progress (the Loaded image lines stay)\n" },
        { "export", cmd_export, "strata export [-o FILE] MOUNT|RUN-ID|IMAGE",
          "Write the flattened tree of a mount, a kept run or an image as a tar",
          "  -o, --output FILE   write to FILE (default: stdout, when it is not a terminal)\n" },
        { "import", cmd_import, "strata import [OPTIONS] FILE|URL|- [NAME[:TAG]]",
          "Create a one-layer image from a rootfs tarball (plain, gzip or zstd)",
          "  -m, --message MSG        history comment (default: Imported from SOURCE)\n"
          "  -a, --author AUTHOR      author\n"
          "  -c, --change INSTR       apply a Dockerfile instruction, as commit -c (repeatable)\n"
          "      --format oci|docker  manifest format (default docker)\n"
          "      --compress gzip|zstd|none  layer compression (default gzip)\n"
          "      --timestamp SECONDS  clamp file times to it and date the image then\n" },
        { "search", cmd_search, "strata search [OPTIONS] TERM | HOST[:PORT]/TERM",
          "Search Docker Hub (or a registry's catalog) for images",
          "  -f, --filter K=V   stars=N, is-official=true|false, is-automated=true|false\n"
          "      --limit N      at most N results (default 25, at most 100)\n"
          "      --no-trunc     do not truncate descriptions\n"
          "      --format T     a Go template ({{.Name}}, {{.StarCount}}, table ...), or json\n" },
        { "info", cmd_info, "strata info [OPTIONS] [IMAGE]",
          "Show the store, the configuration in force and, for IMAGE, the sources a pull would try",
          "  -f, --format T   a Go template ({{.DockerRootDir}}, {{.Images}}, {{json .}}) over the facts\n" },
        { "unshare", cmd_unshare, "strata unshare [COMMAND [ARG...]]",
          "Run a shell (or COMMAND) in the rootless store's user namespace, where the store's files have the image's owners",
          NULL },
        { "version", cmd_version, "strata version [OPTIONS]", "Show the version, the build's git commit, OS/Arch",
          "  -f, --format T   a Go template ({{.Client.Version}}, {{.Client.GitCommit}}), or json\n" },
        { "completion", cmd_completion, "strata completion bash|zsh|fish",
          "Print a shell completion script (verbs, options, image names and tags from the store)", NULL },
        { "system", cmd_system, "strata system (df [-v] | prune [-a] [-f] | check [--repair])",
          "Manage the store: disk usage, prune, check",
          "  df [-v] [--format T]  TYPE TOTAL ACTIVE SIZE RECLAIMABLE for images, layers, blobs, mounts,\n"
          "                     leftovers; -v: each image (shared and unique size), mount and leftover\n"
          "                     instead; --format: a Go template ({{.Type}}, {{.Size}}, table ...), or json\n"
          "  prune [-a] [-f]    remove finished runs' writable layers, dangling images (-a: every image\n"
          "                     no mount uses), unused layers and blobs, leftovers; -f: do not ask\n"
          "  check [--repair]   find (and repair) states that break the store invariants; exit 1 if any\n" },
        { "image", cmd_image, "strata image COMMAND [OPTIONS] [ARG...]",
          "Manage images, docker's form: image ls = images, image rm = rmi, image prune, ...",
          "  ls [OPTIONS]       = strata images\n"
          "  rm [-f]            = strata rmi\n"
          "  prune [-a] [-f]    remove dangling images (-a: every image no mount or run uses) and the\n"
          "                     layers only they used; -f: do not ask\n"
          "  inspect, history, tag, pull   the flat verbs\n" },
        { "container", cmd_container, "strata container COMMAND [OPTIONS] [ARG...]",
          "Manage runs, docker's form: container ls = ps, container rm = rm, ...",
          "  ls [OPTIONS]       = strata ps\n"
          "  rm [-f]            = strata rm\n"
          "  prune [-f]         remove every run that is not running; -f: do not ask\n"
          "  run, stop, kill, wait, logs, exec   the flat verbs\n" },
        { "login", cmd_login, "strata login [OPTIONS] [SERVER]", "Log in to a registry",
          "  -u, --username USER   user name\n"
          "  -p, --password PASS   password (insecure: prefer --password-stdin)\n"
          "      --password-stdin  read the password from stdin\n"
          "Credentials go to $STRATA_AUTH_FILE (default ~/.config/strata/auth.json), mode 0600\n" },
        { "logout", cmd_logout, "strata logout [SERVER]", "Log out from a registry", NULL },
        { NULL },
};

const struct command *command_table(void)
{
        return commands;
}

const struct command *find_command(const char *name)
{
        for (const struct command *c = commands; c->name; c++)
                if (!strcmp(c->name, name))
                        return c;
        return NULL;
}

static void print_main_help(FILE *f)
{
        fprintf(f,
                "Usage: strata [OPTIONS] COMMAND [ARG...]\n\n"
                "Pull, verify, unpack and mount container images, without a daemon.\n\n"
                "Commands:\n");
        for (const struct command *c = commands; c->name; c++)
                fprintf(f, "  %-10s %s\n", c->name, c->summary);
        fprintf(f,
                "\nGlobal options:\n"
                "      --root DIR      the store (default /var/lib/strata for root,\n"
                "                      $XDG_DATA_HOME/strata otherwise; env STRATA_ROOT)\n"
                "      --config FILE   configuration (default /etc/strata/config.json)\n"
                "      --debug         print debug lines on stderr\n"
                "  -h, --help          this help; `strata help COMMAND` for one command\n"
                "  -v, --version       print the version\n");
}

static void print_command_help(const struct command *c)
{
        printf("Usage: %s\n\n%s\n", c->usage, c->summary);
        if (c->help)
                printf("\nOptions:\n%s", c->help);
}

bool wants_help(const char *verb, int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--"))
                        break;
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        const struct command *c = find_command(verb);
                        if (c)
                                print_command_help(c);
                        return true;
                }
        }
        return false;
}

int report_err(const struct err *e)
{
        fprintf(stderr, "strata: %s\n", e->msg[0] ? e->msg : strerror(e->code ? e->code : EIO));
        return 1;
}

int usage_error(const char *verb, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, verb ? "strata %s: " : "strata: ", verb);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, verb ? " (see 'strata %s --help')\n" : " (see 'strata --help')\n", verb);
        return 2;
}

int bad_option(const char *verb, char **argv)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "?";
        if (optopt && optopt < 128 && !(arg[0] == '-' && arg[1] == '-'))
                return usage_error(verb, "bad option '-%c' (or its argument is missing)", optopt);
        return usage_error(verb, "bad option '%s' (or its argument is missing)", arg);
}

int no_options(const char *verb, int argc, char **argv)
{
        static const struct option none[] = { { 0 } };
        if (getopt_long(argc, argv, "", none, NULL) != -1)
                return bad_option(verb, argv);
        return 0;
}

int format_option(const char *verb, int argc, char **argv, const char **format)
{
        static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { 0 } };
        int c;
        *format = NULL;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                if (c != 'f')
                        return bad_option(verb, argv);
                *format = optarg;
        }
        return 0;
}

bool confirm_prompt(const char *what)
{
        printf("WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ", what);
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof line, stdin)) {
                putchar('\n');
                return false;
        }
        return !strcmp(line, "y\n") || !strcmp(line, "Y\n") || !strncasecmp(line, "yes\n", 4);
}

int prune_options(const char *verb, int argc, char **argv, bool *all, bool *force)
{
        static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
                                              { "force", no_argument, NULL, 'f' }, { 0 } };
        int c;
        *all = *force = false;
        while ((c = getopt_long(argc, argv, "af", opts, NULL)) != -1) {
                switch (c) {
                case 'a': *all = true; break;
                case 'f': *force = true; break;
                default: return bad_option(verb, argv);
                }
        }
        if (optind < argc)
                return usage_error(verb, "takes no arguments");
        return 0;
}

int prune_done(const char *verb, int r, struct err *e, uint64_t total, bool listed)
{
        if (r < 0) {
                err_wrap(e, "%s", verb);
                return report_err(e);
        }
        char sz[32];
        human_size(total, sz, sizeof sz);
        printf("%sTotal reclaimed space: %s\n", listed ? "\n" : "", sz);
        return 0;
}

void debugf(const char *fmt, ...)
{
        if (!G.debug)
                return;
        va_list ap;
        fputs("strata: debug: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

const char *default_root(void)
{
        static char *computed;
        if (G.root)
                return G.root;
        const char *env = getenv("STRATA_ROOT");
        if (env && *env)
                return env;
        if (!userns_rootless())
                return "/var/lib/strata";
        if (!computed) {
                const char *x = getenv("XDG_DATA_HOME");
                const char *home = getenv("HOME");
                if (x && *x)
                        computed = xasprintf("%s/strata", x);
                else
                        computed = xasprintf("%s/.local/share/strata", home ? home : "/tmp");
        }
        return computed;
}

int main(int argc, char **argv)
{
        G.argv0 = argv[0];
        /* invoked as strata-overlayfs (or fuse-overlayfs): fuse-overlayfs's exact argv */
        const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        if (!strcmp(base, "strata-overlayfs") || !strcmp(base, "fuse-overlayfs"))
                return cmd_mount(argc, argv);

        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "config", required_argument, NULL, 'c' },
                { "debug", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                { 0 }
        };
        int c;
        opterr = 0;   /* our one line, not getopt's (which names the binary's path) */
        /* "+" stops at the first non-option: the verb. */
        while ((c = getopt_long(argc, argv, "+hvD", opts, NULL)) != -1) {
                switch (c) {
                case 'r': G.root = optarg; break;
                case 'c': G.config = optarg; break;
                case 'D': G.debug = true; break;
                case 'h': print_main_help(stdout); return 0;
                case 'v': print_version_line(); return 0;
                default: return bad_option(NULL, argv);   /* before the verb */
                }
        }
        if (optind >= argc) {
                print_main_help(stderr);
                return 2;
        }
        const char *verb = argv[optind];
        if (!strcmp(verb, "help")) {
                if (optind + 1 >= argc) {
                        print_main_help(stdout);
                        return 0;
                }
                const struct command *hc = find_command(argv[optind + 1]);
                if (!hc) {
                        fprintf(stderr, "strata: unknown command '%s' (see 'strata --help')\n", argv[optind + 1]);
                        return 2;
                }
                print_command_help(hc);
                return 0;
        }
        if (!strcmp(verb, "__complete"))   /* for the completion scripts; not listed */
                return cmd_complete_names(argc - optind, argv + optind);
        const struct command *cmd = find_command(verb);
        if (!cmd) {
                fprintf(stderr, "strata: unknown command '%s' (see 'strata --help')\n", verb);
                return 2;
        }
        if (cmd->run != cmd_image && cmd->run != cmd_container && wants_help(verb, argc - optind, argv + optind))
                return 0;   /* image's subcommands have their own help */
        const char *env_config = getenv("STRATA_CONFIG");
        if (G.config || (env_config && *env_config)) {
                /* a file named explicitly must exist and be valid, whether or
                 * not this verb reads it (a missing default is no error) */
                struct config cfg;
                struct err e = { 0 };
                if (cfg_load(G.config, &cfg, &e) < 0) {
                        report_err(&e);
                        return cmd->run == cmd_run ? 125 : 1;   /* docker run's code for its own errors */
                }
                cfg_free(&cfg);
        }
        struct err re = { 0 };
        if (rootless_enter_for(verb, &re) < 0) {
                report_err(&re);
                return cmd->run == cmd_run ? 125 : 1;
        }
        int vi = optind;
        optind = 0;   /* let the verb's own getopt start afresh */
        opterr = 0;   /* a bad option is reported once, by bad_option() */
        return cmd->run(argc - vi, argv + vi);
}
