/* cli/template — docker's Go-template subset for --format, over JSON data.
 *
 * The language (text/template as docker uses it):
 *   {{.Field}} {{.A.B}} {{.}} {{$}} {{$var.Field}}       fields of dot, of a variable
 *   {{json .}} {{json .Field}} {{index .Labels "k"}}     functions, arguments by space
 *   {{.Name | lower}} {{(index .Tags 0).Name}}           pipes (the value is the last argument), parentheses
 *   {{if P}}..{{else if P}}..{{else}}..{{end}}           truth as Go's: false, 0, "", empty, nil, missing
 *   {{range P}}..{{else}}..{{end}}  {{range $k, $v := P}} over arrays and objects (keys sorted)
 *   {{with P}}..{{else}}..{{end}}  {{$x := P}}           dot set to P; variables, scoped to the block
 *   comments: "{{/" "* ... *" "/}}";  {{- trims the space before,  -}} the space after
 * Functions: json index len join split lower upper title pad truncate print
 * println printf eq ne lt le gt ge not and or.
 * Values print as Go prints them: strings raw, numbers, true/false, arrays
 * "[a b]", objects "map[k:v]" (keys sorted), JSON null "<nil>", a missing
 * key "<no value>".
 *
 * TEMPLATE INVARIANTS
 * (1) A template is at most TMPL_MAX_LEN bytes and nests (blocks and
 *     parentheses) at most TMPL_MAX_DEPTH deep: the parser's recursion is
 *     bounded whatever the input.
 * (2) One execution writes at most TMPL_MAX_OUTPUT bytes (-EFBIG past it).
 * (3) Errors are one line: "template: ..." naming the column (parse) or the
 *     field or function (execution).  Nothing is printed: the caller prints.
 * Pure logic: no I/O, no globals. */
#ifndef STRATA_CLI_TEMPLATE_H
#define STRATA_CLI_TEMPLATE_H

#include "util/util.h"

#define TMPL_MAX_LEN (64u << 10)
#define TMPL_MAX_DEPTH 64
#define TMPL_MAX_OUTPUT (16u << 20)

struct tmpl;
typedef struct json_t json_t;

/* tmpl_parse() - parse @text into *@out (tmpl_free() it).  -EINVAL with
 * @e set ("template: column 7: unclosed action") on a syntax error. */
int tmpl_parse(const char *text, struct tmpl **out, struct err *e);
void tmpl_free(struct tmpl *t);

enum tmpl_mode {
        TMPL_LENIENT = 0,   /* a missing key prints "<no value>" (docker inspect's maps) */
        TMPL_STRICT = 1,    /* a key missing from the item itself is an error naming the field
                             * and the fields there are (docker's typed contexts) */
        TMPL_HEADER = 2,    /* render a table header: @data maps Field -> "HEADER";
                             * a field not there gives its name in capitals; functions
                             * pass their first argument through, as docker's HeaderFunctions */
};

/* tmpl_exec() - run @t with dot = @data (borrowed), appending to @out (a
 * struct buf whose max the caller chose; TMPL_MAX_OUTPUT is a sane one).
 * Returns 0, or -errno with @e set: -EINVAL for an execution error,
 * -EFBIG past the buffer's ceiling. */
int tmpl_exec(const struct tmpl *t, json_t *data, enum tmpl_mode mode, struct buf *out, struct err *e);

/* tmpl_print_value() - append @v as {{.}} prints it (NULL: "<no value>"). */
int tmpl_print_value(json_t *v, struct buf *out);

#endif
