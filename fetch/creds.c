/* Where credentials come from (fetch.h "credentials"): strata's own auth
 * file, Docker's credential helpers, Docker's "auths"; `strata login`'s
 * check against a registry and its writes to the auth file. */
#include "fetch-internal.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define HUB_KEY "https://index.docker.io/v1/"
#define HELPER_TIMEOUT_MS 30000

extern char **environ;

char *fetch_auth_file_default(void)
{
        const char *v = getenv("STRATA_AUTH_FILE");
        if (v && *v)
                return xstrdup(v);
        v = getenv("XDG_CONFIG_HOME");
        if (v && *v)
                return xasprintf("%s/strata/auth.json", v);
        v = getenv("HOME");
        return v && *v ? xasprintf("%s/.config/strata/auth.json", v) : NULL;
}

char *fetch_docker_config_default(void)
{
        const char *dc = getenv("DOCKER_CONFIG");
        if (dc && *dc)
                return xasprintf("%s/config.json", dc);
        const char *home = getenv("HOME");
        return home && *home ? xasprintf("%s/.docker/config.json", home) : NULL;
}

static bool is_hub(const char *h)
{
        return !strcmp(h, "docker.io") || !strcmp(h, "index.docker.io") ||
               !strcmp(h, "registry-1.docker.io");
}

/* The key docker writes for @registry: the Hub's v1 URL, else HOST[:PORT]. */
static const char *store_key(const char *registry)
{
        return is_hub(registry) ? HUB_KEY : registry;
}

/* Read a JSON file; 0 and *@text set, -ENOENT when missing. */
static int read_small(const char *path, struct buf *b, struct err *e)
{
        *b = (struct buf)BUF_INIT(FETCH_SMALL_MAX);
        int r = read_file_bounded(path, FETCH_SMALL_MAX, b, e);
        if (r < 0)
                buf_free(b);
        return r == -ENOENT ? -ENOENT : r < 0 ? r : 0;
}

/* ------------------------------------------------------------- helpers */

/* The path of docker-credential-@name on PATH, or NULL. */
static char *helper_path(const char *name)
{
        const char *path = getenv("PATH");
        if (!path || !*name || strchr(name, '/'))
                return NULL;
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *p = xasprintf("%s/docker-credential-%s", *d ? d : ".", name);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* Run `docker-credential-NAME get` with @server on stdin; its answer is
 * {"ServerURL":..,"Username":..,"Secret":..}.  -ENOENT when it knows
 * nothing for @server (docker's "credentials not found" convention). */
static int helper_get(const char *prog, const char *name, const char *server, char **user, char **pass,
                      struct err *e)
{
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) < 0)
                return err_set(e, errno, "credential helper %s: pipe", name);
        if (pipe2(out, O_CLOEXEC) < 0) {
                close(in[0]), close(in[1]);
                return err_set(e, errno, "credential helper %s: pipe", name);
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        char *argv[] = { (char *)prog, "get", NULL };
        pid_t pid;
        int r = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        if (r != 0) {
                close(in[1]), close(out[0]);
                return err_set(e, r, "run %s", prog);
        }
        /* the server name is short: one write fits the pipe */
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        (void)!write_all(in[1], server, strlen(server));
        close(in[1]);
        struct buf b = BUF_INIT(FETCH_SMALL_MAX);
        char chunk[4096];
        bool too_big = false, timed_out = false;
        for (;;) {
                struct pollfd p = { .fd = out[0], .events = POLLIN };
                int pr = poll(&p, 1, HELPER_TIMEOUT_MS);
                if (pr == 0) {
                        timed_out = true;
                        kill(pid, SIGKILL);
                        break;
                }
                if (pr < 0 && errno == EINTR)
                        continue;
                ssize_t n = read(out[0], chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (buf_append(&b, chunk, (size_t)n) < 0) {
                        too_big = true;
                        kill(pid, SIGKILL);
                        break;
                }
        }
        close(out[0]);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        signal(SIGPIPE, old);
        if (timed_out || too_big) {
                buf_free(&b);
                return err_setx(e, EIO, "credential helper %s: %s", name,
                                timed_out ? "no answer in 30 s" : "answer too large");
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                bool not_found = b.data && strstr(b.data, "credentials not found");
                buf_free(&b);
                if (not_found)
                        return -ENOENT;
                return err_setx(e, EIO, "credential helper %s failed for %s (exit status %d)", name, server,
                                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        buf_free(&b);
        const char *u = json_string_value(json_object_get(j, "Username"));
        const char *s = json_string_value(json_object_get(j, "Secret"));
        if (!u || !s) {
                json_decref(j);
                return err_setx(e, EPROTO, "credential helper %s: answer is not {\"Username\", \"Secret\"}", name);
        }
        if (!strcmp(u, "<token>") || !*s) {
                json_decref(j);   /* an identity token is for docker's own login flow */
                return -ENOENT;
        }
        *user = xstrdup(u);
        *pass = xstrdup(s);
        json_decref(j);
        return 0;
}

/* The helper docker's config names for @host (credHelpers, else credsStore),
 * or NULL. */
static const char *helper_for(json_t *root, const char *host)
{
        json_t *ch = json_object_get(root, "credHelpers");
        if (json_is_object(ch)) {
                const char *k;
                json_t *v;
                json_object_foreach(ch, k, v) {
                        const char *p = strstr(k, "://");
                        p = p ? p + 3 : k;
                        size_t n = strcspn(p, "/");
                        bool match = is_hub(host) ? (n == 15 && !strncmp(p, "index.docker.io", 15)) ||
                                                            (n == 9 && !strncmp(p, "docker.io", 9))
                                                  : strlen(host) == n && !strncmp(p, host, n);
                        if (match && json_is_string(v))
                                return json_string_value(v);
                }
        }
        const char *cs = json_string_value(json_object_get(root, "credsStore"));
        return cs && *cs ? cs : NULL;
}

/* --------------------------------------------------------------- lookup */

int auth_load_credentials(const struct fetch_opts *o, const char *host, char **user,
                          char **pass, struct err *e)
{
        *user = *pass = NULL;
        /* 1. strata's own file */
        _cleanup_free_ char *af = o->auth_file ? xstrdup(o->auth_file) : fetch_auth_file_default();
        struct buf b;
        int r;
        if (af && (r = read_small(af, &b, e)) != -ENOENT) {
                if (r < 0)
                        return err_wrap(e, "credentials");
                r = dockerconfig_lookup(b.data, b.len, host, user, pass, e);
                buf_free(&b);
                if (r != -ENOENT)
                        return r < 0 ? err_wrap(e, "%s", af) : r;
        }
        /* 2. docker's config: helpers, then auths */
        _cleanup_free_ char *dc = o->docker_config ? xstrdup(o->docker_config) : fetch_docker_config_default();
        if (!dc || (r = read_small(dc, &b, e)) == -ENOENT)
                return -ENOENT;
        if (r < 0)
                return err_wrap(e, "credentials");
        json_t *root = json_loadb(b.data, b.len, 0, NULL);
        const char *helper = root ? helper_for(root, host) : NULL;
        _cleanup_free_ char *prog = helper ? helper_path(helper) : NULL;
        if (prog) {
                r = helper_get(prog, helper, is_hub(host) ? HUB_KEY : host, user, pass, e);
                if (r != -ENOENT) {
                        json_decref(root);
                        buf_free(&b);
                        return r;
                }
        }
        json_decref(root);
        r = dockerconfig_lookup(b.data, b.len, host, user, pass, e);
        buf_free(&b);
        if (r < 0 && r != -ENOENT)
                return err_wrap(e, "%s", dc);
        return r;
}

char *fetch_credentials_describe(const struct fetch_opts *o, const char *host)
{
        char *user = NULL, *pass = NULL;
        struct err e = { 0 };
        _cleanup_free_ char *af = o->auth_file ? xstrdup(o->auth_file) : fetch_auth_file_default();
        struct buf b;
        char *out = NULL;
        if (af && read_small(af, &b, &e) == 0) {
                int r = dockerconfig_lookup(b.data, b.len, host, &user, &pass, &e);
                buf_free(&b);
                if (r == 0)
                        out = xasprintf("basic (user %s) from %s", user, af);
                else if (r != -ENOENT)
                        out = xasprintf("none: %s is malformed", af);
        }
        _cleanup_free_ char *dc = o->docker_config ? xstrdup(o->docker_config) : fetch_docker_config_default();
        if (!out && dc && read_small(dc, &b, &e) == 0) {
                json_t *root = json_loadb(b.data, b.len, 0, NULL);
                const char *helper = root ? helper_for(root, host) : NULL;
                _cleanup_free_ char *prog = helper ? helper_path(helper) : NULL;
                free(user), user = NULL;
                free(pass), pass = NULL;
                int r = dockerconfig_lookup(b.data, b.len, host, &user, &pass, &e);
                if (prog)
                        out = xasprintf("helper %s (%s)%s%s", helper, prog, r == 0 ? ", else basic from " : "",
                                        r == 0 ? dc : "");
                else if (r == 0)
                        out = xasprintf("basic (user %s) from %s", user, dc);
                else if (r != -ENOENT)
                        out = xasprintf("none: %s is malformed", dc);
                json_decref(root);
                buf_free(&b);
        }
        free(user);
        free(pass);
        return out ? out : xstrdup("none (anonymous)");
}

/* ---------------------------------------------------------------- login */

const struct fetch_tls *realm_tls(const struct www_auth *w, const char *url, const struct fetch_tls *tls)
{
        if (!w->realm)
                return NULL;
        CURLU *a = curl_url(), *b = curl_url();
        char *ha = NULL, *hb = NULL;
        bool same = a && b && !curl_url_set(a, CURLUPART_URL, w->realm, 0) && !curl_url_set(b, CURLUPART_URL, url, 0) &&
                    !curl_url_get(a, CURLUPART_HOST, &ha, 0) && !curl_url_get(b, CURLUPART_HOST, &hb, 0) &&
                    !strcasecmp(ha, hb);
        curl_free(ha);
        curl_free(hb);
        curl_url_cleanup(a);
        curl_url_cleanup(b);
        return same ? tls : NULL;
}

int fetch_login(const struct fetch_source *src, const char *user, const char *pass,
                const struct fetch_opts *o, struct err *e)
{
        struct fetch_tls tls;
        int r = tls_load(src->certs_dirs, src->n_certs_dirs, &tls, e);
        if (r < 0)
                return r;
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        _cleanup_free_ char *url = xasprintf("%s/v2/", src->url);
        _cleanup_free_ char *basic = auth_basic_header(user, pass);
        struct http_req rq = { .url = url, .connect_timeout_s = o->connect_timeout_s,
                               .stall_timeout_s = o->stall_timeout_s, .user_agent = o->user_agent,
                               .tls = &tls };
        struct http_resp rs;
        struct www_auth w = { 0 };
        r = http_do(c, &rq, &rs, e);
        if (r < 0)
                goto out;
        if (rs.status == 200)
                goto out;    /* no auth required: docker calls that a success too */
        if (rs.status != 401 || !rs.www_authenticate) {
                r = err_setx(e, EPROTO, "GET %s: HTTP %ld", url, rs.status);
                goto out;
        }
        r = wwwauth_parse(rs.www_authenticate, &w, e);
        if (r < 0)
                goto out;
        if (!strcmp(w.scheme, "basic")) {
                http_resp_free(&rs);
                rq.authorization = basic;
                r = http_do(c, &rq, &rs, e);
                if (r >= 0 && rs.status == 401)
                        r = err_setx(e, EACCES, "unauthorized: incorrect username or password");
                else if (r >= 0 && rs.status != 200)
                        r = err_setx(e, EPROTO, "GET %s: HTTP %ld", url, rs.status);
        } else if (!strcmp(w.scheme, "bearer")) {
                char *token = NULL;
                uint64_t exp;
                r = auth_fetch_token(c, &w, NULL, user, pass, o, realm_tls(&w, src->url, &tls), &token, &exp, e);
                free(token);
                if (r == -EACCES) {
                        err_clear(e);
                        r = err_setx(e, EACCES, "unauthorized: incorrect username or password");
                }
        } else {
                r = err_setx(e, ENOTSUP, "unsupported auth scheme \"%s\"", w.scheme);
        }
out:
        wwwauth_free(&w);
        http_resp_free(&rs);
        tls_free(&tls);
        return r;
}

/* ------------------------------------------------------------ auth file */

static int authfile_load(const char *path, json_t **root, struct err *e)
{
        struct buf b;
        int r = read_small(path, &b, e);
        if (r == -ENOENT) {
                *root = json_object();
                return 0;
        }
        if (r < 0)
                return r;
        json_error_t je;
        *root = json_loadb(b.data, b.len, 0, &je);
        buf_free(&b);
        if (!*root || !json_is_object(*root)) {
                json_decref(*root);
                return err_setx(e, EINVAL, "%s: line %d: %s", path, je.line,
                                *root ? "not a JSON object" : je.text);
        }
        json_t *auths = json_object_get(*root, "auths");
        if (auths && !json_is_object(auths)) {
                json_decref(*root);
                return err_setx(e, EINVAL, "%s: \"auths\" is not an object", path);
        }
        return 0;
}

static int authfile_save(const char *path, json_t *root, struct err *e)
{
        _cleanup_free_ char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                int r = mkdir_p(dir, 0700, e);
                if (r < 0)
                        return r;
        }
        _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
        _cleanup_free_ char *withnl = xasprintf("%s\n", text);
        return write_file_atomic(path, withnl, strlen(withnl), 0600, e);
}

/* Drop every key of "auths" that names @registry ("HOST", "https://HOST"...). */
static bool drop_keys(json_t *auths, const char *registry)
{
        bool dropped = false;
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(auths, tmp, k, v) {
                const char *p = strstr(k, "://");
                p = p ? p + 3 : k;
                _cleanup_free_ char *h = xstrndup(p, strcspn(p, "/"));
                if (is_hub(registry) ? is_hub(h) : !strcmp(h, registry)) {
                        json_object_del(auths, k);
                        dropped = true;
                }
        }
        return dropped;
}

int fetch_authfile_store(const char *path, const char *registry, const char *user,
                         const char *pass, struct err *e)
{
        json_t *root;
        int r = authfile_load(path, &root, e);
        if (r < 0)
                return r;
        json_t *auths = json_object_get(root, "auths");
        if (!auths) {
                auths = json_object();
                json_object_set_new(root, "auths", auths);
        }
        drop_keys(auths, registry);
        _cleanup_free_ char *basic = auth_basic_header(user, pass);   /* "Basic <b64>" */
        json_object_set_new(auths, store_key(registry), json_pack("{s:s}", "auth", basic + 6));
        r = authfile_save(path, root, e);
        json_decref(root);
        return r;
}

int fetch_authfile_remove(const char *path, const char *registry, struct err *e)
{
        json_t *root;
        int r = authfile_load(path, &root, e);
        if (r < 0)
                return r;
        json_t *auths = json_object_get(root, "auths");
        if (!auths || !drop_keys(auths, registry)) {
                json_decref(root);
                return -ENOENT;
        }
        r = authfile_save(path, root, e);
        json_decref(root);
        return r;
}
