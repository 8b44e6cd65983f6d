/* Private sharing between the files of fetch/: the HTTP layer (http.c) and the token
 * flow (auth.c).  Nothing outside fetch/ includes this. */
#ifndef STRATA_FETCH_INTERNAL_H
#define STRATA_FETCH_INTERNAL_H

#include "fetch.h"

#include <curl/curl.h>

#define HTTP_HEADER_VALUE_MAX 8192   /* longer header values are cut */
#define HTTP_MAX_REDIRECTS 10

struct fetch_conn {
        CURL *curl;
        char errbuf[CURL_ERROR_SIZE];
};

struct http_resp;

/* TLS material for one host, read from its certs.d directories (tls.c):
 * extra CAs added to the system's, and a client certificate. */
struct fetch_tls {
        char **ca_files;              /* *.crt */
        size_t n_ca_files;
        char *client_cert, *client_key;   /* *.cert and the matching *.key */
};
/* tls_load() - scan @dirs like docker: *.crt are CAs, X.cert + X.key a client
 * pair (a .cert without its .key is an error).  No dirs: all empty. */
int tls_load(char *const *dirs, size_t n, struct fetch_tls *out, struct err *e);
void tls_free(struct fetch_tls *t);
/* search_parse() - the "results" of a v1 search answer, at most @limit,
 * appended to *@out (search.c; exposed for the fuzz target). */
int search_parse(const char *body, size_t len, int limit, struct search_result **out, size_t *n,
                 struct err *e);
/* link_next() - the rel="next" target of a Link header value, resolved
 * against @base; NULL when none or on another origin.  Caller frees. */
char *link_next(const char *link, const char *base);
/* realm_tls() - @tls when the token realm of @w is on @url's host, else NULL. */
const struct fetch_tls *realm_tls(const struct www_auth *w, const char *url, const struct fetch_tls *tls);

/* One request.  Exactly one of @body and @sink receives a 2xx answer's
 * body (or neither: a HEAD or when the body does not matter). */
struct http_req {
        const char *url;
        bool head;
        const char *accept;           /* Accept header value, or NULL */
        const char *authorization;    /* "Bearer x" / "Basic x", sent to @url's origin only */
        uint64_t range_from;          /* > 0: "Range: bytes=N-" */
        struct buf *body;             /* bounded by its max; -EFBIG past it */
        fetch_sink_fn sink;
        void *sink_ctx;
        /* begin() - called once before the first body byte of a 2xx answer
         * (may be NULL); a -errno stops the transfer. */
        int (*begin)(void *ctx, long status, const struct http_resp *rs);
        long connect_timeout_s, stall_timeout_s;
        long min_speed;               /* > 1: slower than this (bytes/s) over stall_timeout_s fails */
        const char *user_agent;
        const struct fetch_tls *tls;  /* for https:// to @url's host, or NULL */
        const volatile sig_atomic_t *cancel;   /* fetch_opts.cancel */
        /* uploads (fetch/upload.c): @method "POST", "PUT" or "PATCH" (NULL:
         * GET, or HEAD with @head); @upload the body (NULL: none) */
        const char *method;
        const char *content_type;     /* Content-Type of the body */
        const char *content_range;    /* "Content-Range: " value of a PATCH */
        struct http_upload *upload;
};

/* A request body streamed from @fd (pread, from @off) or from @mem; @len
 * bytes.  http_do() sends it from its start on each attempt and redirect. */
struct http_upload {
        int fd;                       /* or -1 */
        const void *mem;
        uint64_t off, len;
        uint64_t pos;                 /* bytes handed to curl in this attempt */
        /* progress() - @pos bytes of this attempt sent so far (may be NULL) */
        void (*progress)(void *ctx, uint64_t pos);
        void *progress_ctx;
        int err;                      /* a read error, as -errno */
};

struct http_resp {
        long status;                  /* of the final answer, after redirects */
        char *content_type, *www_authenticate, *docker_digest, *content_range, *link;
        char *reason;                 /* the status line's reason phrase ("Internal Server Error"), or NULL */
        char *url;                    /* the URL that gave the final answer (after redirects) */
        char *location, *range, *chunk_min;   /* Location, Range, OCI-Chunk-Min-Length */
        bool redirected_offsite;      /* followed a redirect to another origin */
        struct buf err_body;          /* a non-2xx body, first FETCH_SMALL_MAX bytes */
};

/* http_do() - run @rq, following redirects itself (Authorization dropped
 * when the origin changes).  0 when an HTTP answer came (any status; see
 * rs->status), -errno on a transport failure ("GET URL: Connection refused"),
 * -EINTR "interrupted" once *@rq->cancel is set,
 * a sink's -errno when it stopped the transfer, -EFBIG when @rq->body's
 * ceiling was passed.  Free @rs with http_resp_free() in every case. */
int http_do(struct fetch_conn *c, const struct http_req *rq, struct http_resp *rs, struct err *e);
void http_resp_free(struct http_resp *rs);
/* http_status_error() - the error for an unexpected status, as docker
 * words it: "GET URL: 500 Internal Server Error: MESSAGE" (the URL without
 * its query, which may hold a signature; MESSAGE the registry's JSON error,
 * else the first line of a plain-text body).  A 4xx that carries a registry
 * JSON error is given by that message alone ("manifest unknown").  -ENOENT
 * for 404, -EACCES for 401/403, -EPROTO otherwise. */
int http_status_error(const struct http_resp *rs, bool head, struct err *e);
/* http_transient() - worth retrying: a transport failure other than a sink
 * or ceiling error, or a 408/429/5xx status. */
bool http_transient(int r, long status);
/* http_same_origin() - scheme, host and port equal. */
bool http_same_origin(const char *a, const char *b);
/* fetch_global_init() - curl_global_init once, thread-safe. */
void fetch_global_init(void);

/* auth_basic_header() - "Basic base64(user:pass)"; caller frees. */
char *auth_basic_header(const char *user, const char *pass);
/* auth_fetch_token() - the bearer token for challenge @w (scope: @scope when
 * the challenge names none), with Basic credentials when @user is set; @tls
 * (may be NULL) is the registry's, used when the realm is on its host.
 * *@token is the token (caller frees), *@expires_ns its expiry on now_ns()'s
 * clock. */
int auth_fetch_token(struct fetch_conn *c, const struct www_auth *w, const char *scope,
                     const char *user, const char *pass, const struct fetch_opts *o, const struct fetch_tls *tls,
                     char **token, uint64_t *expires_ns, struct err *e);
/* auth_load_credentials() - credentials for @host in the order fetch.h
 * gives (creds.c): strata's auth file, Docker's helpers, Docker's auths.
 * 0 with *@user and *@pass set, -ENOENT when none (or no file), -errno with
 * @e set when malformed or a helper failed. */
int auth_load_credentials(const struct fetch_opts *o, const char *host, char **user,
                          char **pass, struct err *e);

/* For upload.c, from registry.c: a push client talks to its one source (the
 * upstream, never a mirror) with the source's auth.  registry_push_request()
 * is src_request(): a request with @tmpl->upload is not retried (the caller
 * decides), others are on transient failures; 401 renews the token once.
 * A @url on another origin than the registry's (an upload Location) goes
 * without credentials, once. */
const char *registry_push_url(const struct registry *r);     /* "http://host:port" */
const char *registry_push_repo(const struct registry *r);    /* "library/x" */
/* registry_backoff() - sleep before retry number @attempt (0.25 s doubling, to 4 s). */
void registry_backoff(int attempt);
/* registry_push_retries() - extra attempts after a transient failure (fetch_opts.retries). */
int registry_push_retries(const struct registry *r);
int registry_push_request(struct registry *r, struct fetch_conn *c, const char *url, struct http_req *tmpl,
                          struct http_resp *rs, struct err *e);

#endif
