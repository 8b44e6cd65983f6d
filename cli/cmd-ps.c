/* strata ps [-a] [-q] [--no-trunc] [-f K=V] [--format T] — kept runs (and
 * mounts) as docker's containers: the mount records of the store, a run's
 * with its command, name and exit status. */
#include "cli.h"
#include "config.h"
#include "container.h"
#include "format.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define COMMAND_WIDTH 20   /* docker's */

/* "About a minute", "5 seconds": docker's HumanDuration (human_ago without " ago") */
static void duration(time_t since, time_t now, char *out, size_t n)
{
        human_ago(since, now, out, n);
        size_t l = strlen(out);
        if (l > 4 && !strcmp(out + l - 4, " ago"))
                out[l - 4] = '\0';
}

/* the image's first tag, familiar ("busybox:latest"), else its short ID */
static char *image_name(struct store *s, const char *id)
{
        struct store_image im = { 0 };
        struct err e = { 0 };
        if (!id)
                return xstrdup("");
        if (store_find_image(s, id, &im, &e) == 0) {
                for (size_t i = 0; i < im.n_names; i++) {
                        if (strchr(im.names[i], '@'))
                                continue;
                        char *repo, *tag, *digest;
                        split_store_name(im.names[i], &repo, &tag, &digest);
                        char *n = xasprintf("%s:%s", repo, tag);
                        free(repo), free(tag), free(digest);
                        store_image_free(&im);
                        return n;
                }
                store_image_free(&im);
        }
        return xasprintf("%.12s", id + (strncmp(id, "sha256:", 7) ? 0 : 7));
}

static json_t *ps_item(struct store *s, const struct store_mount *m, bool no_trunc, time_t now)
{
        enum container_state st = container_state(m);
        char ago[64], status[96], created[64], up[64];
        human_ago(m->created, now, ago, sizeof ago);
        struct tm tm;
        localtime_r(&m->created, &tm);
        strftime(created, sizeof created, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
        if (st == CT_RUNNING) {
                duration(m->started ? m->started : m->created, now, up, sizeof up);
                snprintf(status, sizeof status, "Up %s", up);
        } else if (st == CT_EXITED) {
                human_ago(m->finished, now, up, sizeof up);
                snprintf(status, sizeof status, "Exited (%d) %s", m->exit_code, up);
        } else {
                snprintf(status, sizeof status, "Dead");
        }
        _cleanup_free_ char *quoted = NULL;
        if (m->command) {
                json_t *q = json_string(m->command);
                quoted = json_dumps(q, JSON_ENCODE_ANY);   /* docker: strconv.Quote */
                json_decref(q);
        }
        _cleanup_free_ char *cmd = !quoted ? xstrdup("") : no_trunc ? xstrdup(quoted) : truncate_ellipsis(quoted, COMMAND_WIDTH);
        _cleanup_free_ char *image = image_name(s, m->image);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Command", cmd, "CreatedAt", created, "ID", m->id,
                         "Image", image, "Mounts", m->mountpoint, "Names", m->name ? m->name : "", "RunningFor",
                         m->created ? ago : "", "State", container_state_name(st), "Status", status);
}

struct ps_filters {
        struct strv status, name, id, ancestor;
        int exited;     /* -1 any */
};

static int parse_ps_filter(const char *f, struct ps_filters *fl, struct err *e)
{
        const char *eq = strchr(f, '=');
        if (!eq)
                return err_setx(e, EINVAL, "bad format of filter '%s' (expected name=value)", f);
        size_t k = (size_t)(eq - f);
        const char *v = eq + 1;
        if (k == 6 && !strncmp(f, "status", k)) {
                if (strcmp(v, "running") && strcmp(v, "exited") && strcmp(v, "dead"))
                        return err_setx(e, EINVAL, "invalid filter 'status=%s' (running, exited, dead)", v);
                strv_push(&fl->status, v);
        } else if (k == 4 && !strncmp(f, "name", k)) {
                strv_push(&fl->name, v);
        } else if (k == 2 && !strncmp(f, "id", k)) {
                strv_push(&fl->id, v);
        } else if (k == 8 && !strncmp(f, "ancestor", k)) {
                strv_push(&fl->ancestor, v);
        } else if (k == 6 && !strncmp(f, "exited", k)) {
                char *end;
                long n = strtol(v, &end, 10);
                if (!*v || *end)
                        return err_setx(e, EINVAL, "invalid filter 'exited=%s' (an exit code)", v);
                fl->exited = (int)n;
        } else {
                return err_setx(e, EINVAL, "invalid filter '%.*s' (status, name, id, exited, ancestor)", (int)k, f);
        }
        return 0;
}

static bool any_match(const struct strv *v, const char *s, bool prefix)
{
        if (!v->n)
                return true;
        for (size_t i = 0; i < v->n; i++)
                if (s && (prefix ? !strncmp(s, v->v[i], strlen(v->v[i])) : strstr(s, v->v[i]) != NULL))
                        return true;
        return false;
}

/* ancestor=IMAGE: the image (a name, an ID or ID prefix) the record was made from */
static bool ancestor_match(struct store *s, const struct strv *anc, const char *image)
{
        if (!anc->n)
                return true;
        for (size_t i = 0; image && i < anc->n; i++) {
                struct store_image im = { 0 };
                struct err ignore = { 0 };
                bool hit = lookup_image(s, anc->v[i], &im, NULL, &ignore) == 0 && !strcmp(im.id, image);
                store_image_free(&im);
                if (hit)
                        return true;
        }
        return false;
}

static bool keep(struct store *s, const struct store_mount *m, const struct ps_filters *fl, bool all)
{
        enum container_state st = container_state(m);
        if (fl->status.n) {
                if (!strv_has(&fl->status, container_state_name(st)))
                        return false;
        } else if (!all && st != CT_RUNNING && fl->exited < 0) {
                return false;   /* docker ps: running ones unless -a (or a filter on the state) */
        }
        if (fl->exited >= 0 && (st != CT_EXITED || m->exit_code != fl->exited))
                return false;
        return any_match(&fl->name, m->name, false) && any_match(&fl->id, m->id, true) &&
               ancestor_match(s, &fl->ancestor, m->image);
}

int cmd_ps(int argc, char **argv)
{
        static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { "quiet", no_argument, NULL, 'q' },
                                              { "no-trunc", no_argument, NULL, 'n' },
                                              { "filter", required_argument, NULL, 'f' },
                                              { "format", required_argument, NULL, 'F' }, { 0 } };
        bool all = false, quiet = false, no_trunc = false;
        const char *format = NULL;
        struct ps_filters fl = { .exited = -1 };
        struct err e = { 0 };
        int c, r = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "aqf:", opts, NULL)) != -1) {
                switch (c) {
                case 'a': all = true; break;
                case 'q': quiet = true; break;
                case 'n': no_trunc = true; break;
                case 'F': format = optarg; break;
                case 'f': r = parse_ps_filter(optarg, &fl, &e); break;
                default: return bad_option("ps", argv);
                }
        }
        if (r >= 0 && optind < argc)
                return usage_error("ps", "takes no arguments");
        json_t *header = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Command", "COMMAND", "CreatedAt",
                                   "CREATED AT", "ID", "CONTAINER ID", "Image", "IMAGE", "Mounts", "MOUNTS", "Names",
                                   "NAMES", "RunningFor", "CREATED", "State", "STATE", "Status", "STATUS");
        struct fmt_out out = { 0 };
        struct store *s = NULL;
        struct store_mount *ms = NULL;
        size_t n = 0;
        if (r >= 0 && !quiet)
                r = fmt_open(&out, format ? format : "table",
                             "{{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Names}}", header,
                             true, stdout, &e);
        if (r >= 0)
                r = open_store(&s, &e);
        if (r >= 0)
                r = store_list_mounts(s, &ms, &n, &e);
        time_t now = time(NULL);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (!keep(s, &ms[i], &fl, all))
                        continue;
                if (quiet)
                        printf("%s\n", ms[i].id);
                else
                        r = fmt_item(&out, ps_item(s, &ms[i], no_trunc, now), &e);
        }
        r = fmt_close(&out, r, &e);
        for (size_t i = 0; i < n; i++)
                store_mount_free(&ms[i]);
        free(ms);
        store_close(s);
        json_decref(header);
        strv_free(&fl.status), strv_free(&fl.name), strv_free(&fl.id), strv_free(&fl.ancestor);
        if (r < 0) {
                err_wrap(&e, "ps");
                return report_err(&e);
        }
        return 0;
}
