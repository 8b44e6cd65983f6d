/* strata completion bash|zsh|fish — a completion script made from the
 * command table itself (verbs, summaries, each verb's options as its help
 * lists them, what its operands are), so it cannot drift from --help; and
 * the hidden `strata __complete images|runs|mounts` it calls for the names
 * in the store. */
#include "cli.h"
#include "format.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* One option line of a verb's help: "  -q, --quiet  desc", "      --format T  desc". */
struct help_opt {
        char shrt;              /* 'q', or 0 */
        char lng[40];           /* "quiet", or "" */
        bool arg;               /* takes a value */
        char desc[120];
};

static size_t help_options(const char *help, struct help_opt *out, size_t max)
{
        size_t n = 0;
        for (const char *l = help; l && *l && n < max;) {
                const char *eol = strchr(l, '\n');
                size_t len = eol ? (size_t)(eol - l) : strlen(l);
                _cleanup_free_ char *line = xstrndup(l, len);
                l = eol ? eol + 1 : l + len;
                char *p = line;
                while (*p == ' ')
                        p++;
                if (*p != '-')
                        continue;
                /* the spec runs to the first two spaces; the description follows */
                char *gap = strstr(p, "  ");
                const char *desc = "";
                if (gap) {
                        *gap = '\0';
                        desc = gap + 2;
                        while (*desc == ' ')
                                desc++;
                }
                struct help_opt o = { 0 };
                for (char *save = NULL, *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                        size_t tl = strlen(tok);
                        if (tok[tl - 1] == ',')
                                tok[--tl] = '\0';
                        if (tok[0] == '-' && tok[1] == '-') {
                                char *br = strchr(tok, '[');   /* --human[=false] */
                                if (br)
                                        *br = '\0';
                                snprintf(o.lng, sizeof o.lng, "%s", tok + 2);
                        } else if (tok[0] == '-' && tok[1] && !tok[2]) {
                                o.shrt = tok[1];
                        } else {
                                o.arg = true;
                        }
                }
                snprintf(o.desc, sizeof o.desc, "%s", desc);
                out[n++] = o;
        }
        return n;
}

/* What each verb's operands are, for completion: a word per position, the
 * last one repeated when it ends in "...".  A verb not here gets options only. */
static const struct { const char *verb, *args; } OPERANDS[] = {
        { "images", "image" }, { "tag", "image image" }, { "rmi", "image..." }, { "inspect", "image..." },
        { "history", "image" }, { "layers", "image" }, { "ls", "image" }, { "which", "image" },
        { "diff", "image|dir" }, { "unpack", "image dir" }, { "mount", "image dir" }, { "umount", "mount" },
        { "run", "image" }, { "info", "image" }, { "completion", "shell" }, { "push", "image" },
        { "save", "image..." }, { "rm", "run..." },
        { "container", "=ls,rm,prune,start,stop,kill,wait,logs,exec,run" }, { "start", "run..." }, { "stop", "run..." },
        { "kill", "run..." }, { "wait", "run..." }, { "logs", "run" }, { "exec", "run" }, { "export", "run" }, { "commit", "run image" }, { "image", "=ls,rm,prune,inspect,history,tag,pull" },
        { "system", "=df,prune,check" },
};

static const char *operands(const char *verb)
{
        for (size_t i = 0; i < ARRAY_SIZE(OPERANDS); i++)
                if (!strcmp(OPERANDS[i].verb, verb))
                        return OPERANDS[i].args;
        return "";
}

static const char GLOBAL_HELP[] =
        "      --root DIR     the store\n"
        "      --config FILE  configuration file\n"
        "      --debug        debug lines on stderr\n"
        "  -h, --help         help\n"
        "  -v, --version      the version\n";

#define MAX_OPTS 64

/* "-q --quiet -j --jobs" (all) or only those taking a value */
static void print_opt_words(const char *help, bool only_arg)
{
        struct help_opt o[MAX_OPTS];
        size_t n = help_options(help, o, MAX_OPTS);
        const char *sep = "";
        for (size_t i = 0; i < n; i++) {
                if (only_arg && !o[i].arg)
                        continue;
                if (o[i].shrt)
                        printf("%s-%c", sep, o[i].shrt), sep = " ";
                if (o[i].lng[0])
                        printf("%s--%s", sep, o[i].lng), sep = " ";
        }
        if (!only_arg)
                printf("%s--help", sep);
}

static void bash_script(void)
{
        printf("# bash completion for strata; made by `strata completion bash` (zsh: `strata completion zsh`)\n"
               "_strata_names() {\n"
               "    # names from the store named by the command line's --root/--config\n"
               "    command strata \"${_strata_globals[@]}\" __complete \"$1\" 2>/dev/null\n"
               "}\n\n"
               "_strata() {\n"
               "    local cur prev words cword\n"
               "    if declare -F _init_completion >/dev/null; then\n"
               "        _init_completion -n : || return\n"
               "    else\n"
               "        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
               "        words=(\"${COMP_WORDS[@]}\") cword=$COMP_CWORD\n"
               "    fi\n"
               "    local verbs=\"");
        const char *sep = "";
        for (const struct command *c = command_table(); c->name; c++)
                printf("%s%s", sep, c->name), sep = " ";
        printf(" help\"\n"
               "    local i verb= vpos=0 _strata_globals=()\n"
               "    for ((i = 1; i < cword; i++)); do\n"
               "        case ${words[i]} in\n"
               "        --root|--config) _strata_globals+=(\"${words[i]}\" \"${words[i+1]}\"); ((i++)) ;;\n"
               "        --root=*|--config=*) _strata_globals+=(\"${words[i]}\") ;;\n"
               "        -*) ;;\n"
               "        *) verb=${words[i]}; vpos=$i; break ;;\n"
               "        esac\n"
               "    done\n"
               "    if [[ -z $verb ]]; then\n"
               "        case $prev in\n"
               "        --root) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
               "        --config) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
               "        esac\n"
               "        if [[ $cur == -* ]]; then\n"
               "            COMPREPLY=($(compgen -W \"");
        print_opt_words(GLOBAL_HELP, false);
        printf("\" -- \"$cur\"))\n"
               "        else\n"
               "            COMPREPLY=($(compgen -W \"$verbs\" -- \"$cur\"))\n"
               "        fi\n"
               "        return\n"
               "    fi\n"
               "    local opts= argopts= args=\n"
               "    case $verb in\n");
        for (const struct command *c = command_table(); c->name; c++) {
                printf("    %s) opts=\"", c->name);
                print_opt_words(c->help ? c->help : "", false);
                printf("\" argopts=\"");
                print_opt_words(c->help ? c->help : "", true);
                printf("\" args=\"%s\" ;;\n", operands(c->name));
        }
        printf("    help) args=\"verb\" ;;\n"
               "    esac\n"
               "    # the value of an option\n"
               "    if [[ $prev == -* && \" $argopts \" == *\" $prev \"* ]]; then\n"
               "        case $prev in\n"
               "        --env-file|--rootfs|--upper|-v|--volume) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
               "        esac\n"
               "        return\n"
               "    fi\n"
               "    if [[ $cur == -* ]]; then\n"
               "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
               "        return\n"
               "    fi\n"
               "    # which operand this is: count those before it, skipping option values\n"
               "    local n=0\n"
               "    for ((i = vpos + 1; i < cword; i++)); do\n"
               "        case ${words[i]} in\n"
               "        -*=*) ;;\n"
               "        -*) [[ \" $argopts \" == *\" ${words[i]} \"* ]] && ((i++)) ;;\n"
               "        *) ((n++)) ;;\n"
               "        esac\n"
               "    done\n"
               "    local kinds=($args) kind=\n"
               "    if ((n < ${#kinds[@]})); then kind=${kinds[n]}\n"
               "    elif [[ ${kinds[-1]} == *... ]]; then kind=${kinds[-1]}\n"
               "    fi\n"
               "    case ${kind%%...} in\n"
               "    =*) local w=${kind#=}; COMPREPLY=($(compgen -W \"${w//,/ }\" -- \"$cur\")) ;;\n"
               "    image) COMPREPLY=($(compgen -W \"$(_strata_names images)\" -- \"$cur\")) ;;\n"
               "    run) COMPREPLY=($(compgen -W \"$(_strata_names runs)\" -- \"$cur\")) ;;\n"
               "    dir) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
               "    image\\|dir) COMPREPLY=($(compgen -W \"$(_strata_names images)\" -- \"$cur\") $(compgen -d -- \"$cur\")) ;;\n"
               "    mount) COMPREPLY=($(compgen -W \"$(_strata_names mounts)\" -- \"$cur\")) ;;\n"
               "    verb) COMPREPLY=($(compgen -W \"$verbs\" -- \"$cur\")) ;;\n"
               "    shell) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")) ;;\n"
               "    esac\n"
               "    declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions \"$cur\"\n"
               "    return 0\n"
               "}\n"
               "complete -F _strata strata\n");
}

/* fish: single quotes in a description escaped */
static void fish_quoted(const char *s)
{
        putchar('\'');
        for (; *s; s++) {
                if (*s == '\'' || *s == '\\')
                        putchar('\\');
                putchar(*s);
        }
        putchar('\'');
}

/* one `complete` line per option of @help, under the condition @cond */
static void fish_options(const char *cond, const char *help)
{
        struct help_opt o[MAX_OPTS];
        size_t n = help_options(help, o, MAX_OPTS);
        for (size_t i = 0; i < n; i++) {
                printf("complete -c strata -n %s", cond);
                if (o[i].shrt)
                        printf(" -s %c", o[i].shrt);
                if (o[i].lng[0])
                        printf(" -l %s", o[i].lng);
                printf("%s -d ", o[i].arg ? " -r" : "");
                fish_quoted(o[i].desc);
                putchar('\n');
        }
}

static void fish_script(void)
{
        printf("# fish completion for strata; made by `strata completion fish`\n"
               "complete -c strata -f\n");
        fish_options("__fish_use_subcommand", GLOBAL_HELP);
        for (const struct command *c = command_table(); c->name; c++) {
                printf("complete -c strata -n __fish_use_subcommand -a %s -d ", c->name);
                fish_quoted(c->summary);
                putchar('\n');
                _cleanup_free_ char *cond = xasprintf("'__fish_seen_subcommand_from %s'", c->name);
                fish_options(cond, c->help ? c->help : "");
                const char *a = operands(c->name);
                if (a[0] == '=') {
                        _cleanup_free_ char *w = xstrdup(a + 1);
                        for (char *p = w; *p; p++)
                                if (*p == ',')
                                        *p = ' ';
                        printf("complete -c strata -n '__fish_seen_subcommand_from %s' -a '%s'\n", c->name, w);
                        continue;
                }
                if (strstr(a, "image"))
                        printf("complete -c strata -n '__fish_seen_subcommand_from %s' -a '(strata __complete images)'\n", c->name);
                if (strstr(a, "run"))
                        printf("complete -c strata -n '__fish_seen_subcommand_from %s' -a '(strata __complete runs)'\n", c->name);
                if (strstr(a, "mount"))
                        printf("complete -c strata -n '__fish_seen_subcommand_from %s' -a '(strata __complete mounts)'\n", c->name);
                if (strstr(a, "dir"))
                        printf("complete -c strata -n '__fish_seen_subcommand_from %s' -F\n", c->name);
        }
        printf("complete -c strata -n __fish_use_subcommand -a help -d 'Help on a command'\n"
               "complete -c strata -n '__fish_seen_subcommand_from help' -a '");
        for (const struct command *c = command_table(); c->name; c++)
                printf("%s%s", c == command_table() ? "" : " ", c->name);
        printf("'\n"
               "complete -c strata -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n");
}

int cmd_completion(int argc, char **argv)
{
        int st = no_options("completion", argc, argv);
        if (st)
                return st;
        if (argc - optind != 1)
                return usage_error("completion", "requires exactly 1 argument: bash, zsh or fish");
        const char *sh = argv[optind];
        if (!strcmp(sh, "bash")) {
                bash_script();
        } else if (!strcmp(sh, "zsh")) {
                /* zsh runs the bash function through its bash compatibility layer */
                printf("# zsh completion for strata; made by `strata completion zsh`: source <(strata completion zsh)\n"
                       "autoload -U +X compinit && compinit\n"
                       "autoload -U +X bashcompinit && bashcompinit\n");
                bash_script();
        } else if (!strcmp(sh, "fish")) {
                fish_script();
        } else {
                return usage_error("completion", "unknown shell '%s' (bash, zsh or fish)", sh);
        }
        return 0;
}

/* strata __complete images|runs|mounts: one name a line, nothing on error
 * (a completion must never print an error into the command line). */
int cmd_complete_names(int argc, char **argv)
{
        if (argc != 2)
                return 2;
        struct err e = { 0 };
        struct store *s = NULL;
        if (access(default_root(), F_OK) < 0 || open_store(&s, &e) < 0)
                return 0;
        if (!strcmp(argv[1], "images")) {
                struct store_image *ims = NULL;
                size_t n = 0;
                if (store_list_images(s, &ims, &n, &e) == 0) {
                        for (size_t i = 0; i < n; i++) {
                                for (size_t k = 0; k < ims[i].n_names; k++) {
                                        char *repo, *tag, *digest;
                                        split_store_name(ims[i].names[k], &repo, &tag, &digest);
                                        if (!digest)
                                                printf("%s:%s\n", repo, tag);
                                        free(repo), free(tag), free(digest);
                                }
                                store_image_free(&ims[i]);
                        }
                        free(ims);
                }
        } else if (!strcmp(argv[1], "runs") || !strcmp(argv[1], "mounts")) {
                struct store_mount *ms = NULL;
                size_t n = 0;
                if (store_list_mounts(s, &ms, &n, &e) == 0) {
                        for (size_t i = 0; i < n; i++) {
                                _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", ms[i].dir);
                                bool run = !strcmp(ms[i].mountpoint, rootfs);
                                if (run && argv[1][0] == 'r')
                                        printf("%s\n%s%s", ms[i].id, ms[i].name ? ms[i].name : "", ms[i].name ? "\n" : "");
                                else if (!run && argv[1][0] == 'm')
                                        printf("%s\n", ms[i].mountpoint);
                                store_mount_free(&ms[i]);
                        }
                        free(ms);
                }
        }
        store_close(s);
        return 0;
}
