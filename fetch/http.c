/* The HTTP layer: one libcurl easy handle per connection, bounded bodies,
 * connect and stall timeouts, redirects followed by hand so that
 * Authorization never leaves its origin (fetch.h invariant 3). */
#include "fetch-internal.h"

#include <ctype.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

void fetch_global_init(void)
{
        pthread_once(&global_once, global_init);
}

struct fetch_conn *fetch_conn_new(void)
{
        fetch_global_init();
        struct fetch_conn *c = xcalloc(1, sizeof *c);
        c->curl = curl_easy_init();
        if (!c->curl)
                abort();
        return c;
}

void fetch_conn_free(struct fetch_conn *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        free(c);
}

void http_resp_free(struct http_resp *rs)
{
        free(rs->content_type);
        free(rs->www_authenticate);
        free(rs->docker_digest);
        free(rs->content_range);
        free(rs->link);
        free(rs->reason);
        free(rs->url);
        free(rs->location);
        free(rs->range);
        free(rs->chunk_min);
        buf_free(&rs->err_body);
        memset(rs, 0, sizeof *rs);
}

bool http_transient(int r, long status)
{
        if (r < 0)
                return r != -EFBIG && r != -EBADMSG && r != -ENOSPC && r != -EPROTO && r != -EINTR &&
                       r != -EINVAL && r != -ENOMEM && r != -EACCES && r != -EPERM;
        return status == 408 || status == 429 || status >= 500;
}

/* Per-transfer state shared by the callbacks. */
struct xfer {
        const struct http_req *rq;
        struct http_resp *rs;
        CURL *curl;
        long status;          /* of the answer being received */
        bool begun;           /* rq->begin() was called */
        int err;              /* -errno when a callback stopped the transfer */
        struct err *e;
};

/* Stops the transfer once the user interrupted (fetch_opts.cancel). */
static int xferinfo_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        const volatile sig_atomic_t *cancel = ud;
        return *cancel ? 1 : 0;
}

static long current_status(struct xfer *x)
{
        long st = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &st);
        return st;
}

static void set_header(char **slot, const char *v, size_t n)
{
        while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
        if (n > HTTP_HEADER_VALUE_MAX)
                n = HTTP_HEADER_VALUE_MAX;
        free(*slot);
        *slot = xstrndup(v, n);
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
                /* a new answer (after a 100 Continue or a redirect): forget old headers */
                struct http_resp *rs = x->rs;
                free(rs->content_type), rs->content_type = NULL;
                free(rs->www_authenticate), rs->www_authenticate = NULL;
                free(rs->docker_digest), rs->docker_digest = NULL;
                free(rs->content_range), rs->content_range = NULL;
                free(rs->link), rs->link = NULL;
                free(rs->reason), rs->reason = NULL;
                /* "HTTP/1.1 500 Internal Server Error": keep the phrase */
                const char *sp = memchr(p, ' ', n);
                const char *ph = sp ? memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p)) : NULL;
                if (ph && (size_t)(ph + 1 - p) < n)
                        set_header(&rs->reason, ph + 1, n - (size_t)(ph + 1 - p));
                free(rs->location), rs->location = NULL;
                free(rs->range), rs->range = NULL;
                free(rs->chunk_min), rs->chunk_min = NULL;
                return n;
        }
        const char *colon = memchr(p, ':', n);
        if (!colon)
                return n;
        size_t klen = (size_t)(colon - p);
        const char *v = colon + 1;
        size_t vlen = n - klen - 1;
        while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        static const struct { const char *name; size_t off; } want[] = {
                { "content-type", offsetof(struct http_resp, content_type) },
                { "www-authenticate", offsetof(struct http_resp, www_authenticate) },
                { "docker-content-digest", offsetof(struct http_resp, docker_digest) },
                { "content-range", offsetof(struct http_resp, content_range) },
                { "link", offsetof(struct http_resp, link) },
                { "location", offsetof(struct http_resp, location) },
                { "range", offsetof(struct http_resp, range) },
                { "oci-chunk-min-length", offsetof(struct http_resp, chunk_min) },
        };
        for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
                if (strlen(want[i].name) != klen || strncasecmp(p, want[i].name, klen))
                        continue;
                char **slot = (char **)((char *)x->rs + want[i].off);
                /* keep the first WWW-Authenticate: it names the preferred scheme */
                if (want[i].off == offsetof(struct http_resp, www_authenticate) && *slot)
                        break;
                set_header(slot, v, vlen);
                break;
        }
        return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (!x->status)
                x->status = current_status(x);
        if (x->status < 200 || x->status >= 300) {
                struct buf *b = &x->rs->err_body;
                size_t room = b->max - b->len;
                if (room)
                        buf_append(b, p, n < room ? n : room);
                return n;
        }
        if (!x->begun && x->rq->begin) {
                x->begun = true;
                int r = x->rq->begin(x->rq->sink_ctx, x->status, x->rs);
                if (r < 0) {
                        x->err = r;
                        return 0;
                }
        }
        if (x->rq->body) {
                int r = buf_append(x->rq->body, p, n);
                if (r < 0) {
                        x->err = err_setx(x->e, EFBIG, "answer larger than %zu bytes", x->rq->body->max);
                        return 0;
                }
                return n;
        }
        if (x->rq->sink) {
                int r = x->rq->sink(x->rq->sink_ctx, p, n);
                if (r < 0) {
                        x->err = r;
                        if (!x->e || !x->e->code)
                                err_set(x->e, -r, "write blob");
                        return 0;
                }
        }
        return n;
}

static const char *status_text(long st)
{
        static const struct { long st; const char *t; } tab[] = {
                { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
                { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
                { 409, "Conflict" }, { 410, "Gone" }, { 416, "Range Not Satisfiable" },
                { 429, "Too Many Requests" }, { 500, "Internal Server Error" },
                { 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
                { 504, "Gateway Timeout" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
                if (tab[i].st == st)
                        return tab[i].t;
        return NULL;
}

/* Printable ASCII of @p (at most @max bytes, up to the first line end). */
static void printable(const char *p, size_t n, char *out, size_t max)
{
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < max && p[i] != '\n' && p[i] != '\r'; i++)
                out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
        while (k && out[k - 1] == ' ')
                k--;
        out[k] = '\0';
}

int http_status_error(const struct http_resp *rs, bool head, struct err *e)
{
        long st = rs->status;
        int code = st == 404 ? ENOENT : st == 401 || st == 403 ? EACCES : EPROTO;
        char msg[256] = "";
        bool json = fetch_registry_error(rs->err_body.data, rs->err_body.len, msg, sizeof msg);
        if (json && st >= 400 && st < 500)
                return err_setx(e, code, "%s", msg);
        if (!json && rs->err_body.len)
                printable(rs->err_body.data, rs->err_body.len, msg, 201);
        char reason[64] = "";
        if (rs->reason)
                printable(rs->reason, strlen(rs->reason), reason, sizeof reason);
        if (!reason[0] && status_text(st))
                snprintf(reason, sizeof reason, "%s", status_text(st));
        const char *url = rs->url ? rs->url : "";
        int ulen = (int)strcspn(url, "?#");
        return err_setx(e, code, "%s %.*s: %ld%s%s%s%s", head ? "HEAD" : "GET", ulen, url, st,
                        reason[0] ? " " : "", reason, msg[0] ? ": " : "", msg);
}

/* The request body of an upload, from its file or memory. */
static size_t read_cb(char *p, size_t size, size_t nmemb, void *ud)
{
        struct http_upload *u = ud;
        size_t n = size * nmemb;
        if (n > u->len - u->pos)
                n = (size_t)(u->len - u->pos);
        if (!n)
                return 0;
        if (u->mem) {
                memcpy(p, (const char *)u->mem + u->off + u->pos, n);
        } else {
                ssize_t k;
                do
                        k = pread(u->fd, p, n, (off_t)(u->off + u->pos));
                while (k < 0 && errno == EINTR);
                if (k <= 0) {
                        u->err = k < 0 ? -errno : -EIO;
                        return CURL_READFUNC_ABORT;
                }
                n = (size_t)k;
        }
        u->pos += n;
        if (u->progress)
                u->progress(u->progress_ctx, u->pos);
        return n;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
        struct http_upload *u = ud;
        if (origin != SEEK_SET || off < 0 || (uint64_t)off > u->len)
                return CURL_SEEKFUNC_CANTSEEK;
        u->pos = (uint64_t)off;
        return CURL_SEEKFUNC_OK;
}

bool http_same_origin(const char *a, const char *b)
{
        CURLU *ua = curl_url(), *ub = curl_url();
        bool same = false;
        if (ua && ub && !curl_url_set(ua, CURLUPART_URL, a, 0) && !curl_url_set(ub, CURLUPART_URL, b, 0)) {
                same = true;
                static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };
                for (size_t i = 0; i < ARRAY_SIZE(parts) && same; i++) {
                        char *pa = NULL, *pb = NULL;
                        curl_url_get(ua, parts[i], &pa, CURLU_DEFAULT_PORT);
                        curl_url_get(ub, parts[i], &pb, CURLU_DEFAULT_PORT);
                        same = pa && pb && !strcasecmp(pa, pb);
                        curl_free(pa);
                        curl_free(pb);
                }
        }
        curl_url_cleanup(ua);
        curl_url_cleanup(ub);
        return same;
}

static int curl_to_errno(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_CONNECT: return ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT: return ETIMEDOUT;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE: return EPROTO;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT: return EINVAL;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE: return ECONNRESET;
        default: return EIO;
        }
}

/* Add the host's certs.d CAs to the default trust store (docker does the same:
 * the system roots plus the .crt files of HOST). */
static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *ud)
{
        (void)curl;
        const struct fetch_tls *t = ud;
        X509_STORE *st = SSL_CTX_get_cert_store(sslctx);
        for (size_t i = 0; i < t->n_ca_files; i++)
                if (X509_STORE_load_file(st, t->ca_files[i]) != 1)
                        return CURLE_SSL_CACERT_BADFILE;
        return CURLE_OK;
}

/* A certificate failure in the words docker users know (Go's x509 errors). */
static int tls_error(CURL *h, const char *url, const char *why, struct err *e)
{
        _cleanup_free_ char *host = NULL;
        CURLU *u = curl_url();
        if (u && !curl_url_set(u, CURLUPART_URL, url, 0)) {
                char *hh = NULL, *pp = NULL;
                curl_url_get(u, CURLUPART_HOST, &hh, 0);
                curl_url_get(u, CURLUPART_PORT, &pp, 0);
                host = pp ? xasprintf("%s:%s", hh ? hh : "", pp) : xstrdup(hh ? hh : "");
                curl_free(hh);
                curl_free(pp);
        }
        curl_url_cleanup(u);
        long vr = 0;
        curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &vr);
        const char *x;
        switch (vr) {
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                x = "x509: certificate signed by unknown authority";
                break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
                x = "x509: certificate has expired or is not yet valid";
                break;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
                x = "x509: certificate is not valid for this host";
                break;
        default:
                x = NULL;
        }
        if (x)
                return err_setx(e, EPROTO, "tls %s: %s (add its CA as /etc/docker/certs.d/%s/ca.crt)",
                                host ? host : url, x, host ? host : "HOST:PORT");
        return err_setx(e, EPROTO, "tls %s: %s", host ? host : url, why);
}

int http_do(struct fetch_conn *c, const struct http_req *rq, struct http_resp *rs, struct err *e)
{
        memset(rs, 0, sizeof *rs);
        rs->err_body.max = FETCH_SMALL_MAX;
        CURL *h = c->curl;
        _cleanup_free_ char *url = xstrdup(rq->url);
        bool send_auth = rq->authorization != NULL;

        for (int hop = 0;; hop++) {
                if (rq->cancel && *rq->cancel)
                        return err_setx(e, EINTR, "interrupted");
                if (hop > HTTP_MAX_REDIRECTS)
                        return err_setx(e, ELOOP, "GET %s: more than %d redirects", rq->url, HTTP_MAX_REDIRECTS);
                struct xfer x = { .rq = rq, .rs = rs, .curl = h, .e = e };
                struct curl_slist *hdrs = NULL;
                _cleanup_free_ char *auth = NULL, *accept = NULL;
                char range[64];
                if (rq->accept) {
                        accept = xasprintf("Accept: %s", rq->accept);
                        hdrs = curl_slist_append(hdrs, accept);
                }
                if (send_auth) {
                        auth = xasprintf("Authorization: %s", rq->authorization);
                        hdrs = curl_slist_append(hdrs, auth);
                }
                if (rq->range_from) {
                        snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)rq->range_from);
                        hdrs = curl_slist_append(hdrs, range);
                }
                _cleanup_free_ char *ctype = NULL, *crange = NULL;
                if (rq->content_type) {
                        ctype = xasprintf("Content-Type: %s", rq->content_type);
                        hdrs = curl_slist_append(hdrs, ctype);
                }
                if (rq->content_range) {
                        crange = xasprintf("Content-Range: %s", rq->content_range);
                        hdrs = curl_slist_append(hdrs, crange);
                }
                if (rq->upload)
                        hdrs = curl_slist_append(hdrs, "Expect:");   /* no 100-continue round trip */
                curl_easy_reset(h);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
                curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent ? rq->user_agent : "strata");
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, rq->connect_timeout_s > 0 ? rq->connect_timeout_s : 10L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, rq->min_speed > 1 ? rq->min_speed : 1L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, rq->stall_timeout_s > 0 ? rq->stall_timeout_s : 30L);
                curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
                curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
                curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
                curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
                if (rq->head)
                        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                if (rq->cancel) {
                        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
                        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->cancel);
                        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
                }
                if (rq->upload) {
                        rq->upload->pos = 0;
                        rq->upload->err = 0;
                        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->upload->len);
                        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
                        curl_easy_setopt(h, CURLOPT_READDATA, rq->upload);
                        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
                        curl_easy_setopt(h, CURLOPT_SEEKDATA, rq->upload);
                        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
                }
                if (rq->method && strcmp(rq->method, rq->upload ? "PUT" : "GET"))
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
                /* the host's own TLS material only while talking to that host */
                if (rq->tls && http_same_origin(url, rq->url)) {
                        if (rq->tls->n_ca_files) {
                                curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
                                curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, (void *)rq->tls);
                        }
                        if (rq->tls->client_cert) {
                                curl_easy_setopt(h, CURLOPT_SSLCERT, rq->tls->client_cert);
                                curl_easy_setopt(h, CURLOPT_SSLKEY, rq->tls->client_key);
                        }
                }
                c->errbuf[0] = '\0';
                CURLcode cc = curl_easy_perform(h);
                curl_slist_free_all(hdrs);
                if (x.err)
                        return x.err;
                if (cc == CURLE_ABORTED_BY_CALLBACK && rq->cancel && *rq->cancel)
                        return err_setx(e, EINTR, "interrupted");
                if (rq->upload && rq->upload->err)
                        return err_set(e, -rq->upload->err, "%s %s: read the body", rq->method, url);
                if (cc != CURLE_OK) {
                        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
                        curl_off_t got = 0;
                        curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &got);
                        if (cc == CURLE_OPERATION_TIMEDOUT && rq->min_speed > 1 && got > 0 && strstr(why, "too slow"))
                                /* bytes came, too few: not a stall */
                                return err_setx(e, ETIMEDOUT, "%s %s: slower than %ld bytes/s over %ld s",
                                                rq->head ? "HEAD" : "GET", url, rq->min_speed,
                                                rq->stall_timeout_s > 0 ? rq->stall_timeout_s : 30L);
                        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                            cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CONNECT_ERROR)
                                return tls_error(h, url, why, e);
                        return err_setx(e, curl_to_errno(cc), "%s %s: %s",
                                        rq->method ? rq->method : rq->head ? "HEAD" : "GET", url, why);
                }
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
                free(rs->url);
                rs->url = xstrdup(url);
                if (rs->status < 300 || rs->status >= 400 || rs->status == 304)
                        return 0;
                char *loc = NULL;
                curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
                if (!loc)
                        return 0;
                _cleanup_free_ char *next = xstrdup(loc);
                if (strncmp(next, "http://", 7) && strncmp(next, "https://", 8))
                        return err_setx(e, EPROTO, "GET %s: redirect to a non-HTTP URL", url);
                if (!http_same_origin(next, rq->url)) {
                        send_auth = false;
                        rs->redirected_offsite = true;
                }
                free(url);
                url = TAKE_PTR(next);
                buf_reset(&rs->err_body);
        }
}
