/* cli/runspec.c — see runspec.h. */
#include "runspec.h"

#include <jansson.h>
#include <string.h>

#define RUNSPEC_MAX (4u << 20)

static json_t *strings(char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; v && (n == SIZE_MAX ? v[i] != NULL : i < n); i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

int runspec_save(const char *path, const struct sandbox_opts *so, bool kernel, struct err *e)
{
        json_t *binds = json_array(), *tmpfs = json_array();
        for (size_t i = 0; i < so->n_binds; i++)
                json_array_append_new(binds, json_pack("{s:s, s:s, s:b}", "source", so->binds[i].source, "target",
                                                       so->binds[i].target, "readonly", so->binds[i].readonly));
        for (size_t i = 0; i < so->n_tmpfs; i++)
                json_array_append_new(tmpfs, json_pack("{s:s, s:I, s:s?}", "target", so->tmpfs[i].target, "flags",
                                                       (json_int_t)so->tmpfs[i].flags, "data", so->tmpfs[i].data));
        json_t *j = json_pack("{s:o, s:o, s:s?, s:s?, s:o, s:s?, s:b, s:b, s:b, s:o, s:o, s:b, s:I, s:b, s:b, s:b}",
                              "argv", strings(so->argv, SIZE_MAX), "env", strings(so->env, SIZE_MAX), "workdir",
                              so->workdir, "user", so->user, "group_add", strings(so->group_add, so->n_group_add),
                              "hostname", so->hostname, "tty", so->tty, "interactive", so->interactive, "read_only",
                              so->read_only, "binds", binds, "tmpfs", tmpfs, "custom_caps", so->custom_caps, "caps",
                              (json_int_t)so->caps, "privileged", so->privileged, "new_net", so->new_net, "kernel",
                              kernel);
        char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
        json_decref(j);
        if (!text)
                return err_setx(e, ENOMEM, "encode %s", path);
        int r = write_file_atomic(path, text, strlen(text), 0600, e);
        free(text);
        return r;
}

/* a NULL-terminated vector of the strings of @a (pointing into it) */
static const char **vec(json_t *a, size_t *n)
{
        size_t k = json_array_size(a);
        const char **v = xcalloc(k + 1, sizeof *v);
        for (size_t i = 0; i < k; i++)
                v[i] = json_string_value(json_array_get(a, i)) ? json_string_value(json_array_get(a, i)) : "";
        if (n)
                *n = k;
        return v;
}

int runspec_load(const char *path, struct runspec *rs, struct err *e)
{
        memset(rs, 0, sizeof *rs);
        int r = json_read_file(path, RUNSPEC_MAX, &rs->json, e);
        if (r < 0)
                return r;
        json_t *j = rs->json;
        struct sandbox_opts *so = &rs->so;
        rs->argv = vec(json_object_get(j, "argv"), NULL);
        rs->env = vec(json_object_get(j, "env"), NULL);
        rs->group_add = vec(json_object_get(j, "group_add"), &so->n_group_add);
        if (!rs->argv[0])
                return err_setx(e, EBADMSG, "%s: no command", path);
        so->argv = (char *const *)rs->argv;
        so->env = (char *const *)rs->env;
        so->group_add = (char *const *)rs->group_add;
        so->workdir = json_string_value(json_object_get(j, "workdir"));
        so->user = json_string_value(json_object_get(j, "user"));
        so->hostname = json_string_value(json_object_get(j, "hostname"));
        so->tty = json_is_true(json_object_get(j, "tty"));
        so->interactive = json_is_true(json_object_get(j, "interactive"));
        so->read_only = json_is_true(json_object_get(j, "read_only"));
        so->custom_caps = json_is_true(json_object_get(j, "custom_caps"));
        so->caps = (uint64_t)json_integer_value(json_object_get(j, "caps"));
        so->privileged = json_is_true(json_object_get(j, "privileged"));
        so->new_net = json_is_true(json_object_get(j, "new_net"));
        rs->kernel = json_is_true(json_object_get(j, "kernel"));
        json_t *b = json_object_get(j, "binds"), *t = json_object_get(j, "tmpfs");
        so->n_binds = json_array_size(b);
        rs->binds = xcalloc(so->n_binds + 1, sizeof *rs->binds);
        for (size_t i = 0; i < so->n_binds; i++) {
                json_t *it = json_array_get(b, i);
                rs->binds[i].source = json_string_value(json_object_get(it, "source"));
                rs->binds[i].target = json_string_value(json_object_get(it, "target"));
                rs->binds[i].readonly = json_is_true(json_object_get(it, "readonly"));
                if (!rs->binds[i].source || !rs->binds[i].target)
                        return err_setx(e, EBADMSG, "%s: a bind without its paths", path);
        }
        so->n_tmpfs = json_array_size(t);
        rs->tmpfs = xcalloc(so->n_tmpfs + 1, sizeof *rs->tmpfs);
        for (size_t i = 0; i < so->n_tmpfs; i++) {
                json_t *it = json_array_get(t, i);
                rs->tmpfs[i].target = json_string_value(json_object_get(it, "target"));
                rs->tmpfs[i].flags = (unsigned long)json_integer_value(json_object_get(it, "flags"));
                rs->tmpfs[i].data = json_string_value(json_object_get(it, "data"));
                if (!rs->tmpfs[i].target)
                        return err_setx(e, EBADMSG, "%s: a tmpfs without its path", path);
        }
        so->binds = rs->binds;
        so->tmpfs = rs->tmpfs;
        return 0;
}

void runspec_free(struct runspec *rs)
{
        free(rs->argv);
        free(rs->env);
        free(rs->group_add);
        free(rs->binds);
        free(rs->tmpfs);
        json_decref(rs->json);
        memset(rs, 0, sizeof *rs);
}
