/* The registry client: one repository over an ordered list of sources
 * (mirrors, then the upstream).  Per source: a /v2/ ping once, the auth
 * challenge it gave, a bearer token shared by every thread of the pull and
 * renewed on 401 or expiry, credentials from the docker config for the
 * upstream only (fetch.h invariant 3).  A failing mirror is marked dead and
 * skipped with one notice (invariant 4). */
#include "fetch-internal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

enum auth_kind { AUTH_UNKNOWN, AUTH_NONE, AUTH_BEARER, AUTH_BASIC };

struct src_state {
        struct fetch_source s;
        bool dead;
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
};

void fetch_sources_free(struct fetch_source *s, size_t n)
{
        for (size_t i = 0; s && i < n; i++) {
                free(s[i].url);
                free(s[i].host);
        }
        free(s);
}

static char *url_host(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        return xstrndup(p, strcspn(p, "/"));
}

static bool listed(char **list, size_t n, const char *host)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(list[i], host))
                        return true;
        return false;
}

int fetch_sources_for(const struct image_ref *ref, const struct fetch_config *cfg,
                      struct fetch_source **out, size_t *n, struct err *e)
{
        size_t nm = cfg && !strcmp(ref->registry, "docker.io") ? cfg->n_mirrors : 0;
        struct fetch_source *s = xcalloc(nm + 1, sizeof *s);
        size_t k = 0;
        for (size_t i = 0; i < nm; i++) {
                const char *m = cfg->mirrors[i];
                if (strncmp(m, "https://", 8) && strncmp(m, "http://", 7)) {
                        fetch_sources_free(s, k);
                        return err_setx(e, EINVAL, "mirror \"%s\" is not an http:// or https:// URL", m);
                }
                size_t len = strlen(m);
                while (len && m[len - 1] == '/')
                        len--;
                s[k].url = xstrndup(m, len);
                s[k].host = url_host(m);
                s[k].mirror = true;
                k++;
        }
        const char *host = ref_api_host(ref);
        bool plain = ref_is_loopback_host(host) ||
                     (cfg && listed(cfg->insecure, cfg->n_insecure, ref->registry));
        s[k].url = xasprintf("%s://%s", plain ? "http" : "https", host);
        s[k].host = xstrdup(ref->registry);
        s[k].mirror = false;
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
                r->src[i].s.url = xstrdup(srcs[i].url);
                r->src[i].s.host = xstrdup(srcs[i].host);
                r->src[i].s.mirror = srcs[i].mirror;
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

/* The message for an unexpected status: the registry's own words when it
 * sent a JSON error, else "HTTP 500". */
static int status_error(const struct http_resp *rs, struct err *e)
{
        char msg[256];
        int code = rs->status == 404 ? ENOENT : rs->status == 401 || rs->status == 403 ? EACCES : EPROTO;
        if (fetch_registry_error(rs->err_body.data, rs->err_body.len, msg, sizeof msg))
                return err_setx(e, code, "%s", msg);
        return err_setx(e, code, "HTTP %ld", rs->status);
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

static void base_req(const struct registry *r, struct http_req *rq)
{
        rq->connect_timeout_s = r->o.connect_timeout_s;
        rq->stall_timeout_s = r->o.stall_timeout_s;
        rq->user_agent = r->o.user_agent;
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
                base_req(r, &rq);
                struct http_resp rs;
                int rr = http_do(c, &rq, &rs, e);
                if (rr < 0 || http_transient(0, rs.status)) {
                        bool again = a + 1 < attempts && http_transient(rr, rs.status);
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
        if (s->s.mirror)
                return 0;   /* the upstream's credentials never go to a mirror */
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
                rr = auth_fetch_token(c, &s->ch, r->scope, s->user, s->pass, &r->o, &s->token, &s->token_exp, e);
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
                base_req(r, &rq);
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

/* Mark mirror @s dead with one notice.  Returns true when there is a next
 * source to try (i.e. @s was a mirror). */
static bool give_up_source(struct registry *r, struct src_state *s, const struct err *why)
{
        if (!s->s.mirror)
                return false;
        pthread_mutex_lock(&r->lock);
        bool first = !s->dead;
        s->dead = true;
        pthread_mutex_unlock(&r->lock);
        if (first)
                notice(r, "mirror %s skipped: %s", s->s.url, why->msg);
        return true;
}

static bool src_dead(struct registry *r, struct src_state *s)
{
        pthread_mutex_lock(&r->lock);
        bool d = s->dead;
        pthread_mutex_unlock(&r->lock);
        return d;
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
                if (rr >= 0) {
                        *content_type = rs.content_type ? xstrdup(rs.content_type) : NULL;
                        http_resp_free(&rs);
                        return 0;
                }
                http_resp_free(&rs);
                if (!give_up_source(r, s, e))
                        return rr;
        }
        return err_setx(e, EHOSTUNREACH, "no source left to try");
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
};

static int blob_begin(void *ctx, long status, const struct http_resp *rs)
{
        struct blob_xfer *b = ctx;
        b->skip = 0;
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
                               .digest = digest, .e = e };
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
                int attempts = 1 + retries_for(r, s);
                for (int a = 0; a < attempts; a++) {
                        struct http_req rq = { .sink = blob_sink, .sink_ctx = &b, .begin = blob_begin };
                        struct http_resp rs;
                        uint64_t before = b.pos;
                        rr = src_request(r, c, s, url, &rq, blob_rewind, &rs, e);
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
                        if (!transient)
                                break;
                        if (b.pos > before)
                                a = -1;   /* progress was made: the retry budget starts again */
                        if (a + 1 < attempts) {
                                notice(r, "blob %.19s: %s; retrying from byte %llu", digest, e->msg,
                                       (unsigned long long)b.pos);
                                backoff(a < 0 ? 0 : a);
                        }
                }
                if (done)
                        break;
                if (rr == -EBADMSG && s->s.mirror) {
                        /* bytes from this mirror are suspect: the caller restarts from zero */
                        give_up_source(r, s, e);
                        sha256_free(h);
                        return rr;
                }
                if (!give_up_source(r, s, e)) {
                        sha256_free(h);
                        return rr;
                }
        }
        if (got)
                *got = b.given;
        if (!done) {
                sha256_free(h);
                return rr < 0 ? rr : err_setx(e, EHOSTUNREACH, "blob %s: no source left to try", digest);
        }
        char have[DIGEST_STR_LEN + 1];
        sha256_final(h, have);
        if (strcmp(have, digest))
                return err_setx(e, EBADMSG, "blob %s: digest mismatch (the bytes received hash to %s)", digest, have);
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
        struct sha256 h;
        sha256_init(&h);
        return registry_get_blob(r, c, d->digest, d->size, 0, &h, mem_sink, &m, NULL, e);
}
