/* cli/build-internal — what cli/build.c (steps, stages, the cache) and
 * cli/buildinstr.c (the config instructions, expansion) share. */
#ifndef STRATA_CLI_BUILD_INTERNAL_H
#define STRATA_CLI_BUILD_INTERNAL_H

#include "build.h"
#include "containerfile/containerfile.h"

#include <jansson.h>

struct stage {
        char *name;                /* AS name, or NULL */
        size_t first, end;         /* instructions [first, end), first is the FROM */
        bool needed, built;
        char id[DIGEST_STR_LEN + 1];
};

/* The stage being built. */
struct bstate {
        struct store *s;
        const struct build_opts *o;
        const struct bf_file *f;
        int ctxfd;                 /* -1 without a context */
        struct bf_ignore ignore;   /* its .containerignore or .dockerignore */
        struct store_image im;     /* the current image */
        json_t *img;               /* its whole config */
        char **args;               /* ARGs in scope with a value, K=V */
        size_t n_args;
        char **gargs;              /* the ARGs before the first FROM, K=V */
        size_t n_gargs;
        bool *used_bargs;          /* which --build-arg were consumed */
        bool cmd_set;              /* a CMD of this stage: ENTRYPOINT keeps it */
        struct stage *stages;      /* all of them; [0, cur) built when needed */
        size_t cur;
        int step, steps;
        int status;
};

/* The config object of the current image ("config" made when missing). */
json_t *cfg_of(struct bstate *b);
/* Expansion's lookup: the stage's Env first (ENV wins over ARG), then the ARGs. */
const char *lookup_var(void *ctx, const char *name);
/* SHELL (default /bin/sh -c) with @cmd appended. */
json_t *shell_form(struct bstate *b, const char *cmd);

/* buildinstr.c */
int expand_words(struct bstate *b, const struct bf_instr *in, char ***w, size_t *n, struct err *e);
int expand_one(struct bstate *b, const char *s, char **out, struct err *e);
int do_pairs(struct bstate *b, const struct bf_instr *in, struct buf *text, struct err *e);
char *image_path(struct bstate *b, const char *p);
int set_exposed(struct bstate *b, char **w, size_t n, struct buf *text, struct err *e);
/* args_array() - the instruction's arguments as a JSON array of strings. */
json_t *args_array(const struct bf_instr *in);
json_t *exec_array(struct bstate *b, const struct bf_instr *in);
int set_exec(struct bstate *b, const struct bf_instr *in, const char *key, struct buf *text);
void args_prefix(struct bstate *b, struct buf *t);
int do_healthcheck(struct bstate *b, const struct bf_instr *in, struct buf *t, struct err *e);
bool bare_heredoc(const struct bf_instr *in);

#endif
