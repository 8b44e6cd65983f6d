/* containerfile/ — the pure parts of `strata build`: the Containerfile parser,
 * docker's variable expansion and word splitting, the step cache keys.  No
 * store, no filesystem, no printing; depends only on util/ (and jansson for
 * the exec form).  cli/build.c executes what this parses.
 *
 * CONTAINERFILE INVARIANTS
 * (1) bf_parse() accepts a file or refuses it whole: on success every
 *     instruction has a known keyword, its first line number and its
 *     arguments; on failure nothing is returned and @e says
 *     "LINE N: what was expected".  Nothing of a build runs before it.
 * (2) Line numbers are the 1-based line where the instruction starts,
 *     counting every physical line (comments, blank lines, continuations).
 * (3) Expansion (bf_words()) never reads past its input and never calls
 *     the lookup with a name that is not [A-Za-z0-9_]+; an unset variable
 *     is empty, as in docker.
 * (4) A cache key is a function of the parent image ID, the instruction as
 *     recorded (expanded) and, for COPY/ADD, the digest of the sources'
 *     names, modes and contents: nothing else (no times).
 *
 * Every function returns 0 or -errno with @e set and never logs. */
#ifndef STRATA_BUILD_H
#define STRATA_BUILD_H

#include "util/util.h"

/* The instructions of docker's Dockerfile reference. */
enum bf_kind {
        BF_FROM, BF_RUN, BF_CMD, BF_LABEL, BF_MAINTAINER, BF_EXPOSE, BF_ENV, BF_ADD, BF_COPY,
        BF_ENTRYPOINT, BF_VOLUME, BF_USER, BF_WORKDIR, BF_ARG, BF_ONBUILD, BF_STOPSIGNAL,
        BF_HEALTHCHECK, BF_SHELL,
};

struct bf_instr {
        int line;                 /* invariant 2 */
        enum bf_kind kind;
        const char *keyword;      /* "RUN" (static) */
        char **flags;             /* "--from=x" as written, in order */
        size_t n_flags;
        bool json;                /* exec form: args are the array's strings */
        char **args;              /* exec form: the elements; else args[0] is the
                                   * rest of the line after the flags, verbatim */
        size_t n_args;
        char **heredoc_names;     /* RUN's, COPY's, ADD's <<NAME words, in order
                                   * ("-NAME" for <<-) */
        bool *heredoc_quoted;     /* <<"NAME" or <<'NAME': no expansion in the body */
        size_t n_heredocs;
        char **heredoc_bodies;    /* their contents, each line ending in \n */
        size_t n_bodies;
        char *heredoc_raw;        /* the lines that followed, terminators too, each
                                   * after a \n: args[0] + this is the shell's text */
};

struct bf_file {
        struct bf_instr *v;
        size_t n;
        char escape;              /* '\\' or '`' (the escape directive) */
};

/* bf_parse() - parse @text (@len bytes) (invariant 1).  Comments, line
 * continuations with the escape character, the escape and syntax
 * directives (syntax is accepted and ignored), JSON and shell forms, and
 * leading --flags of every instruction, the heredocs of RUN, COPY and ADD
 * (<<EOF, <<-EOF, quoted names; their lines follow the instruction; for
 * COPY and ADD a name may be a file name, <<robots.txt). */
int bf_parse(const char *text, size_t len, struct bf_file *out, struct err *e);
void bf_file_free(struct bf_file *f);

/* bf_kind_name() - "RUN" for BF_RUN. */
const char *bf_kind_name(enum bf_kind k);

/* The value of a variable, or NULL when it is unset. */
typedef const char *(*bf_lookup_fn)(void *ctx, const char *name);

/* bf_words() - docker's shell lexer over @in: quotes ('...' literal,
 * "..." with expansion), the escape character, $V, ${V}, ${V:-w}, ${V-w},
 * ${V:+w}, ${V+w}, ${V:?msg}, ${V?msg} (invariant 3).  @lookup NULL: no
 * expansion ($ is literal).  @split: words separated by unquoted blanks
 * (an empty "" is a word), else the whole input is one word.  *@words is
 * NULL-terminated; caller frees with bf_strv_free(). */
int bf_words(const char *in, char esc, bf_lookup_fn lookup, void *ctx, bool split, char ***words, size_t *n,
             struct err *e);

/* bf_pairs() - ENV/LABEL/ARG arguments as KEY[=VALUE] words, quotes kept
 * (split on unquoted blanks only), for bf_words() on each value.  The old
 * "KEY value with blanks" form (first word without '=', @old_form) gives
 * one word "KEY=value with blanks". */
int bf_pairs(const char *in, char esc, bool old_form, char ***words, size_t *n, struct err *e);

/* bf_heredoc_expand() - the body of an unquoted COPY/ADD heredoc as a
 * shell expands a here-document: $V and ${V...} (as bf_words()), \$, \\
 * and \` escaped, a backslash-newline removed; quotes are literal.
 * *@out: caller frees. */
int bf_heredoc_expand(const char *body, bf_lookup_fn lookup, void *ctx, char **out, struct err *e);

void bf_strv_free(char **v);

/* bf_flag() - the value of --NAME=VALUE among @in's flags (the last one),
 * or NULL. */
const char *bf_flag(const struct bf_instr *in, const char *name);

/* .dockerignore patterns, in order. */
struct bf_ignore {
        char **pats;              /* cleaned, no leading '/' */
        bool *neg;                /* a '!' exception */
        size_t n;
};

/* bf_ignore_parse() - the lines of a .dockerignore: blanks trimmed, empty
 * and '#' lines skipped, '!' exceptions, each pattern cleaned. */
int bf_ignore_parse(const char *text, size_t len, struct bf_ignore *out, struct err *e);
void bf_ignore_free(struct bf_ignore *ig);

/* bf_ignore_match() - is the context-relative @path excluded: the last
 * pattern that matches it or one of its parent directories decides ('*'
 * and '?' within a name, '**' across directories); @ig NULL: never. */
bool bf_ignore_match(const struct bf_ignore *ig, const char *path);

/* bf_cache_key() - invariant 4: sha256 over the three parts (@content may
 * be NULL), as a digest string. */
void bf_cache_key(const char *parent, const char *created_by, const char *content, char out[DIGEST_STR_LEN + 1]);

#endif
