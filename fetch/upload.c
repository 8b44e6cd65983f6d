/* Uploads to a registry (the distribution spec's push side): blobs asked
 * for, mounted or sent (one PUT, or PATCH chunks), manifests put.  See
 * fetch.h "upload" for the invariants.  The bytes stream from the caller's
 * file through http_do()'s read callback; nothing here holds a blob. */
#include "fetch-internal.h"

#include <string.h>

#define PUSH_MAX_RESUMES 32        /* failures after progress, per blob */
#define OCTET_STREAM "application/octet-stream"

uint64_t upload_chunk_size(uint64_t want, uint64_t min)
{
        uint64_t c = want ? want : FETCH_PUSH_CHUNK_DEFAULT;
        return c < min ? min : c;
}

/* @loc (a Location header) resolved against @base, with @query appended
 * (URL-encoded) when not NULL.  NULL when it does not parse. */
static char *resolve(const char *base, const char *loc, const char *query)
{
        CURLU *u = curl_url();
        char *s = NULL, *out = NULL;
        if (u && !curl_url_set(u, CURLUPART_URL, base, 0) && !curl_url_set(u, CURLUPART_URL, loc, 0) &&
            (!query || !curl_url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY | CURLU_URLENCODE)) &&
            !curl_url_get(u, CURLUPART_URL, &s, 0))
                out = xstrdup(s);
        curl_free(s);
        curl_url_cleanup(u);
        if (out && strncmp(out, "http://", 7) && strncmp(out, "https://", 8)) {
                free(out);
                out = NULL;
        }
        return out;
}

/* An unexpected answer to @what, in one phrase: docker's words for a refusal,
 * else the registry's message and the status. */
static int answer_error(const struct http_resp *rs, const char *what, struct err *e)
{
        if (rs->status == 401 || rs->status == 403)
                return err_setx(e, EACCES, "denied: requested access to the resource is denied");
        char msg[256];
        int code = rs->status == 404 ? ENOENT : rs->status == 413 ? EFBIG : EPROTO;
        if (fetch_registry_error(rs->err_body.data, rs->err_body.len, msg, sizeof msg))
                return err_setx(e, code, "%s: %s (HTTP %ld)", what, msg, rs->status);
        return err_setx(e, code, "%s: HTTP %ld", what, rs->status);
}

/* A request failure in docker's words when it is a refusal. */
static int request_error(int rr, struct err *e)
{
        if (rr == -EACCES && strstr(e->msg, "unauthorized"))
                return err_setx(e, EACCES, "denied: requested access to the resource is denied");
        return rr;
}

/* HEAD the blob: 1 when the repository has it, 0 when not. */
static int blob_head(struct registry *r, struct fetch_conn *c, const struct blob_push *b, struct err *e)
{
        _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", registry_push_url(r), registry_push_repo(r), b->digest);
        struct http_req rq = { .head = true };
        struct http_resp rs;
        int rr = registry_push_request(r, c, url, &rq, &rs, e);
        if (rr < 0)
                rr = request_error(rr, e);
        else if (rs.status == 200)
                rr = 1;
        else if (rs.status == 404)
                rr = 0;
        else
                rr = answer_error(&rs, "check blob", e);
        http_resp_free(&rs);
        return rr;
}

/* POST .../blobs/uploads/ (with ?mount=&from= when @from is set).  1 when
 * the registry mounted the blob (201), 0 with *@loc the new upload's URL
 * (202), -errno otherwise.  *@min is the registry's OCI-Chunk-Min-Length. */
static int upload_start(struct registry *r, struct fetch_conn *c, const char *digest, const char *from,
                        char **loc, uint64_t *min, struct err *e)
{
        _cleanup_free_ char *url = NULL;
        if (from) {
                char *d = curl_easy_escape(c->curl, digest, 0), *f = curl_easy_escape(c->curl, from, 0);
                url = xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", registry_push_url(r),
                                registry_push_repo(r), d, f);
                curl_free(d);
                curl_free(f);
        } else {
                url = xasprintf("%s/v2/%s/blobs/uploads/", registry_push_url(r), registry_push_repo(r));
        }
        struct http_upload none = { .fd = -1, .mem = "" };
        struct http_req rq = { .method = "POST", .upload = &none };
        struct http_resp rs;
        int rr = registry_push_request(r, c, url, &rq, &rs, e);
        if (rr < 0) {
                rr = request_error(rr, e);
        } else if (rs.status == 201 && from) {
                rr = 1;
        } else if (rs.status == 202 && rs.location) {
                free(*loc);
                *loc = resolve(url, rs.location, NULL);
                rr = *loc ? 0 : err_setx(e, EPROTO, "start upload: Location \"%.200s\" is not a URL", rs.location);
                unsigned long long m;
                if (rr == 0 && rs.chunk_min && sscanf(rs.chunk_min, "%llu", &m) == 1)
                        *min = m;
        } else if (rs.status == 202) {
                rr = err_setx(e, EPROTO, "start upload: no Location in the answer");
        } else {
                rr = answer_error(&rs, from ? "mount blob" : "start upload", e);
                if (http_transient(0, rs.status))
                        rr = -EAGAIN;   /* worth another try */
        }
        http_resp_free(&rs);
        return rr;
}

struct push_progress {
        struct blob_push *b;
        uint64_t base;
};

static void on_sent(void *ctx, uint64_t pos)
{
        struct push_progress *p = ctx;
        if (p->b->progress)
                p->b->progress(p->b->ctx, p->base + pos, p->b->size);
}

/* Where the registry is with upload @loc (GET: 204 with Range "0-END" and a
 * new Location): 0 with *@off the bytes it holds, -errno when it cannot say
 * (the caller starts a new upload). */
static int upload_status(struct registry *r, struct fetch_conn *c, char **loc, uint64_t *off, struct err *e)
{
        struct http_req rq = { 0 };
        struct http_resp rs;
        int rr = registry_push_request(r, c, *loc, &rq, &rs, e);
        unsigned long long a, z;
        if (rr >= 0 && (rs.status == 204 || rs.status == 200) && rs.range &&
            sscanf(rs.range, "%llu-%llu", &a, &z) == 2 && a == 0 && z > 0) {
                *off = z + 1;       /* "0-0" is 0 or 1 byte: ambiguous, start again */
                if (rs.location) {
                        char *n = resolve(*loc, rs.location, NULL);
                        if (n) {
                                free(*loc);
                                *loc = n;
                        }
                }
        } else if (rr >= 0) {
                rr = err_setx(e, EPROTO, "upload status: HTTP %ld", rs.status);
        }
        http_resp_free(&rs);
        return rr;
}

/* Send the blob into upload @loc (NULL: start one): the rest in one PUT
 * when it fits in a chunk, else a PATCH of a chunk, until the closing PUT
 * ?digest= succeeds. */
static int upload(struct registry *r, struct fetch_conn *c, struct blob_push *b, char *loc, uint64_t min,
                  struct err *e)
{
        uint64_t chunk = upload_chunk_size(b->chunk, min), off = 0;
        int fails = 0, resumes = 0, rr = 0;
        for (;;) {
                if (rr < 0) {
                        /* a transient failure: see what the registry holds, go on from there */
                        if (++fails > registry_push_retries(r))
                                break;
                        registry_backoff(fails - 1);
                        struct err ie = { 0 };
                        uint64_t held = 0;
                        if (loc && upload_status(r, c, &loc, &held, &ie) >= 0 && held <= b->size) {
                                off = held;
                        } else {
                                free(loc);
                                loc = NULL;
                        }
                        rr = 0;
                }
                if (!loc) {
                        off = 0;
                        rr = upload_start(r, c, b->digest, NULL, &loc, &min, e);
                        if (rr == -EAGAIN || (rr < 0 && http_transient(rr, 0)))
                                continue;
                        if (rr < 0)
                                break;
                        if (chunk < min)
                                chunk = min;
                }
                bool last = b->size - off <= chunk;
                uint64_t n = last ? b->size - off : chunk;
                struct push_progress pp = { b, off };
                struct http_upload up = { .fd = b->fd, .off = off, .len = n, .progress = on_sent, .progress_ctx = &pp };
                char range[64];
                snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off, (unsigned long long)(off + n - 1));
                _cleanup_free_ char *dq = last ? xasprintf("digest=%s", b->digest) : NULL;
                _cleanup_free_ char *url = last ? resolve(loc, loc, dq) : xstrdup(loc);
                if (!url) {
                        rr = err_setx(e, EPROTO, "upload URL \"%.200s\" does not parse", loc);
                        break;
                }
                struct http_req rq = { .method = last ? "PUT" : "PATCH", .upload = &up, .content_type = OCTET_STREAM,
                                       .content_range = last || !n ? NULL : range };
                struct http_resp rs;
                rr = registry_push_request(r, c, url, &rq, &rs, e);
                b->sent += up.pos;
                if (rr < 0) {
                        http_resp_free(&rs);
                        rr = request_error(rr, e);
                        if (!http_transient(rr, 0))
                                break;
                        continue;
                }
                if (last && rs.status == 201) {
                        http_resp_free(&rs);
                        if (b->progress)
                                b->progress(b->ctx, b->size, b->size);
                        free(loc);
                        return 0;
                }
                if (!last && rs.status == 202) {
                        unsigned long long a, z;
                        uint64_t next = off + n;
                        if (rs.range && sscanf(rs.range, "%llu-%llu", &a, &z) == 2 && a == 0 && z + 1 <= next)
                                next = z + 1;
                        char *nl = rs.location ? resolve(loc, rs.location, NULL) : NULL;
                        if (nl) {
                                free(loc);
                                loc = nl;
                        }
                        http_resp_free(&rs);
                        if (next > off && fails && ++resumes <= PUSH_MAX_RESUMES)
                                fails = 0;   /* progress: the failure budget starts again */
                        off = next;
                        continue;
                }
                if (rs.status == 413 && n > FETCH_PUSH_CHUNK_FLOOR && n / 2 >= min) {
                        /* the registry (or what is in front of it) limits a request's size */
                        chunk = n / 2 < FETCH_PUSH_CHUNK_FLOOR ? FETCH_PUSH_CHUNK_FLOOR : n / 2;
                        http_resp_free(&rs);
                        continue;
                }
                rr = answer_error(&rs, last ? "upload blob" : "upload chunk", e);
                bool again = http_transient(0, rs.status) || rs.status == 404 || rs.status == 416;
                http_resp_free(&rs);
                if (!again)
                        break;
        }
        free(loc);
        return rr;
}

int registry_push_blob(struct registry *r, struct fetch_conn *c, struct blob_push *b, struct err *e)
{
        b->sent = 0;
        b->mounted_from = NULL;
        int rr = blob_head(r, c, b, e);
        if (rr < 0)
                return rr == -EACCES ? rr : err_wrap(e, "blob %s", b->digest);
        if (rr) {
                b->result = BLOB_EXISTS;
                return 0;
        }
        char *loc = NULL;
        uint64_t min = 0;
        for (size_t i = 0; i < b->n_mount_from && !loc; i++) {
                if (!strcmp(b->mount_from[i], registry_push_repo(r)))
                        continue;
                struct err ie = { 0 };
                rr = upload_start(r, c, b->digest, b->mount_from[i], &loc, &min, &ie);
                if (rr == 1) {
                        b->result = BLOB_MOUNTED;
                        b->mounted_from = b->mount_from[i];
                        return 0;
                }
                /* refused (no pull right on the source...): the next, or an upload;
                 * a 202 gave an upload to send the bytes into */
        }
        b->result = BLOB_PUSHED;
        rr = upload(r, c, b, loc, min, e);
        return rr < 0 && rr != -EACCES ? err_wrap(e, "blob %s", b->digest) : rr;
}

int registry_put_manifest(struct registry *r, struct fetch_conn *c, const char *reference,
                          const char *media_type, const void *body, size_t len, struct err *e)
{
        _cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", registry_push_url(r), registry_push_repo(r), reference);
        char want[DIGEST_STR_LEN + 1];
        sha256_digest(body, len, want);
        int rr = 0;
        for (int a = 0; a <= registry_push_retries(r); a++) {
                if (a)
                        registry_backoff(a - 1);
                struct http_upload up = { .fd = -1, .mem = body, .len = len };
                struct http_req rq = { .method = "PUT", .upload = &up, .content_type = media_type };
                struct http_resp rs;
                rr = registry_push_request(r, c, url, &rq, &rs, e);
                bool again;
                if (rr < 0) {
                        rr = request_error(rr, e);
                        again = http_transient(rr, 0);
                } else if (rs.status == 201 || rs.status == 200) {
                        if (rs.docker_digest && digest_valid(rs.docker_digest) && strcmp(rs.docker_digest, want))
                                rr = err_setx(e, EBADMSG, "the registry took the manifest as %s, not %s", rs.docker_digest, want);
                        again = false;
                } else {
                        rr = answer_error(&rs, "put manifest", e);
                        again = http_transient(0, rs.status);
                }
                http_resp_free(&rs);
                if (!again)
                        break;
        }
        return rr < 0 ? err_wrap(e, "manifest %s", reference) : 0;
}
