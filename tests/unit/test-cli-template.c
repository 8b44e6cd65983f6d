/* Unit tests for cli/template.c (docker's Go-template subset) and the
 * --format layer of cli/format.c (table headers, tabwriter alignment).
 * Expected outputs are what docker / Go's text/template print. */
#include "cli/format.h"
#include "cli/template.h"
#include "tests/unit/tap.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *DATA =
        "{\"Repository\":\"busybox\",\"Tag\":\"latest\",\"ID\":\"6fd955f66c23\",\"Size\":\"4.26MB\","
        "\"N\":3,\"F\":2.5,\"T\":true,\"Off\":false,\"Null\":null,\"Empty\":\"\",\"List\":[\"a\",\"b\",\"c\"],"
        "\"Labels\":{\"org.x\":\"1\",\"a\":\"z\"},\"Config\":{\"Env\":[\"A=1\",\"B=2\"],\"User\":\"\"},"
        "\"Items\":[{\"Name\":\"x\",\"V\":1},{\"Name\":\"y\",\"V\":2}]}";

static void run(const char *text, enum tmpl_mode mode, const char *want_out, const char *want_err)
{
        json_t *d = json_loads(DATA, 0, NULL);
        struct tmpl *t = NULL;
        struct err e = { 0 };
        struct buf out = BUF_INIT(TMPL_MAX_OUTPUT);
        int r = tmpl_parse(text, &t, &e);
        if (r >= 0)
                r = tmpl_exec(t, d, mode, &out, &e);
        if (want_err) {
                ok(r < 0, "%.200s: fails", text);
                ok(r < 0 && strstr(e.msg, want_err) && !strchr(e.msg, '\n'), "%.200s: error names it (%s)", text, e.msg);
        } else {
                _cleanup_free_ char *name = xasprintf("%.200s %s", text, r < 0 ? e.msg : "");
                is_str(r < 0 ? NULL : out.data, want_out, name);
        }
        buf_free(&out);
        tmpl_free(t);
        json_decref(d);
}

#define T(text, want) run(text, TMPL_STRICT, want, NULL)
#define TL(text, want) run(text, TMPL_LENIENT, want, NULL)
#define TH(text, want) run(text, TMPL_HEADER, want, NULL)
#define TE(text, err) run(text, TMPL_STRICT, NULL, err)

static void table(const char *format, const char *want)
{
        json_t *d = json_loads(DATA, 0, NULL);
        json_t *h = json_pack("{s:s, s:s, s:s}", "Repository", "REPOSITORY", "Tag", "TAG", "ID", "IMAGE ID");
        char *got = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&got, &len);
        struct fmt_out o;
        struct err e = { 0 };
        int r = fmt_open(&o, format, "{{.Repository}}\\t{{.Tag}}\\t{{.ID}}", h, true, f, &e);
        if (r >= 0)
                r = fmt_item(&o, json_incref(d), &e);
        if (r >= 0)
                r = fmt_item(&o, json_incref(d), &e);
        r = fmt_close(&o, r, &e);   /* always: it frees */
        fclose(f);
        is_str(r < 0 ? e.msg : got, want, format);
        free(got);
        json_decref(h);
        json_decref(d);
}

int main(void)
{
        /* fields, values as Go prints them */
        T("{{.Repository}}:{{.Tag}}", "busybox:latest");
        T("{{.}}", "map[Config:map[Env:[A=1 B=2] User:] Empty: F:2.5 ID:6fd955f66c23 Items:[map[Name:x V:1] map[Name:y V:2]] "
           "Labels:map[a:z org.x:1] List:[a b c] N:3 Null:<nil> Off:false Repository:busybox Size:4.26MB T:true Tag:latest]");
        T("{{.N}} {{.F}} {{.T}} {{.Off}} {{.Null}} {{.List}}", "3 2.5 true false <nil> [a b c]");
        T("{{.Config.Env}}", "[A=1 B=2]");
        T("{{.Config.Nope}}", "<no value>");
        TL("{{.Nope}}", "<no value>");
        T("text only", "text only");
        T("", "");
        /* json */
        T("{{json .Labels}}", "{\"org.x\":\"1\",\"a\":\"z\"}");
        T("{{json .List}}", "[\"a\",\"b\",\"c\"]");
        T("{{json .Repository}}", "\"busybox\"");
        T("{{json .Null}}", "null");
        T("{{json .Config}}", "{\"Env\":[\"A=1\",\"B=2\"],\"User\":\"\"}");
        /* index */
        T("{{index .Labels \"org.x\"}}", "1");
        T("{{index .Labels \"missing\"}}", "");
        TL("{{index .Labels \"missing\"}}", "<no value>");
        T("{{index .List 1}}", "b");
        T("{{index .Items 1 \"Name\"}}", "y");
        T("{{(index .Items 0).Name}}", "x");
        TE("{{index .List 7}}", "index out of range: 7");
        TE("{{index .Repository 0}}", "can't index item of type string");
        /* pipes and functions */
        T("{{.Repository | upper}}", "BUSYBOX");
        T("{{upper .Repository | lower}}", "busybox");
        T("{{title \"hello big-world\"}}", "Hello Big-World");
        T("{{join .List \", \"}}", "a, b, c");
        T("{{split \"a:b:c\" \":\"}}", "[a b c]");
        T("{{len .List}} {{len .Labels}} {{len .Repository}}", "3 2 7");
        T("{{pad .Tag 1 2}}|", " latest  |");
        T("{{truncate .Repository 4}}", "busy");
        T("{{truncate .Repository 40}}", "busybox");
        T("{{printf \"%-9s|%5d|%.1f|%q|%v\" .Tag .N .F .Repository .T}}", "latest   |    3|2.5|\"busybox\"|true");
        T("{{printf \"%s %s\" .Tag}}", "latest %!s(MISSING)");
        T("{{println .Tag .N}}", "latest 3\n");
        T("{{print .N .N \"x\" .N}}", "3 3x3");
        T("{{eq .Tag \"latest\"}} {{eq .N 1 2 3}} {{ne .N 3}} {{lt .N 4}} {{ge .F 2.5}} {{gt \"b\" \"a\"}}",
          "true true false true true true");
        T("{{not .Empty}} {{and .T .N}} {{or .Empty .Off .Tag}} {{and .T .Empty .N}}", "true 3 latest ");
        TE("{{lt .N \"x\"}}", "incompatible types for comparison");
        /* if / else if / else, with */
        T("{{if .T}}yes{{else}}no{{end}}", "yes");
        T("{{if .Empty}}yes{{else}}no{{end}}", "no");
        T("{{if .Null}}y{{else if .Off}}o{{else if .N}}n{{else}}e{{end}}", "n");
        T("{{if .List}}L{{end}}{{if .Null}}N{{end}}{{if .Config.User}}U{{end}}", "L");
        T("{{if eq .Tag \"latest\"}}newest{{end}}", "newest");
        T("{{with .Config}}{{.Env}}{{end}}", "[A=1 B=2]");
        T("{{with .Empty}}x{{else}}none{{end}}", "none");
        /* range, variables */
        T("{{range .List}}<{{.}}>{{end}}", "<a><b><c>");
        T("{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}", "0=a 1=b 2=c ");
        T("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "a=z;org.x=1;");
        T("{{range .Items}}{{.Name}}{{$.Tag}} {{end}}", "xlatest ylatest ");
        T("{{range .Null}}x{{else}}empty{{end}}", "empty");
        T("{{$t := .Tag}}{{range .List}}{{$t}}{{end}}", "latestlatestlatest");
        T("{{range $e := .Items}}{{if eq $e.V 2}}{{$e.Name}}{{end}}{{end}}", "y");
        TE("{{range .Repository}}x{{end}}", "range can't iterate over string");
        /* trim markers, comments, quoting */
        T("a  {{- .Tag -}}  b", "alatestb");
        T("a {{/* a comment */}}b", "a b");
        T("a {{- /* trimmed */ -}} b", "ab");
        T("{{`raw \\n`}}{{\"q\\t\\\"\"}}", "raw \\nq\t\"");
        T("{{\"}}\"}}", "}}");
        /* errors: one line naming the field / the column */
        TE("{{.Nope}}", "can't evaluate field Nope (the fields are: Config, Empty, F, ID,");
        TE("{{.Repository.X}}", "can't evaluate field X in type string");
        TE("{{.Tag", "column 1: unclosed action");
        TE("{{if .T}}x", "{{if}} without {{end}}");
        TE("{{end}}", "unexpected {{end}}");
        TE("{{else}}", "unexpected {{else}}");
        TE("{{if .T}}a{{else}}b{{else}}c{{end}}", "{{else}} after {{else}}");
        TE("{{nosuch .Tag}}", "function \"nosuch\" not defined");
        TE("{{$x}}", "undefined variable \"$x\"");
        TE("{{range .List}}{{$e := .}}{{end}}{{$e}}", "undefined variable \"$e\"");
        TE("{{.Tag .ID}}", "can't give argument to non-function");
        TE("{{.Tag | .ID}}", "can't give argument to non-function");
        TE("{{json}}", "wrong number of args for json");
        TE("{{\"abc}}", "unterminated quoted string");
        TE("{{(.Tag}}", "unclosed left paren");
        TE("{{ # }}", "unexpected character '#'");
        TE("{{/* open", "unclosed comment");
        TE("{{}}", "missing value for command");
        TE("{{printf \"%5000s\" .Tag}}", "width or precision above");
        /* ceilings (invariants 1, 2) */
        {
                struct buf b = BUF_INIT(1u << 20);
                for (int i = 0; i < 70; i++)
                        buf_append(&b, "{{if .T}}", 9);
                for (int i = 0; i < 70; i++)
                        buf_append(&b, "{{end}}", 7);
                TE(b.data, "nested more than 64 deep");
                buf_free(&b);
                char *big = xcalloc(TMPL_MAX_LEN + 2, 1);
                memset(big, 'a', TMPL_MAX_LEN + 1);
                TE(big, "longer than");
                free(big);
                TE("{{range .List}}{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}"
                   "{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}"
                   "{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}{{end}}{{end}}{{end}}{{end}}"
                   "{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}", "more than 2000000 steps");
                /* 3^12 * 9 bytes > 1 MiB: the caller's ceiling holds */
                json_t *d = json_loads(DATA, 0, NULL);
                struct tmpl *t = NULL;
                struct err e = { 0 };
                struct buf out = BUF_INIT(1u << 20);
                tmpl_parse("{{range .List}}{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}"
                           "{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}{{range $.List}}"
                           "{{range $.List}}{{range $.List}}123456789{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}"
                           "{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}", &t, &e);
                int r = tmpl_exec(t, d, TMPL_STRICT, &out, &e);
                ok(r == -EFBIG && out.len <= out.max, "output ceiling: %s", e.msg);
                buf_free(&out);
                tmpl_free(t);
                json_decref(d);
        }
        /* header mode: docker's table headers */
        TH("{{.Repository}}\t{{.Tag}}", "busybox\tlatest");
        {
                json_t *h = json_pack("{s:s, s:s}", "Repository", "REPOSITORY", "ID", "IMAGE ID");
                struct tmpl *t = NULL;
                struct err e = { 0 };
                struct buf out = BUF_INIT(4096);
                tmpl_parse("{{.Repository}}|{{.ID}}|{{.CreatedSince}}|{{json .Repository}}|{{lower .ID}}|"
                           "{{index .Labels \"k\"}}|{{.Config.Env}}", &t, &e);
                tmpl_exec(t, h, TMPL_HEADER, &out, &e);
                is_str(out.data, "REPOSITORY|IMAGE ID|CREATEDSINCE|REPOSITORY|IMAGE ID|LABELS|CONFIG", "header mode");
                buf_free(&out);
                tmpl_free(t);
                json_decref(h);
        }
        /* --format: json, table, table TEMPLATE, \t and \n typed as two characters */
        table("{{.Repository}}", "busybox\nbusybox\n");
        table("table", "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    6fd955f66c23\nbusybox      latest    6fd955f66c23\n");
        table("table {{.Tag}}\\t{{.ID}}", "TAG       IMAGE ID\nlatest    6fd955f66c23\nlatest    6fd955f66c23\n");
        table("{{.Tag}}\\n{{.ID}}", "latest\n6fd955f66c23\nlatest\n6fd955f66c23\n");
        table("  {{.Tag}}  ", "latest\nlatest\n");
        table("{{.Nope}}", "--format: template: can't evaluate field Nope (the fields are: Config, Empty, F, ID, Items, Labels, List, N, Null, Off, Repository, Size, T, Tag)");
        {
                char *got = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&got, &len);
                tabwrite("a\tbbbbbbbbbbbbbbb\tc\nlonger cell\td\n\nx\ty\n", 10, 3, f);
                fclose(f);
                is_str(got, "a             bbbbbbbbbbbbbbb   c\nlonger cell   d\n\nx         y\n",
                       "tabwrite: column blocks end at a line without that cell");
                free(got);
        }
        return tap_done();
}
