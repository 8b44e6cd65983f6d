/* The registry client: one repository over an ordered list of sources
 * (mirrors, then the upstream).  Per source: a /v2/ ping once, the auth
 * challenge it gave, a bearer token shared by every thread of the pull and
 * renewed on 401 or expiry, credentials looked up for the source's own host
 * (fetch.h invariant 3: the upstream's never reach a mirror).  A failing
 * mirror is marked dead and skipped with one notice (invariant 4); the notice
 * is held until a later source answers, so that a pull where every source
 * fails says so in one line naming each. */
#include "fetch-internal.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_MIRROR_CONNECT_S 3
#define DEFAULT_MIRROR_STALL_S 5
#define DEFAULT_MIRROR_MIN_SPEED 10240

#define BLOB_MAX_RESUMES 32

enum auth_kind { AUTH_UNKNOWN, AUTH_NONE, AUTH_BEARER, AUTH_BASIC };

struct src_state {
        struct fetch_source s;
        struct fetch_tls tls;
        bool dead;
        bool notice_pending;       /* dead, its notice not yet given */
        char why[320];             /* why it failed, short */
        enum auth_kind kind;       /* after the ping */
        struct www_auth ch;        /* the challenge, for bearer */
        char *token;
        uint64_t token_exp;
        bool creds_loaded;
        char *user, *pass;
};

struct registry {
        pthread_mutex_t lock;      /* guards every src_state field */
        char *repo;                /* "library/ubuntu" */
        char *scope;               /* "repository:library/ubuntu:pull" */
        struct src_state *src;
        size_t n_src;
        struct fetch_opts o;
        const char *resolved_by;   /* url of the source of the last manifest */
        bool slow_told;            /* the upstream's slowness was told (once a pull) */
};

void fetch_sources_free(struct fetch_source *s, size_t n)
{
        for (size_t i = 0; s && i < n; i++) {
                free(s[i].url);
                free(s[i].host);
                for (size_t k = 0; k < s[i].n_certs_dirs; k++)
                        free(s[i].certs_dirs[k]);
                free(s[i].certs_dirs);
        }
        free(s);
}

static void source_copy(struct fetch_source *d, const struct fetch_source *s)
{
        *d = *s;
        d->url = xstrdup(s->url);
        d->host = xstrdup(s->host);
        d->certs_dirs = s->n_certs_dirs ? xcalloc(s->n_certs_dirs, sizeof *d->certs_dirs) : NULL;
        for (size_t k = 0; k < s->n_certs_dirs; k++)
                d->certs_dirs[k] = xstrdup(s->certs_dirs[k]);
}

static char *url_host(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        return xstrndup(p, strcspn(p, "/"));
}

/* @host ("1.2.3.4:5000", "[::1]:5000", "name") inside @cidr ("10.0.0.0/8",
 * "fd00::/8")?  dockerd accepts such insecure-registries entries. */
static bool in_cidr(const char *cidr, const char *host)
{
        const char *slash = strchr(cidr, '/');
        if (!slash)
                return false;
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        _cleanup_free_ char *net = xstrndup(cidr, (size_t)(slash - cidr));
        _cleanup_free_ char *addr = NULL;
        if (host[0] == '[')
                addr = xstrndup(host + 1, strcspn(host + 1, "]"));
        else
                addr = xstrndup(host, strchr(host, ':') == strrchr(host, ':') ? strcspn(host, ":") : strlen(host));
        unsigned char a[16], b[16];
        int fam = strchr(net, ':') ? AF_INET6 : AF_INET;
        int len = fam == AF_INET6 ? 16 : 4;
        if (*end || bits < 0 || bits > len * 8 || inet_pton(fam, net, a) != 1 || inet_pton(fam, addr, b) != 1)
                return false;
        for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
                unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
                if ((a[i] & mask) != (b[i] & mask))
                        return false;
        }
        return true;
}

static bool listed(char **list, size_t n, const char *host)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(list[i], host) || in_cidr(list[i], host))
                        return true;
        return false;
}

static bool dir_exists(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fill @src's url, host, certs dirs from @url (no trailing slash kept). */
static int add_source(struct fetch_source *src, const char *url, bool mirror,
                      const struct fetch_config *cfg, struct err *e)
{
        if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
                return err_setx(e, EINVAL, "mirror \"%s\" is not an http:// or https:// URL", url);
        size_t len = strlen(url);
        while (len && url[len - 1] == '/')
                len--;
        src->url = xstrndup(url, len);
        src->host = url_host(src->url);
        src->mirror = mirror;
        if (mirror && cfg) {
                src->connect_timeout_s = cfg->mirror_connect_timeout_s > 0 ? cfg->mirror_connect_timeout_s
                                                                            : DEFAULT_MIRROR_CONNECT_S;
                src->stall_timeout_s = cfg->mirror_stall_timeout_s > 0 ? cfg->mirror_stall_timeout_s
                                                                        : DEFAULT_MIRROR_STALL_S;
        }
        if (cfg && cfg->mirror_min_speed >= 0) {
                src->min_speed = cfg->mirror_min_speed ? cfg->mirror_min_speed : DEFAULT_MIRROR_MIN_SPEED;
                src->min_speed_time_s = cfg->mirror_stall_timeout_s > 0 ? cfg->mirror_stall_timeout_s
                                                                         : DEFAULT_MIRROR_STALL_S;
        }
        for (size_t i = 0; cfg && i < cfg->n_certs_dirs && !strncmp(src->url, "https://", 8); i++) {
                _cleanup_free_ char *d = xasprintf("%s/%s", cfg->certs_dirs[i], src->host);
                if (!dir_exists(d))
                        continue;
                src->certs_dirs = xrealloc(src->certs_dirs, (src->n_certs_dirs + 1) * sizeof *src->certs_dirs);
                src->certs_dirs[src->n_certs_dirs++] = TAKE_PTR(d);
        }
        return 0;
}

static const struct fetch_registry_conf *registry_conf(const struct fetch_config *cfg, const char *host)
{
        for (size_t i = 0; cfg && i < cfg->n_registries; i++)
                if (!strcmp(cfg->registries[i].host, host))
                        return &cfg->registries[i];
        return NULL;
}

int fetch_sources_for(const struct image_ref *ref, const struct fetch_config *cfg,
                      struct fetch_source **out, size_t *n, struct err *e)
{
        bool hub = !strcmp(ref->registry, "docker.io");
        const struct fetch_registry_conf *rc = registry_conf(cfg, ref->registry);
        /* the mirror URLs, in order, without repeats */
        size_t nm = (cfg && hub ? cfg->n_mirrors : 0) + (rc ? rc->n_mirrors : 0);
        const char **urls = xcalloc(nm + 1, sizeof *urls);
        size_t k = 0;
        for (size_t pass = 0; pass < 2; pass++) {
                char **list = pass == 0 ? (cfg && hub ? cfg->mirrors : NULL) : (rc ? rc->mirrors : NULL);
                size_t cnt = pass == 0 ? (cfg && hub ? cfg->n_mirrors : 0) : (rc ? rc->n_mirrors : 0);
                for (size_t i = 0; i < cnt; i++) {
                        bool dup = false;
                        for (size_t j = 0; j < k && !dup; j++)
                                dup = !strcmp(urls[j], list[i]);
                        if (!dup)
                                urls[k++] = list[i];
                }
        }
        struct fetch_source *s = xcalloc(k + 1, sizeof *s);
        int r = 0;
        for (size_t i = 0; i < k && r >= 0; i++)
                r = add_source(&s[i], urls[i], true, cfg, e);
        free(urls);
        if (r < 0) {
                fetch_sources_free(s, k + 1);
                return r;
        }
        const char *host = ref_api_host(ref);
        /* loopback speaks plain HTTP, unless certs.d holds a directory for it:
         * TLS material made for a host says it speaks TLS */
        bool has_certs = false;
        for (size_t i = 0; cfg && i < cfg->n_certs_dirs && !has_certs; i++) {
                _cleanup_free_ char *d = xasprintf("%s/%s", cfg->certs_dirs[i], ref->registry);
                has_certs = dir_exists(d);
        }
        bool plain = (ref_is_loopback_host(host) && !has_certs) || (rc && rc->insecure) ||
                     (cfg && listed(cfg->insecure, cfg->n_insecure, ref->registry));
        _cleanup_free_ char *up = xasprintf("%s://%s", plain ? "http" : "https", host);
        add_source(&s[k], up, false, cfg, e);
        /* credentials and certs.d are keyed by the name users write, not the API host */
        free(s[k].host);
        s[k].host = xstrdup(ref->registry);
        if (hub && s[k].n_certs_dirs == 0) {
                for (size_t i = 0; cfg && i < cfg->n_certs_dirs; i++) {
                        _cleanup_free_ char *d = xasprintf("%s/%s", cfg->certs_dirs[i], "docker.io");
                        if (!dir_exists(d))
                                continue;
                        s[k].certs_dirs = xrealloc(s[k].certs_dirs, (s[k].n_certs_dirs + 1) * sizeof *s[k].certs_dirs);
                        s[k].certs_dirs[s[k].n_certs_dirs++] = TAKE_PTR(d);
                }
        }
        *out = s;
        *n = k + 1;
        return 0;
}

int registry_open(const struct image_ref *ref, const struct fetch_source *srcs, size_t n,
                  const struct fetch_opts *o, struct registry **out, struct err *e)
{
        if (!n)
                return err_setx(e, EINVAL, "no source to pull %s from", ref->repo);
        fetch_global_init();
        struct registry *r = xcalloc(1, sizeof *r);
        pthread_mutex_init(&r->lock, NULL);
        r->repo = xstrdup(ref->repo);
        r->scope = xasprintf("repository:%s:pull", ref->repo);
        r->o = *o;
        r->src = xcalloc(n, sizeof *r->src);
        r->n_src = n;
        for (size_t i = 0; i < n; i++) {
                source_copy(&r->src[i].s, &srcs[i]);
                int rr = tls_load(srcs[i].certs_dirs, srcs[i].n_certs_dirs, &r->src[i].tls, e);
                if (rr < 0) {
                        r->n_src = i + 1;
                        registry_close(r);
                        return err_wrap(e, "certificates for %s", srcs[i].host);
                }
        }
        *out = r;
        return 0;
}

void registry_close(struct registry *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_src; i++) {
                struct src_state *s = &r->src[i];
                free(s->s.url);
                free(s->s.host);
                for (size_t k = 0; k < s->s.n_certs_dirs; k++)
                        free(s->s.certs_dirs[k]);
                free(s->s.certs_dirs);
                tls_free(&s->tls);
                wwwauth_free(&s->ch);
                free(s->token);
                free(s->user);
                free(s->pass);
        }
        free(r->src);
        free(r->repo);
        free(r->scope);
        pthread_mutex_destroy(&r->lock);
        free(r);
}

static void notice(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct registry *r, const char *fmt, ...)
{
        if (!r->o.notice)
                return;
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        r->o.notice(r->o.notice_ctx, line);
}

bool fetch_registry_error(const char *body, size_t len, char *out, size_t outlen)
{
        if (!body || !len)
                return false;
        json_t *j = json_loadb(body, len, 0, NULL);
        json_t *errs = j ? json_object_get(j, "errors") : NULL;
        json_t *first = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
        json_t *msg = first ? json_object_get(first, "message") : NULL;
        json_t *code = first ? json_object_get(first, "code") : NULL;
        bool ok = false;
        const char *m = json_is_string(msg) && json_string_length(msg) ? json_string_value(msg)
                      : json_is_string(code) ? json_string_value(code) : NULL;
        if (m) {
                size_t k = 0;
                for (; m[k] && k + 1 < outlen && k < 200; k++) {
                        char ch = m[k];
                        out[k] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
                }
                out[k] = '\0';
                ok = true;
        }
        json_decref(j);
        return ok;
}

/* The message for an unexpected status (http_status_error()). */
static int status_error(const struct http_resp *rs, struct err *e)
{
        return http_status_error(rs, false, e);
}

static void backoff(int attempt)
{
        struct timespec ts = { 0, 250000000L };
        for (int i = 0; i < attempt && ts.tv_sec < 4; i++) {
                ts.tv_sec *= 2;
                ts.tv_nsec *= 2;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec += 1;
                        ts.tv_nsec -= 1000000000L;
                }
        }
        nanosleep(&ts, NULL);
}

static int retries_for(const struct registry *r, const struct src_state *s)
{
        if (s->s.mirror)
                return 0;   /* a failing mirror is skipped, not retried */
        if (r->o.retries < 0)
                return 0;
        return r->o.retries ? r->o.retries : 3;
}

static void base_req(const struct registry *r, const struct src_state *s, struct http_req *rq)
{
        rq->connect_timeout_s = s->s.connect_timeout_s > 0 ? s->s.connect_timeout_s : r->o.connect_timeout_s;
        rq->stall_timeout_s = s->s.stall_timeout_s > 0 ? s->s.stall_timeout_s : r->o.stall_timeout_s;
        if (s->s.mirror && s->s.min_speed > 1) {
                /* the lowest-speed rule: slower than min_speed over its time drops the mirror */
                rq->min_speed = s->s.min_speed;
                rq->stall_timeout_s = s->s.min_speed_time_s > 0 ? s->s.min_speed_time_s : rq->stall_timeout_s;
        }
        rq->user_agent = r->o.user_agent;
        rq->tls = &s->tls;
        rq->cancel = r->o.cancel;
}

/* Learn how source @s wants to be spoken to: GET /v2/.  Caller holds the lock. */
static int ping_locked(struct registry *r, struct fetch_conn *c, struct src_state *s, struct err *e)
{
        if (s->kind != AUTH_UNKNOWN)
                return 0;
        _cleanup_free_ char *url = xasprintf("%s/v2/", s->s.url);
        int attempts = 1 + retries_for(r, s);
        for (int a = 0;; a++) {
                struct http_req rq = { .url = url };
                base_req(r, s, &rq);
                struct http_resp rs;
                int rr = http_do(c, &rq, &rs, e);
                if (rr < 0 || http_transient(0, rs.status)) {
                        /* a server that let the whole stall timeout pass without a
                         * word is not asked again: that would multiply the wait */
                        bool again = a + 1 < attempts && http_transient(rr, rs.status) && rr != -ETIMEDOUT;
                        if (rr >= 0)
                                status_error(&rs, e);
                        http_resp_free(&rs);
                        if (!again)
                                return rr < 0 ? rr : -e->code;
                        backoff(a);
                        continue;
                }
                int ret = 0;
                if (rs.status == 401 && rs.www_authenticate) {
                        wwwauth_free(&s->ch);
                        ret = wwwauth_parse(rs.www_authenticate, &s->ch, e);
                        if (ret >= 0) {
                                if (!strcmp(s->ch.scheme, "bearer"))
                                        s->kind = AUTH_BEARER;
                                else if (!strcmp(s->ch.scheme, "basic"))
                                        s->kind = AUTH_BASIC;
                                else
                                        ret = err_setx(e, ENOTSUP, "unsupported auth scheme \"%s\"", s->ch.scheme);
                        }
                } else if (rs.status == 401) {
                        ret = err_setx(e, EPROTO, "GET %s: 401 without a WWW-Authenticate challenge", url);
                } else {
                        /* 200, or a 404 from a server that is not quite a registry: try without auth */
                        s->kind = AUTH_NONE;
                }
                http_resp_free(&rs);
                return ret;
        }
}

static int load_creds_locked(struct registry *r, struct src_state *s, struct err *e)
{
        if (s->creds_loaded)
                return 0;
        s->creds_loaded = true;
        /* keyed by this source's own host: the upstream's never go to a mirror */
        int rr = auth_load_credentials(&r->o, s->s.host, &s->user, &s->pass, e);
        if (rr == -ENOENT)
                return 0;
        return rr;
}

/* The Authorization value for source @s, or NULL.  @renew forces a new
 * token (after a 401).  *@hdr is the caller's. */
static int auth_header(struct registry *r, struct fetch_conn *c, struct src_state *s, bool renew,
                       char **hdr, struct err *e)
{
        *hdr = NULL;
        pthread_mutex_lock(&r->lock);
        int rr = ping_locked(r, c, s, e);
        if (rr < 0)
                goto out;
        if (s->kind == AUTH_NONE)
                goto out;
        rr = load_creds_locked(r, s, e);
        if (rr < 0)
                goto out;
        if (s->kind == AUTH_BASIC) {
                if (!s->user) {
                        rr = err_setx(e, EACCES, "%s requires a login (no credentials for it in the docker config)", s->s.host);
                        goto out;
                }
                *hdr = auth_basic_header(s->user, s->pass);
                goto out;
        }
        if (renew || !s->token || now_ns() >= s->token_exp) {
                free(s->token);
                s->token = NULL;
                rr = auth_fetch_token(c, &s->ch, r->scope, s->user, s->pass, &r->o, realm_tls(&s->ch, s->s.url, &s->tls),
                                     &s->token, &s->token_exp, e);
                if (rr < 0)
                        goto out;
        }
        *hdr = xasprintf("Bearer %s", s->token);
out:
        pthread_mutex_unlock(&r->lock);
        return rr;
}

/* One request to source @s with auth, retries and backoff.  The template
 * @tmpl gives everything but the URL and authorization.  *@rs holds the
 * final answer (free it) when 0 is returned; a non-2xx status is returned
 * as 0 with rs->status set, except 401 after a renewed token. */
static int src_request(struct registry *r, struct fetch_conn *c, struct src_state *s, const char *url,
                       struct http_req *tmpl, void (*rewind)(void *ctx, struct http_req *rq),
                       struct http_resp *rs, struct err *e)
{
        memset(rs, 0, sizeof *rs);   /* the caller frees it even when no request went out */
        int attempts = rewind ? 1 : 1 + retries_for(r, s);   /* blobs retry in their own loop */
        bool renewed = false;
        for (int a = 0;;) {
                _cleanup_free_ char *hdr = NULL;
                int rr = auth_header(r, c, s, false, &hdr, e);
                if (rr < 0)
                        return rr;
                if (rewind)
                        rewind(tmpl->sink_ctx, tmpl);
                struct http_req rq = *tmpl;
                rq.url = url;
                rq.authorization = hdr;
                base_req(r, s, &rq);
                rr = http_do(c, &rq, rs, e);
                if (rr >= 0 && rs->status == 401 && !renewed) {
                        /* the token expired or the scope changed: take the new challenge */
                        renewed = true;
                        pthread_mutex_lock(&r->lock);
                        if (rs->www_authenticate) {
                                struct www_auth w;
                                struct err ie = { 0 };
                                if (wwwauth_parse(rs->www_authenticate, &w, &ie) >= 0 && !strcmp(w.scheme, "bearer")) {
                                        wwwauth_free(&s->ch);
                                        s->ch = w;
                                        s->kind = AUTH_BEARER;
                                } else {
                                        wwwauth_free(&w);
                                }
                        }
                        free(s->token);
                        s->token = NULL;
                        bool anon_to_auth = s->kind != AUTH_NONE;
                        pthread_mutex_unlock(&r->lock);
                        http_resp_free(rs);
                        if (anon_to_auth)
                                continue;
                        return err_setx(e, EACCES, "GET %s: unauthorized", url);
                }
                if (rr >= 0 && !http_transient(0, rs->status))
                        return 0;
                bool again = a + 1 < attempts && http_transient(rr, rr < 0 ? 0 : rs->status);
                if (!again) {
                        if (rr >= 0)
                                return 0;
                        http_resp_free(rs);
                        return rr;
                }
                http_resp_free(rs);
                if (r->o.notice && rr < 0)
                        notice(r, "retrying %s: %s", url, e->msg);
                backoff(a);
                a++;
        }
}

/* For requests with a body: no blind retry in src_request() (the caller
 * knows what a failed upload left behind); http_do() rewinds the body. */
static void no_rewind(void *ctx, struct http_req *rq)
{
        (void)ctx;
        (void)rq;
}

/* A short reason for @why, for a notice or the all-failed line: the
 * transport failure without the "GET URL: " prefix, in plain words. */
static void short_reason(const struct src_state *s, const struct err *why, char *out, size_t n)
{
        const char *m = why->msg;
        if (!strncmp(m, "GET ", 4) || !strncmp(m, "HEAD ", 5)) {
                const char *p = strstr(m, ": ");
                if (p)
                        m = p + 2;
        }
        long ct = s->s.connect_timeout_s, st = s->s.stall_timeout_s;
        if (why->code == ECONNREFUSED)
                snprintf(out, n, "connection refused");
        else if (why->code == ETIMEDOUT && !strncmp(m, "slower than ", 12))
                snprintf(out, n, "%.300s", m);
        else if (why->code == ETIMEDOUT && strstr(m, "too slow") && st > 0)
                snprintf(out, n, "stalled: no data for %ld s", st);
        else if (why->code == ETIMEDOUT && strstr(m, "onnect") && ct > 0)
                snprintf(out, n, "no connection within %ld s", ct);
        else if (why->code == ETIMEDOUT)
                snprintf(out, n, "timed out (%.290s)", m);
        else
                snprintf(out, n, "%.300s", m);
}

/* Mark mirror @s dead; its notice waits for flush_notices().  Returns true
 * when there is a next source to try (i.e. @s was a mirror). */
static bool give_up_source(struct registry *r, struct src_state *s, const struct err *why)
{
        pthread_mutex_lock(&r->lock);
        bool first = !s->dead;
        if (first)
                short_reason(s, why, s->why, sizeof s->why);
        if (s->s.mirror) {
                s->dead = true;
                s->notice_pending |= first;
        }
        pthread_mutex_unlock(&r->lock);
        return s->s.mirror;
}

/* A source answered: tell about the mirrors skipped to reach it. */
static void flush_notices(struct registry *r)
{
        for (size_t i = 0; i < r->n_src; i++) {
                struct src_state *s = &r->src[i];
                pthread_mutex_lock(&r->lock);
                bool say = s->notice_pending;
                s->notice_pending = false;
                pthread_mutex_unlock(&r->lock);
                if (say)
                        notice(r, "mirror %s skipped: %s", s->s.url, s->why);
        }
}

/* Every source failed for @what: one message naming each with its reason.
 * With a single source its own error stands as it is. */
static int all_failed(struct registry *r, int code, const char *what, struct err *e)
{
        bool any_mirror = false;
        for (size_t i = 0; i < r->n_src; i++)
                any_mirror |= r->src[i].s.mirror && r->src[i].dead;
        if (!any_mirror)
                return code;
        struct buf b = BUF_INIT(ERR_MSG_MAX - 1);
        buf_printf(&b, "%s: no source could serve it:", what);
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_src; i++) {
                struct src_state *s = &r->src[i];
                if (s->s.mirror && !s->dead)
                        continue;
                if (!s->s.mirror && !s->why[0])
                        short_reason(s, e, s->why, sizeof s->why);
                buf_printf(&b, "%s %s %s (%s)", i ? ";" : "", s->s.mirror ? "mirror" : "registry",
                           s->s.url, s->why[0] ? s->why : "not tried");
                s->notice_pending = false;    /* said here */
        }
        pthread_mutex_unlock(&r->lock);
        err_setx(e, -code, "%s", b.data ? b.data : what);
        buf_free(&b);
        return code;
}

static bool src_dead(struct registry *r, struct src_state *s)
{
        pthread_mutex_lock(&r->lock);
        bool d = s->dead;
        pthread_mutex_unlock(&r->lock);
        return d;
}

const char *registry_manifest_source(struct registry *r)
{
        return r->resolved_by;
}

int registry_get_manifest(struct registry *r, struct fetch_conn *c, const char *reference,
                          struct buf *body, char **content_type,
                          char digest[DIGEST_STR_LEN + 1], struct err *e)
{
        *content_type = NULL;
        if (!body->max || body->max > FETCH_MANIFEST_MAX)
                body->max = FETCH_MANIFEST_MAX;
        bool pinned = !strncmp(reference, "sha256:", 7);
        for (size_t i = 0; i < r->n_src; i++) {
                struct src_state *s = &r->src[i];
                if (src_dead(r, s))
                        continue;
                _cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", s->s.url, r->repo, reference);
                buf_reset(body);
                struct http_req rq = { .accept = FETCH_ACCEPT_MANIFESTS, .body = body };
                struct http_resp rs;
                int rr = src_request(r, c, s, url, &rq, NULL, &rs, e);
                if (rr >= 0 && rs.status != 200) {
                        rr = status_error(&rs, e);
                        if (rs.status == 404 && !fetch_registry_error(rs.err_body.data, rs.err_body.len, (char[8]){0}, 8))
                                rr = err_setx(e, ENOENT, "manifest unknown");
                }
                if (rr >= 0) {
                        sha256_digest(body->data ? body->data : "", body->len, digest);
                        if (pinned && strcmp(digest, reference))
                                rr = err_setx(e, EBADMSG, "manifest %s: the registry sent content with digest %s", reference, digest);
                        else if (!pinned && rs.docker_digest && digest_valid(rs.docker_digest) &&
                                 strcmp(rs.docker_digest, digest))
                                rr = err_setx(e, EBADMSG, "manifest %s: Docker-Content-Digest %s does not match the content (%s)",
                                              reference, rs.docker_digest, digest);
                }
                if (rr >= 0 && s->s.mirror) {
                        /* a mirror's answer must at least be a manifest; the caller parses the upstream's */
                        struct manifest *m = NULL;
                        rr = manifest_parse(body->data ? body->data : "", body->len, rs.content_type, &m, e);
                        manifest_free(m);
                        if (rr < 0)
                                err_wrap(e, "manifest %s", reference);
                }
                if (rr >= 0) {
                        *content_type = rs.content_type ? xstrdup(rs.content_type) : NULL;
                        http_resp_free(&rs);
                        r->resolved_by = s->s.url;
                        flush_notices(r);
                        return 0;
                }
                http_resp_free(&rs);
                if (rr == -EINTR)
                        return rr;      /* the user's doing, not the source's */
                if (!give_up_source(r, s, e)) {
                        _cleanup_free_ char *what = xasprintf("manifest %s", reference);
                        return all_failed(r, rr, what, e);
                }
        }
        _cleanup_free_ char *what = xasprintf("manifest %s", reference);
        return all_failed(r, err_setx(e, EHOSTUNREACH, "no source left to try"), what, e);
}

/* ------------------------------------------------------------------- tags */

/* the reference grammar's tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

int registry_list_tags(struct registry *r, struct fetch_conn *c, char ***tags, size_t *n, struct err *e)
{
        *tags = NULL;
        *n = 0;
        struct src_state *s = NULL;
        for (size_t i = 0; i < r->n_src; i++)
                if (!r->src[i].s.mirror)
                        s = &r->src[i];
        if (!s)
                return err_setx(e, EHOSTUNREACH, "tags: no registry among the sources");
        char *url = xasprintf("%s/v2/%s/tags/list", s->s.url, r->repo);
        struct buf body = BUF_INIT(FETCH_TAGS_BODY_MAX);
        int rr = 0;
        for (int page = 0; url && rr >= 0; page++) {
                if (page == FETCH_TAGS_PAGES) {
                        rr = err_setx(e, EFBIG, "tags: more than %d pages", FETCH_TAGS_PAGES);
                        break;
                }
                buf_reset(&body);
                struct http_req rq = { .accept = "application/json", .body = &body };
                struct http_resp rs;
                rr = src_request(r, c, s, url, &rq, NULL, &rs, e);
                if (rr >= 0 && rs.status != 200)
                        rr = status_error(&rs, e);
                json_t *j = rr >= 0 ? json_loadb(body.data ? body.data : "", body.len, 0, NULL) : NULL;
                json_t *list = json_object_get(j, "tags");
                if (rr >= 0 && !json_is_array(list) && !json_is_null(list))
                        rr = err_setx(e, EPROTO, "GET %s: the answer has no \"tags\" array", url);
                size_t i;
                json_t *x;
                json_array_foreach(list, i, x) {
                        if (rr < 0)
                                break;
                        if (!json_is_string(x) || !tag_valid(json_string_value(x))) {
                                rr = err_setx(e, EPROTO, "GET %s: not a tag: %.64s", url,
                                              json_is_string(x) ? json_string_value(x) : "(not a string)");
                        } else if (*n == FETCH_TAGS_MAX) {
                                rr = err_setx(e, EFBIG, "tags: more than %d", FETCH_TAGS_MAX);
                        } else {
                                *tags = xrealloc(*tags, (*n + 2) * sizeof **tags);
                                (*tags)[(*n)++] = xstrdup(json_string_value(x));
                                (*tags)[*n] = NULL;
                        }
                }
                json_decref(j);
                char *next = rr >= 0 ? link_next(rs.link, s->s.url) : NULL;
                http_resp_free(&rs);
                free(url);
                url = next;
        }
        free(url);
        buf_free(&body);
        if (rr < 0) {
                for (size_t i = 0; i < *n; i++)
                        free((*tags)[i]);
                free(*tags);
                *tags = NULL;
                *n = 0;
        }
        return rr;
}

/* ------------------------------------------------------------------ blobs */

struct blob_xfer {
        fetch_sink_fn sink;
        void *ctx;
        struct sha256 *h;
        uint64_t pos;          /* bytes of the blob held (given to h and sink) */
        uint64_t size;
        uint64_t skip;         /* body bytes to drop: a server that ignored Range */
        uint64_t given;        /* counted for *got */
        const char *digest;
        struct err *e;
        struct registry *r;
        struct src_state *src;  /* the source sending */
        uint64_t win_ns, win_bytes;   /* the upstream's speed window */
};

/* The upstream is never dropped for slowness (it is the last resort), but
 * a pull going at a crawl says why, once: measured over the mirrors'
 * minimum-speed window, on the bytes that arrive. */
static void measure_upstream(struct blob_xfer *b, size_t n)
{
        const struct fetch_source *s = &b->src->s;
        if (s->mirror || s->min_speed <= 0 || s->min_speed_time_s <= 0)
                return;
        uint64_t now = now_ns();
        b->win_bytes += n;
        uint64_t el = now - b->win_ns;
        if (el < (uint64_t)s->min_speed_time_s * 1000000000ull)
                return;
        uint64_t rate = (uint64_t)((double)b->win_bytes * 1e9 / (double)el);
        b->win_ns = now;
        b->win_bytes = 0;
        if (rate >= (uint64_t)s->min_speed)
                return;
        pthread_mutex_lock(&b->r->lock);
        bool say = !b->r->slow_told;
        b->r->slow_told = true;
        pthread_mutex_unlock(&b->r->lock);
        if (say)
                notice(b->r, "registry %s is slow: %llu bytes/s over %ld s, under the %ld a mirror must keep; "
                       "going on (it is the last source)", s->url, (unsigned long long)rate,
                       s->min_speed_time_s, s->min_speed);
}

static int blob_begin(void *ctx, long status, const struct http_resp *rs)
{
        struct blob_xfer *b = ctx;
        b->skip = 0;
        b->win_ns = now_ns();
        b->win_bytes = 0;
        flush_notices(b->r);
        if (status == 200) {
                b->skip = b->pos;      /* the whole blob again: drop what we hold */
                return 0;
        }
        if (status == 206) {
                unsigned long long from = 0;
                if (!rs->content_range || sscanf(rs->content_range, "bytes %llu-", &from) != 1 || from != b->pos)
                        return err_setx(b->e, EPROTO, "blob %s: answer to a Range request starts at the wrong offset", b->digest);
        }
        return 0;
}

static int blob_sink(void *ctx, const void *p, size_t n)
{
        struct blob_xfer *b = ctx;
        const char *q = p;
        if (b->skip) {
                size_t k = n < b->skip ? n : (size_t)b->skip;
                b->skip -= k;
                q += k;
                n -= k;
        }
        if (!n)
                return 0;
        if (n > b->size - b->pos)
                return err_setx(b->e, EBADMSG, "blob %s: more bytes than its size %llu", b->digest,
                                (unsigned long long)b->size);
        sha256_update(b->h, q, n);
        int r = b->sink(b->ctx, q, n);
        if (r < 0)
                return r;
        b->pos += n;
        b->given += n;
        measure_upstream(b, n);
        return 0;
}

static void blob_rewind(void *ctx, struct http_req *rq)
{
        struct blob_xfer *b = ctx;
        rq->range_from = b->pos;
}

int registry_get_blob(struct registry *r, struct fetch_conn *c, const char *digest, uint64_t size,
                      uint64_t offset, struct sha256 *h, fetch_sink_fn sink, void *ctx,
                      uint64_t *got, struct err *e)
{
        struct blob_xfer b = { .sink = sink, .ctx = ctx, .h = h, .pos = offset, .size = size,
                               .digest = digest, .e = e, .r = r };
        _cleanup_free_ bool *fed = xcalloc(r->n_src, sizeof *fed);   /* sources that gave bytes */
        int rr = -EHOSTUNREACH;
        if (offset > size) {
                sha256_free(h);
                return err_setx(e, EINVAL, "blob %s: resume offset past its size", digest);
        }
        bool done = offset == size;
        for (size_t i = 0; i < r->n_src && !done; i++) {
                struct src_state *s = &r->src[i];
                if (src_dead(r, s))
                        continue;
                _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", s->s.url, r->repo, digest);
                b.src = s;
                int attempts = 1 + retries_for(r, s);
                int resumes = 0;   /* restarts after progress: bounded too (a server cutting every few bytes) */
                for (int a = 0; a < attempts; a++) {
                        struct http_req rq = { .sink = blob_sink, .sink_ctx = &b, .begin = blob_begin };
                        struct http_resp rs;
                        uint64_t before = b.pos;
                        rr = src_request(r, c, s, url, &rq, blob_rewind, &rs, e);
                        fed[i] |= b.pos > before;
                        bool transient;
                        if (rr >= 0 && rs.status != 200 && rs.status != 206) {
                                transient = http_transient(0, rs.status);
                                rr = status_error(&rs, e);
                                if (rs.status == 404)
                                        rr = err_setx(e, ENOENT, "blob %s unknown to %s", digest, s->s.url);
                        } else if (rr >= 0 && b.pos == size) {
                                http_resp_free(&rs);
                                done = true;
                                break;
                        } else if (rr >= 0) {
                                rr = err_setx(e, ECONNRESET, "blob %s: connection closed after %llu of %llu bytes",
                                              digest, (unsigned long long)b.pos, (unsigned long long)size);
                                transient = true;
                        } else {
                                transient = http_transient(rr, 0);
                        }
                        http_resp_free(&rs);
                        /* a mirror that stalls or crawls is dropped even after giving bytes */
                        if (!transient || (s->s.mirror && rr == -ETIMEDOUT))
                                break;
                        if (b.pos > before && ++resumes <= BLOB_MAX_RESUMES)
                                a = -1;   /* progress was made: the retry budget starts again */
                        if (a + 1 < attempts) {
                                notice(r, "blob %.19s: %s; retrying from byte %llu", digest, e->msg,
                                       (unsigned long long)b.pos);
                                backoff(a < 0 ? 0 : a);
                        }
                }
                if (done)
                        break;
                if (rr == -EINTR) {
                        /* the user's doing, not the source's: nothing dropped */
                        sha256_free(h);
                        if (got)
                                *got = b.given;
                        return rr;
                }
                if (rr == -EBADMSG && s->s.mirror) {
                        /* bytes from this mirror are suspect: the caller restarts from zero */
                        give_up_source(r, s, e);
                        sha256_free(h);
                        if (got)
                                *got = b.given;
                        return -EAGAIN;
                }
                if (!give_up_source(r, s, e)) {
                        sha256_free(h);
                        if (got)
                                *got = b.given;
                        _cleanup_free_ char *what = xasprintf("blob %s", digest);
                        return all_failed(r, rr, what, e);
                }
        }
        if (got)
                *got = b.given;
        if (!done) {
                sha256_free(h);
                _cleanup_free_ char *what = xasprintf("blob %s", digest);
                return all_failed(r, rr < 0 ? rr : err_setx(e, EHOSTUNREACH, "no source left to try"), what, e);
        }
        char have[DIGEST_STR_LEN + 1];
        sha256_final(h, have);
        if (strcmp(have, digest)) {
                int rr2 = err_setx(e, EBADMSG, "blob %s: digest mismatch (the bytes received hash to %s)", digest, have);
                bool mirror_fed = false;
                for (size_t i = 0; i < r->n_src; i++)
                        if (fed[i] && r->src[i].s.mirror) {
                                give_up_source(r, &r->src[i], e);
                                mirror_fed = true;
                        }
                return mirror_fed ? -EAGAIN : rr2;
        }
        return 0;
}

struct membuf { struct buf *b; };

static int mem_sink(void *ctx, const void *p, size_t n)
{
        struct membuf *m = ctx;
        return buf_append(m->b, p, n) < 0 ? -EFBIG : 0;
}

int registry_get_small_blob(struct registry *r, struct fetch_conn *c, const struct descriptor *d,
                            struct buf *body, struct err *e)
{
        if (d->size > FETCH_MANIFEST_MAX)
                return err_setx(e, EFBIG, "blob %s: %llu bytes is more than the %u allowed", d->digest,
                                (unsigned long long)d->size, FETCH_MANIFEST_MAX);
        buf_reset(body);
        body->max = d->size;
        struct membuf m = { body };
        for (;;) {
                struct sha256 h;
                sha256_init(&h);
                int rr = registry_get_blob(r, c, d->digest, d->size, 0, &h, mem_sink, &m, NULL, e);
                if (rr != -EAGAIN)
                        return rr;
                buf_reset(body);   /* a mirror lied and is dropped: again from the next source */
        }
}

/* -------------------------------------------------------- for upload.c */

int registry_open_push(const struct image_ref *ref, const struct fetch_source *upstream,
                       const struct fetch_opts *o, struct registry **out, struct err *e)
{
        int rr = registry_open(ref, upstream, 1, o, out, e);
        if (rr < 0)
                return rr;
        free((*out)->scope);
        (*out)->scope = xasprintf("repository:%s:pull,push", ref->repo);
        return 0;
}

const char *registry_push_url(const struct registry *r)
{
        return r->src[r->n_src - 1].s.url;
}

const char *registry_push_repo(const struct registry *r)
{
        return r->repo;
}

int registry_push_request(struct registry *r, struct fetch_conn *c, const char *url, struct http_req *tmpl,
                          struct http_resp *rs, struct err *e)
{
        struct src_state *s = &r->src[r->n_src - 1];
        if (!http_same_origin(url, s->s.url)) {
                /* an upload URL on another host (a storage front): it gets
                 * no credentials (invariant 3), nor the registry's TLS files */
                struct http_req rq = *tmpl;
                rq.url = url;
                base_req(r, s, &rq);
                rq.tls = NULL;
                return http_do(c, &rq, rs, e);
        }
        return src_request(r, c, s, url, tmpl, tmpl->upload ? no_rewind : NULL, rs, e);
}

void registry_backoff(int attempt)
{
        backoff(attempt);
}

int registry_push_retries(const struct registry *r)
{
        return retries_for(r, &r->src[r->n_src - 1]);
}
