/* Authentication: WWW-Authenticate challenges, credentials from
 * ~/.docker/config.json, the bearer-token flow of the distribution spec
 * (docs/spec/auth/token.md): GET realm?service=S&scope=repository:R:pull,
 * with Basic credentials when there are some, answer {"token" or
 * "access_token", "expires_in"}. */
#include "fetch-internal.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------- WWW-Authenticate */

void wwwauth_free(struct www_auth *w)
{
        if (!w)
                return;
        free(w->scheme);
        free(w->realm);
        free(w->service);
        free(w->scope);
        free(w->error);
        memset(w, 0, sizeof *w);
}

/* RFC 7230 tchar */
static bool is_tchar(char c)
{
        return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

int wwwauth_parse(const char *hdr, struct www_auth *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        const char *p = skip_ws(hdr);
        const char *s = p;
        while (is_tchar(*p))
                p++;
        if (p == s)
                return err_setx(e, EINVAL, "WWW-Authenticate: no auth scheme");
        out->scheme = xstrndup(s, (size_t)(p - s));
        for (char *c = out->scheme; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        if (*p && *p != ' ' && *p != '\t') {
                wwwauth_free(out);
                return err_setx(e, EINVAL, "WWW-Authenticate: bad character after the scheme");
        }
        for (;;) {
                p = skip_ws(p);
                while (*p == ',' || *p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        return 0;
                const char *k = p;
                while (is_tchar(*p))
                        p++;
                size_t klen = (size_t)(p - k);
                if (!klen) {
                        wwwauth_free(out);
                        return err_setx(e, EINVAL, "WWW-Authenticate: expected a parameter name");
                }
                p = skip_ws(p);
                if (*p != '=')
                        return 0;   /* a token68 or the next challenge's scheme: stop at the first challenge */
                p = skip_ws(p + 1);
                _cleanup_free_ char *val = NULL;
                if (*p == '"') {
                        p++;
                        struct buf b = BUF_INIT(HTTP_HEADER_VALUE_MAX);
                        while (*p && *p != '"') {
                                if (*p == '\\' && p[1])
                                        p++;
                                if (buf_append(&b, p, 1) < 0)
                                        break;
                                p++;
                        }
                        if (*p != '"') {
                                buf_free(&b);
                                wwwauth_free(out);
                                return err_setx(e, EINVAL, "WWW-Authenticate: unterminated quoted string");
                        }
                        p++;
                        val = buf_steal(&b);
                } else {
                        const char *v = p;
                        while (is_tchar(*p) || *p == '/' || *p == ':' || *p == '=')
                                p++;
                        val = xstrndup(v, (size_t)(p - v));
                }
                static const struct { const char *name; size_t off; } keys[] = {
                        { "realm", offsetof(struct www_auth, realm) },
                        { "service", offsetof(struct www_auth, service) },
                        { "scope", offsetof(struct www_auth, scope) },
                        { "error", offsetof(struct www_auth, error) },
                };
                for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                        if (strlen(keys[i].name) == klen && !strncasecmp(k, keys[i].name, klen)) {
                                char **slot = (char **)((char *)out + keys[i].off);
                                free(*slot);
                                *slot = TAKE_PTR(val);
                                break;
                        }
                }
                p = skip_ws(p);
                if (*p && *p != ',') {
                        wwwauth_free(out);
                        return err_setx(e, EINVAL, "WWW-Authenticate: expected ',' between parameters");
                }
        }
}

/* --------------------------------------------------------- config.json */

char *auth_basic_header(const char *user, const char *pass)
{
        _cleanup_free_ char *plain = xasprintf("%s:%s", user, pass);
        size_t n = strlen(plain);
        char *out = xmalloc(6 + 4 * ((n + 2) / 3) + 1);
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)n);
        return out;
}

/* The host part of a config.json key: "https://index.docker.io/v1/" →
 * "index.docker.io".  Caller frees. */
static char *key_host(const char *key)
{
        const char *p = strstr(key, "://");
        p = p ? p + 3 : key;
        size_t n = strcspn(p, "/");
        return xstrndup(p, n);
}

static bool is_hub(const char *h)
{
        return !strcmp(h, "docker.io") || !strcmp(h, "index.docker.io") ||
               !strcmp(h, "registry-1.docker.io");
}

static int decode_auth(const char *b64, char **user, char **pass, struct err *e)
{
        size_t n = strlen(b64);
        if (n == 0 || n % 4 || n > 16384)
                return err_setx(e, EINVAL, "\"auth\" is not base64 of user:password");
        _cleanup_free_ unsigned char *raw = xmalloc(n / 4 * 3 + 1);
        int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
        if (len < 0)
                return err_setx(e, EINVAL, "\"auth\" is not base64 of user:password");
        if (b64[n - 1] == '=')
                len--;
        if (b64[n - 2] == '=')
                len--;
        raw[len] = '\0';
        if (memchr(raw, '\0', (size_t)len))
                return err_setx(e, EINVAL, "\"auth\" holds a NUL byte");
        char *colon = strchr((char *)raw, ':');
        if (!colon)
                return err_setx(e, EINVAL, "\"auth\" is not base64 of user:password");
        *user = xstrndup((char *)raw, (size_t)(colon - (char *)raw));
        *pass = xstrdup(colon + 1);
        return 0;
}

int dockerconfig_lookup(const char *json, size_t len, const char *registry,
                        char **user, char **pass, struct err *e)
{
        *user = *pass = NULL;
        json_error_t je;
        json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return err_setx(e, EINVAL, "line %d: %s", je.line, je.text);
        int r = -ENOENT;
        json_t *auths = json_object_get(root, "auths");
        if (!auths)
                goto out;
        if (!json_is_object(auths)) {
                r = err_setx(e, EINVAL, "\"auths\" is not an object");
                goto out;
        }
        bool hub = is_hub(registry);
        const char *key;
        json_t *ent;
        json_object_foreach(auths, key, ent) {
                _cleanup_free_ char *h = key_host(key);
                if (!(hub ? is_hub(h) : !strcmp(h, registry)))
                        continue;
                if (!json_is_object(ent)) {
                        r = err_setx(e, EINVAL, "\"auths\".\"%s\" is not an object", key);
                        goto out;
                }
                json_t *a = json_object_get(ent, "auth");
                json_t *u = json_object_get(ent, "username");
                json_t *pw = json_object_get(ent, "password");
                if (json_is_string(a) && json_string_length(a) > 0) {
                        r = decode_auth(json_string_value(a), user, pass, e);
                        if (r < 0)
                                err_wrap(e, "\"auths\".\"%s\"", key);
                        goto out;
                }
                if (json_is_string(u) && json_is_string(pw)) {
                        *user = xstrdup(json_string_value(u));
                        *pass = xstrdup(json_string_value(pw));
                        r = 0;
                        goto out;
                }
                /* an entry without credentials (credsStore users): keep looking */
        }
out:
        json_decref(root);
        return r;
}

/* auth_load_credentials() is in creds.c, with the other credential sources. */

/* ------------------------------------------------------------ the token */

int auth_fetch_token(struct fetch_conn *c, const struct www_auth *w, const char *scope,
                     const char *user, const char *pass, const struct fetch_opts *o, const struct fetch_tls *tls,
                     char **token, uint64_t *expires_ns, struct err *e)
{
        if (!w->realm)
                return err_setx(e, EPROTO, "bearer challenge without a realm");
        if (strncmp(w->realm, "https://", 8) && strncmp(w->realm, "http://", 7))
                return err_setx(e, EPROTO, "token realm \"%s\" is not an HTTP URL", w->realm);
        struct buf url = BUF_INIT(64 * 1024);
        char sep = strchr(w->realm, '?') ? '&' : '?';
        buf_printf(&url, "%s", w->realm);
        const char *sc = w->scope ? w->scope : scope;
        if (w->service) {
                char *v = curl_easy_escape(c->curl, w->service, 0);
                buf_printf(&url, "%cservice=%s", sep, v);
                curl_free(v);
                sep = '&';
        }
        /* several scopes (a push that mounts: "repository:A:pull,push
         * repository:B:pull") go as several scope parameters, as docker sends them */
        for (const char *p = sc; p && *p;) {
                size_t n = strcspn(p, " ");
                if (n) {
                        _cleanup_free_ char *one = xstrndup(p, n);
                        char *v = curl_easy_escape(c->curl, one, 0);
                        buf_printf(&url, "%cscope=%s", sep, v);
                        curl_free(v);
                        sep = '&';
                }
                p += n + (p[n] == ' ');
        }
        _cleanup_free_ char *basic = user ? auth_basic_header(user, pass) : NULL;
        struct buf body = BUF_INIT(FETCH_SMALL_MAX);
        struct http_req rq = {
                .url = url.data, .authorization = basic, .body = &body,
                .connect_timeout_s = o->connect_timeout_s, .stall_timeout_s = o->stall_timeout_s,
                .user_agent = o->user_agent, .tls = tls, .cancel = o->cancel,
        };
        struct http_resp rs;
        int r = http_do(c, &rq, &rs, e);
        if (r < 0)
                goto out;
        if (rs.status == 401 || rs.status == 403) {
                r = err_setx(e, EACCES, "token server refused %s: HTTP %ld", user ? "the credentials" : "anonymous access", rs.status);
                goto out;
        }
        if (rs.status != 200) {
                r = http_status_error(&rs, false, e);
                err_wrap(e, "token server");
                goto out;
        }
        json_error_t je;
        json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, &je);
        json_t *t = j ? json_object_get(j, "token") : NULL;
        if (!json_is_string(t) || !json_string_length(t))
                t = j ? json_object_get(j, "access_token") : NULL;
        if (!json_is_string(t) || !json_string_length(t)) {
                json_decref(j);
                r = err_setx(e, EPROTO, "token server answer has no token");
                goto out;
        }
        const char *tv = json_string_value(t);
        for (const char *q = tv; *q; q++)
                if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e) {
                        json_decref(j);
                        r = err_setx(e, EPROTO, "token holds characters not allowed in a header");
                        goto out;
                }
        json_t *ex = json_object_get(j, "expires_in");
        long long secs = json_is_integer(ex) ? json_integer_value(ex) : 60;
        if (secs < 60)
                secs = 60;   /* the spec's minimum */
        if (secs > 86400)
                secs = 86400;
        *token = xstrdup(tv);
        /* renew a little early so a long pull never sends a stale token */
        *expires_ns = now_ns() + (uint64_t)(secs - 10) * 1000000000ull;
        json_decref(j);
        r = 0;
out:
        http_resp_free(&rs);
        buf_free(&body);
        buf_free(&url);
        if (r < 0)
                err_wrap(e, "get token from %s", w->realm);
        return r;
}
