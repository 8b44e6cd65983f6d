/* Search: Docker Hub's v1 search API, and a registry's /v2/_catalog
 * filtered by a term (fetch.h "search").  Every answer is bounded. */
#include "fetch-internal.h"

#include <jansson.h>
#include <string.h>

#define SEARCH_BODY_MAX (4u << 20)

void search_results_free(struct search_result *r, size_t n)
{
        for (size_t i = 0; r && i < n; i++) {
                free(r[i].name);
                free(r[i].description);
        }
        free(r);
}

static void add_result(struct search_result **out, size_t *n, const char *name, const char *desc,
                       long long stars, bool official, bool automated)
{
        *out = xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[*n] = (struct search_result){ xstrdup(name), xstrdup(desc ? desc : ""), stars, official, automated };
        (*n)++;
}

static int status_msg(const struct http_resp *rs, const char *url, struct err *e)
{
        char msg[256];
        int code = rs->status == 404 ? ENOENT : rs->status == 401 || rs->status == 403 ? EACCES : EPROTO;
        if (fetch_registry_error(rs->err_body.data, rs->err_body.len, msg, sizeof msg))
                return err_setx(e, code, "GET %s: %s", url, msg);
        return err_setx(e, code, "GET %s: HTTP %ld", url, rs->status);
}

int search_parse(const char *body, size_t len, int limit, struct search_result **out, size_t *n,
                 struct err *e)
{
        json_t *j = json_loadb(body, len, 0, NULL);
        json_t *res = json_object_get(j, "results");
        if (!json_is_array(res)) {
                json_decref(j);
                return err_setx(e, EPROTO, "the answer has no \"results\" array");
        }
        size_t i;
        json_t *x;
        json_array_foreach(res, i, x) {
                const char *name = json_string_value(json_object_get(x, "name"));
                if (!name || *n >= (size_t)limit)
                        continue;
                add_result(out, n, name, json_string_value(json_object_get(x, "description")),
                           json_integer_value(json_object_get(x, "star_count")),
                           json_is_true(json_object_get(x, "is_official")),
                           json_is_true(json_object_get(x, "is_automated")));
        }
        json_decref(j);
        return 0;
}

int fetch_search_index(const char *index, const char *term, int limit, const struct fetch_opts *o,
                       struct search_result **out, size_t *n, struct err *e)
{
        *out = NULL;
        *n = 0;
        if (limit < 1 || limit > FETCH_SEARCH_MAX)
                return err_setx(e, EINVAL, "limit %d is not between 1 and %d", limit, FETCH_SEARCH_MAX);
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        char *q = curl_easy_escape(c->curl, term, 0);
        size_t len = strlen(index);
        while (len && index[len - 1] == '/')
                len--;
        _cleanup_free_ char *url = xasprintf("%.*s/v1/search?q=%s&n=%d", (int)len, index, q, limit);
        curl_free(q);
        struct buf body = BUF_INIT(SEARCH_BODY_MAX);
        struct http_req rq = { .url = url, .accept = "application/json", .body = &body,
                               .connect_timeout_s = o->connect_timeout_s,
                               .stall_timeout_s = o->stall_timeout_s, .user_agent = o->user_agent };
        struct http_resp rs;
        int r = http_do(c, &rq, &rs, e);
        if (r >= 0 && rs.status != 200)
                r = status_msg(&rs, url, e);
        if (r >= 0) {
                r = search_parse(body.data ? body.data : "", body.len, limit, out, n, e);
                if (r < 0)
                        err_wrap(e, "GET %s", url);
        }
        http_resp_free(&rs);
        buf_free(&body);
        return r;
}

/* The URL in a Link header's rel="next" (RFC 8288), resolved against @base
 * (the registry answers "</v2/_catalog?last=x&n=100>; rel=\"next\""). */
char *link_next(const char *link, const char *base)
{
        if (!link || !strstr(link, "rel=\"next\"") || link[0] != '<')
                return NULL;
        const char *end = strchr(link, '>');
        if (!end)
                return NULL;
        _cleanup_free_ char *target = xstrndup(link + 1, (size_t)(end - link - 1));
        if (!strncmp(target, "http://", 7) || !strncmp(target, "https://", 8))
                /* another origin would get the registry's credentials: stop there */
                return http_same_origin(target, base) ? TAKE_PTR(target) : NULL;
        if (target[0] != '/')
                return NULL;
        return xasprintf("%s%s", base, target);
}

/* GET @url with @src's credentials (Basic, or a token for registry:catalog:*). */
static int catalog_get(struct fetch_conn *c, const struct fetch_source *src, const struct fetch_tls *tls,
                       const char *url, char **authz, const struct fetch_opts *o, struct buf *body,
                       struct http_resp *rs, struct err *e)
{
        struct http_req rq = { .url = url, .accept = "application/json", .body = body,
                               .connect_timeout_s = o->connect_timeout_s, .stall_timeout_s = o->stall_timeout_s,
                               .user_agent = o->user_agent, .tls = tls, .authorization = *authz };
        buf_reset(body);
        int r = http_do(c, &rq, rs, e);
        if (r < 0 || rs->status != 401 || !rs->www_authenticate || *authz)
                return r;
        struct www_auth w;
        r = wwwauth_parse(rs->www_authenticate, &w, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *user = NULL, *pass = NULL;
        r = auth_load_credentials(o, src->host, &user, &pass, e);
        if (r < 0 && r != -ENOENT) {
                wwwauth_free(&w);
                return r;
        }
        if (!strcmp(w.scheme, "basic")) {
                if (!user) {
                        wwwauth_free(&w);
                        return err_setx(e, EACCES, "%s requires a login (strata login %s)", src->host, src->host);
                }
                *authz = auth_basic_header(user, pass);
        } else if (!strcmp(w.scheme, "bearer")) {
                char *token = NULL;
                uint64_t exp;
                r = auth_fetch_token(c, &w, "registry:catalog:*", user, pass, o, realm_tls(&w, src->url, tls), &token, &exp, e);
                if (r < 0) {
                        wwwauth_free(&w);
                        return r;
                }
                *authz = xasprintf("Bearer %s", token);
                free(token);
        }
        wwwauth_free(&w);
        if (!*authz)
                return 0;
        http_resp_free(rs);
        rq.authorization = *authz;
        buf_reset(body);
        return http_do(c, &rq, rs, e);
}

int fetch_search_catalog(const struct fetch_source *src, const char *term, int limit,
                         const struct fetch_opts *o, struct search_result **out, size_t *n,
                         struct err *e)
{
        *out = NULL;
        *n = 0;
        if (limit < 1 || limit > FETCH_SEARCH_MAX)
                return err_setx(e, EINVAL, "limit %d is not between 1 and %d", limit, FETCH_SEARCH_MAX);
        struct fetch_tls tls;
        int r = tls_load(src->certs_dirs, src->n_certs_dirs, &tls, e);
        if (r < 0)
                return r;
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        _cleanup_free_ char *authz = NULL;
        /* no n=: registries cap it differently (Distribution refuses n above its
         * maxentries); each answers its own page size with a Link to the next */
        char *url = xasprintf("%s/v2/_catalog", src->url);
        struct buf body = BUF_INIT(SEARCH_BODY_MAX);
        for (int page = 0; url && page < FETCH_CATALOG_PAGES && *n < (size_t)limit; page++) {
                struct http_resp rs;
                r = catalog_get(c, src, &tls, url, &authz, o, &body, &rs, e);
                if (r >= 0 && rs.status != 200)
                        r = status_msg(&rs, url, e);
                json_t *j = NULL;
                if (r >= 0) {
                        j = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
                        json_t *repos = json_object_get(j, "repositories");
                        if (!json_is_array(repos))
                                r = err_setx(e, EPROTO, "GET %s: the answer has no \"repositories\" array", url);
                        size_t i;
                        json_t *x;
                        json_array_foreach(repos, i, x) {
                                const char *name = json_string_value(x);
                                if (name && strstr(name, term) && *n < (size_t)limit)
                                        add_result(out, n, name, "", 0, false, false);
                        }
                }
                json_decref(j);
                char *next = r >= 0 ? link_next(rs.link, src->url) : NULL;
                http_resp_free(&rs);
                free(url);
                url = next;
                if (r < 0)
                        break;
        }
        free(url);
        buf_free(&body);
        tls_free(&tls);
        if (r < 0) {
                search_results_free(*out, *n);
                *out = NULL;
                *n = 0;
        }
        return r;
}
