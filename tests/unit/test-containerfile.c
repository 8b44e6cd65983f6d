/* containerfile/: the Containerfile parser (comments, continuations, the escape
 * directive, flags, JSON and shell forms, line numbers, refusals), docker's
 * word expansion and the cache key. */
#include "containerfile/containerfile.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <string.h>

static struct bf_file parse_ok(const char *text, const char *name)
{
        struct bf_file f;
        struct err e = { 0 };
        int r = bf_parse(text, strlen(text), &f, &e);
        ok(r == 0, "%s: parses (%s)", name, e.msg);
        if (r < 0)
                memset(&f, 0, sizeof f);
        return f;
}

static void parse_bad(const char *text, const char *want)
{
        struct bf_file f;
        struct err e = { 0 };
        int r = bf_parse(text, strlen(text), &f, &e);
        ok(r < 0, "refused: %s", want);
        is_str(e.msg, want, want);
}

static void test_parse(void)
{
        struct bf_file f = parse_ok("# syntax=docker/dockerfile:1\n"
                                    "\n"
                                    "# a comment\n"
                                    "from busybox AS b\n"
                                    "RUN echo a \\\n"
                                    "  # a comment inside\n"
                                    "\n"
                                    "  && echo b\n"
                                    "   COPY --chown=1:2 --link a b /c/\n"
                                    "CMD [\"sh\", \"-c\", \"x\"]\n"
                                    "CMD [not json\n"
                                    "ENV A=1 B=\"x y\"\r\n"
                                    "RUN echo \\",
                                    "basic");
        is_int((long long)f.n, 7, "seven instructions");
        if (f.n == 7) {
                is_int(f.v[0].kind, BF_FROM, "from, any case");
                is_int(f.v[0].line, 4, "FROM on line 4");
                is_str(f.v[0].args[0], "busybox AS b", "FROM's arguments");
                is_int(f.v[1].line, 5, "RUN on line 5");
                is_str(f.v[1].args[0], "echo a   && echo b", "continuation joined, comment and blank dropped");
                is_int(f.v[2].line, 9, "COPY on line 9");
                is_int((long long)f.v[2].n_flags, 2, "two flags");
                is_str(f.v[2].flags[0], "--chown=1:2", "--chown");
                is_str(bf_flag(&f.v[2], "chown"), "1:2", "bf_flag chown");
                is_str(bf_flag(&f.v[2], "link"), "", "bf_flag link (no value)");
                ok(bf_flag(&f.v[2], "from") == NULL, "no --from");
                is_str(f.v[2].args[0], "a b /c/", "COPY arguments");
                ok(f.v[3].json && f.v[3].n_args == 3, "exec form");
                is_str(f.v[3].args[2], "x", "exec form element");
                ok(!f.v[4].json, "a broken array is the shell form");
                is_str(f.v[4].args[0], "[not json", "shell form text");
                is_str(f.v[5].args[0], "A=1 B=\"x y\"", "CRLF stripped");
                is_str(f.v[6].args[0], "echo", "a continuation at the end of the file");
        }
        ok(f.escape == '\\', "default escape");
        bf_file_free(&f);

        f = parse_ok("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n", "escape directive");
        ok(f.escape == '`', "escape is `");
        if (f.n == 2)
                is_str(f.v[1].args[0], "dir c:\\   && echo", "backslash literal, backtick continues");
        bf_file_free(&f);

        f = parse_ok("FROM x\n# escape=`\nRUN a \\\n b\n", "a directive after an instruction is a comment");
        if (f.n == 2)
                is_str(f.v[1].args[0], "a  b", "still the backslash");
        bf_file_free(&f);

        parse_bad("FROM x\nFROB y\n", "line 2: unknown instruction: FROB");
        parse_bad("FROM x\n\nRUN\n", "line 3: RUN requires at least one argument");
        f = parse_ok("FROM x\nCOPY <<robots.txt <<-'h.txt' /x/\nUser-agent: *\nrobots.txt\n\t$A\n\th.txt\nADD <<\"E\" /e\n$A\nE\n",
                     "COPY and ADD heredocs");
        if (f.n == 3) {
                is_int((long long)f.v[1].n_heredocs, 2, "two COPY heredocs");
                is_str(f.v[1].heredoc_names[0], "robots.txt", "a file name for a heredoc name");
                is_int(f.v[1].heredoc_quoted[0], 0, "unquoted");
                is_str(f.v[1].heredoc_names[1], "-h.txt", "<<- and quoted");
                is_int(f.v[1].heredoc_quoted[1], 1, "quoted");
                is_str(f.v[1].heredoc_bodies[0], "User-agent: *\n", "first body");
                is_str(f.v[1].heredoc_bodies[1], "$A\n", "second body, tab stripped");
                is_int(f.v[2].heredoc_quoted[0], 1, "double quotes");
                is_str(f.v[2].heredoc_bodies[0], "$A\n", "ADD's body");
        }
        bf_file_free(&f);
        parse_bad("FROM x\nCOPY <<EOF /x\necho\n", "line 2: the heredoc <<EOF has no line EOF ending it");
        parse_bad("FROM x\nRUN <<EOF\necho\nEOD\n", "line 2: the heredoc <<EOF has no line EOF ending it");
        f = parse_ok("FROM x\nRUN <<EOF\necho a\n# not a comment\n\nEOF\nRUN cat <<-\"A\" >f && cat <<B\n\tx\n\tA\ny $V\nB\nCMD x <<y\n",
                     "heredocs");
        is_int((long long)f.n, 4, "four instructions");
        if (f.n == 4) {
                is_int((long long)f.v[1].n_heredocs, 1, "one heredoc");
                is_str(f.v[1].heredoc_bodies[0], "echo a\n# not a comment\n\n", "body: comments and blanks kept");
                is_str(f.v[1].heredoc_raw, "\necho a\n# not a comment\n\nEOF", "raw lines");
                is_int((long long)f.v[2].n_heredocs, 2, "two heredocs");
                is_int(f.v[2].line, 7, "line of the second RUN");
                is_str(f.v[2].heredoc_names[0], "-A", "<<- and a quoted name");
                is_str(f.v[2].heredoc_bodies[0], "x\n", "tabs stripped for <<-");
                is_str(f.v[2].heredoc_bodies[1], "y $V\n", "second body");
                is_int(f.v[3].line, 12, "CMD after the bodies");
                is_int((long long)f.v[3].n_heredocs, 0, "CMD has no heredocs");
        }
        bf_file_free(&f);
        parse_bad("# escape=x\nFROM x\n", "line 1: invalid escape token 'x' does not match ` or \\");
        parse_bad("# escape=`\n# escape=\\\nFROM x\n", "line 2: only one escape directive may be used");
        parse_bad("ONBUILD FROM x\n", "line 1: ONBUILD FROM is not allowed");
        parse_bad("# only a comment\n\n", "the file has no instructions");
        {
                struct bf_file g;
                struct err e = { 0 };
                ok(bf_parse("FROM x\0", 7, &g, &e) < 0, "a NUL byte is refused");
        }
        is_str(bf_kind_name(BF_HEALTHCHECK), "HEALTHCHECK", "kind name");
}

static const char *vars(void *ctx, const char *name)
{
        (void)ctx;
        if (!strcmp(name, "A"))
                return "a";
        if (!strcmp(name, "SP"))
                return "x y";
        if (!strcmp(name, "EMPTY"))
                return "";
        return NULL;
}

static void words(const char *in, bool split, const char *want)
{
        char **w;
        size_t n;
        struct err e = { 0 };
        int r = bf_words(in, '\\', vars, NULL, split, &w, &n, &e);
        if (r < 0) {
                is_str(e.msg, want, in);
                return;
        }
        struct buf b = BUF_INIT(1u << 20);
        for (size_t i = 0; i < n; i++)
                buf_printf(&b, "%s[%s]", i ? " " : "", w[i]);
        buf_append(&b, "", 0);
        is_str(b.data, want, in);
        buf_free(&b);
        bf_strv_free(w);
}

static void test_words(void)
{
        words("$A ${A} x$A-y", true, "[a] [a] [xa-y]");
        words("${UNSET} ${UNSET:-def} ${EMPTY:-def} ${EMPTY-def} ${A:+alt} ${UNSET:+alt}", true,
              "[] [def] [def] [] [alt] []");
        words("'$A' \"$A\" \\$A", true, "[$A] [a] [$A]");
        words("\"a b\" c\\ d '' e", true, "[a b] [c d] [] [e]");
        words("$SP", true, "[x y]");   /* a value is not split again (docker's ProcessWords keeps it) */
        words("  one   two  ", false, "[  one   two  ]");
        words("${A:-${UNSET:-deep}} ${UNSET:-${A}}", true, "[a] [a]");
        words("$ $1 ${A}b", true, "[$] [] [ab]");   /* $1: a positional parameter, unset */
        words("\"unterminated", true, "unexpected end of statement while looking for matching \"");
        words("${A", true, "bad substitution: missing '}' after ${A");
        words("${}", true, "bad substitution: missing a variable name after ${");
        words("${A/x/y}", true, "bad substitution: unsupported modifier in ${A/...}");
        words("${UNSET:?must be set}", true, "UNSET: must be set");
        words("\"\\\"q\\\" \\n\"", true, "[\"q\" \\n]");

        /* no lookup: $ is literal, quotes still processed */
        char **w;
        size_t n;
        struct err e = { 0 };
        ok(bf_words("\"$A\" b", '\\', NULL, NULL, true, &w, &n, &e) == 0 && n == 2 && !strcmp(w[0], "$A"),
           "no expansion without a lookup");
        bf_strv_free(w);

        ok(bf_pairs("A=1 B=\"x y\" C='z w'", '\\', true, &w, &n, &e) == 0 && n == 3, "three pairs");
        if (n == 3)
                is_str(w[1], "B=\"x y\"", "quotes kept for the value's expansion");
        bf_strv_free(w);
        ok(bf_pairs("KEY the rest  of it", '\\', true, &w, &n, &e) == 0 && n == 1, "old form");
        if (n == 1)
                is_str(w[0], "KEY=the rest  of it", "old form: one pair");
        bf_strv_free(w);
        ok(bf_pairs("A=\"open", '\\', true, &w, &n, &e) < 0, "unterminated quote refused");

        /* a COPY heredoc's body: variables, the shell's three escapes, quotes literal */
        char *h = NULL;
        ok(bf_heredoc_expand("'$A' \"${A}\" \\$A \\\\ \\n ${UNSET:-d}\\\nx $\n", vars, NULL, &h, &e) == 0, "heredoc expansion");
        is_str(h, "'a' \"a\" $A \\ \\n dx $\n", "heredoc expanded");
        free(h);
        h = NULL;
        ok(bf_heredoc_expand("${A", vars, NULL, &h, &e) < 0 && !h, "a bad substitution refused");
        is_str(e.msg, "bad substitution: missing '}' after ${A", "its message");
}

static void test_cache_key(void)
{
        char a[DIGEST_STR_LEN + 1], b[DIGEST_STR_LEN + 1], c[DIGEST_STR_LEN + 1];
        bf_cache_key("sha256:1", "RUN x", NULL, a);
        bf_cache_key("sha256:1", "RUN x", NULL, b);
        is_str(a, b, "same parts, same key");
        bf_cache_key("sha256:2", "RUN x", NULL, c);
        ok(strcmp(a, c), "another parent, another key");
        bf_cache_key("sha256:1", "RUN x", "sha256:f", c);
        ok(strcmp(a, c), "content counts");
        bf_cache_key("sha256:1R", "UN x", NULL, c);
        ok(strcmp(a, c), "parts do not run into each other");
        ok(digest_valid(a), "a digest");
}

static void test_ignore(void)
{
        struct bf_ignore ig;
        struct err e = { 0 };
        const char *text = "# comment\n"
                           "  *.log  \n"
                           "/secret\n"
                           "build/**/*.o\n"
                           "docs\n"
                           "!docs/keep.md\n"
                           "./tmp/../cache\n"
                           "**/.git\n"
                           "\n";
        ok(bf_ignore_parse(text, strlen(text), &ig, &e) == 0, "parses");
        is_int((long long)ig.n, 7, "seven patterns");
        if (ig.n == 7) {
                is_str(ig.pats[1], "secret", "leading / dropped");
                is_str(ig.pats[6], "**/.git", "kept");
                is_str(ig.pats[5], "cache", "cleaned");
                ok(ig.neg[4] && !ig.neg[3], "exception marked");
        }
        static const struct { const char *path; bool want; } cases[] = {
                { "a.log", true }, { "sub/a.log", false }, { "a.txt", false },
                { "secret", true }, { "secret/inner", true }, { "sub/secret", false },
                { "build/x.o", true }, { "build/a/b/x.o", true }, { "build/x.c", false },
                { "docs", true }, { "docs/a.md", true }, { "docs/keep.md", false },
                { "cache/x", true }, { "tmp", false },
                { ".git/config", true }, { "a/b/.git", true }, { ".", false }, { "./a.log", true },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                ok(bf_ignore_match(&ig, cases[i].path) == cases[i].want, "%s %s", cases[i].path,
                   cases[i].want ? "excluded" : "kept");
        ok(!bf_ignore_match(NULL, "a.log"), "no file: nothing excluded");
        bf_ignore_free(&ig);
}

int main(void)
{
        test_parse();
        test_words();
        test_cache_key();
        test_ignore();
        return tap_done();
}
