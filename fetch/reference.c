/* Image references: the grammar of distribution/reference
 * (reference.go, normalize.go), written out by hand.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*
 *   domain     := host [ ":" port ]        host := dns-name | "[" ipv6 "]"
 *   path-comp. := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ":" hex        (strata pulls sha256 only)
 *
 * Normalization (docker's): the first component is a domain only when it
 * holds "." or ":" or is "localhost"; otherwise the domain is docker.io.
 * index.docker.io is docker.io; a one-component Docker Hub name gets
 * "library/"; no tag and no digest means "latest".  The normalized name
 * (domain/path) may not exceed 255 characters. */
#include "fetch.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static int bad(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct err *e, const char *fmt, ...)
{
        char rule[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rule, sizeof rule, fmt, ap);
        va_end(ap);
        return err_setx(e, EINVAL, "invalid reference format: %s", rule);
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_word(char c)
{
        return isalnum((unsigned char)c) || c == '_';
}

/* One path component [s, s+n). */
static int check_component(const char *s, size_t n, struct err *e)
{
        if (n == 0)
                return bad(e, "repository name has an empty path component");
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == start)
                        goto invalid;
                if (i == n)
                        return 0;
                /* a separator: ".", "_", "__" or one or more "-" */
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        goto invalid;
                if (i == n)
                        goto invalid;
        }
invalid:
        for (size_t k = 0; k < n; k++)
                if (isupper((unsigned char)s[k]))
                        return bad(e, "repository name must be lowercase");
        char comp[300];
        snprintf(comp, sizeof comp, "%.*s", (int)(n > 256 ? 256 : n), s);
        return bad(e, "path component \"%s\" must be lowercase letters and digits, "
                      "separated by '.', '_', '__' or '-', and start and end with a letter or digit", comp);
}

static int check_path(const char *s, size_t n, struct err *e)
{
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || s[i] == '/') {
                        int r = check_component(s + start, i - start, e);
                        if (r < 0)
                                return r;
                        start = i + 1;
                }
        }
        return 0;
}

/* domain: host [":" port]; host is dns labels or "[ipv6]". */
static int check_domain(const char *s, size_t n, struct err *e)
{
        char dom[300];
        snprintf(dom, sizeof dom, "%.*s", (int)(n > 256 ? 256 : n), s);
        size_t i = 0;
        if (n && s[0] == '[') {
                size_t k = 1;
                while (k < n && (is_hex(s[k]) || s[k] == ':'))
                        k++;
                if (k == 1 || k >= n || s[k] != ']')
                        return bad(e, "registry \"%s\": an IPv6 address must be hex digits and ':' in brackets", dom);
                i = k + 1;
        } else {
                for (;;) {
                        size_t start = i;
                        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-'))
                                i++;
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return bad(e, "registry \"%s\": a host name is letters, digits and '-' "
                                              "in dot-separated labels that do not start or end with '-'", dom);
                        if (i < n && s[i] == '.') {
                                i++;
                                continue;
                        }
                        break;
                }
        }
        if (i == n)
                return 0;
        if (s[i] != ':')
                return bad(e, "registry \"%s\": unexpected character after the host", dom);
        i++;
        if (i == n)
                return bad(e, "registry \"%s\": the port must be digits", dom);
        for (; i < n; i++)
                if (!isdigit((unsigned char)s[i]))
                        return bad(e, "registry \"%s\": the port must be digits", dom);
        return 0;
}

static int check_tag(const char *t, struct err *e)
{
        size_t n = strlen(t);
        if (n == 0)
                return bad(e, "the tag after ':' is empty");
        if (n > TAG_MAX_LEN)
                return bad(e, "a tag must not be more than 128 characters");
        if (!is_word(t[0]))
                return bad(e, "tag \"%s\" must start with a letter, digit or '_'", t);
        for (size_t i = 1; i < n; i++)
                if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
                        return bad(e, "tag \"%s\" may hold only letters, digits, '_', '.' and '-'", t);
        return 0;
}

static int check_digest(const char *d, struct err *e)
{
        const char *colon = strchr(d, ':');
        if (!colon || colon == d)
                return bad(e, "digest \"%s\" must be ALGORITHM:HEX", d);
        /* algorithm := [A-Za-z][A-Za-z0-9]* ([+._-][A-Za-z][A-Za-z0-9]*)* */
        for (const char *p = d; p < colon; p++) {
                bool sep = (*p == '+' || *p == '.' || *p == '_' || *p == '-');
                if (!(isalnum((unsigned char)*p) || sep) ||
                    ((p == d || sep) && !isalpha((unsigned char)p[sep ? 1 : 0])))
                        return bad(e, "digest \"%s\" has an invalid algorithm", d);
        }
        const char *hex = colon + 1;
        size_t hn = strlen(hex);
        for (size_t i = 0; i < hn; i++)
                if (!is_hex(hex[i]))
                        return bad(e, "digest \"%s\" must be hex after the algorithm", d);
        if ((size_t)(colon - d) != 6 || strncmp(d, "sha256", 6))
                return bad(e, "unsupported digest algorithm in \"%s\" (only sha256)", d);
        if (hn != SHA256_HEX_LEN)
                return bad(e, "a sha256 digest has 64 hex digits, \"%s\" does not", d);
        for (size_t i = 0; i < hn; i++)
                if (isupper((unsigned char)hex[i]))
                        return bad(e, "digest \"%s\" must be lowercase hex", d);
        return 0;
}

static bool all_hex64(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (int i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

int ref_parse(const char *s, struct image_ref *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        if (!s || !*s)
                return bad(e, "repository name must have at least one component");
        if (strlen(s) > 4096)
                return bad(e, "reference is longer than 4096 characters");
        if (all_hex64(s))
                return bad(e, "\"%s\" is a 64-character hexadecimal string, not a repository name", s);
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                        return bad(e, "references may not hold spaces or control or non-ASCII characters");

        _cleanup_free_ char *work = xstrdup(s);
        char *digest = NULL, *tag = NULL;
        char *at = strchr(work, '@');
        if (at) {
                *at = '\0';
                digest = at + 1;
                if (strchr(digest, '@'))
                        return bad(e, "more than one '@'");
                int r = check_digest(digest, e);
                if (r < 0)
                        return r;
        }
        char *slash = strrchr(work, '/');
        char *colon = strrchr(slash ? slash : work, ':');
        if (colon) {
                *colon = '\0';
                tag = colon + 1;
                int r = check_tag(tag, e);
                if (r < 0)
                        return r;
        }
        char *name = work;
        if (!*name)
                return bad(e, "repository name must have at least one component");

        const char *domain = "docker.io";
        size_t dlen = strlen(domain);
        char *path = name;
        char *first = strchr(name, '/');
        if (first) {
                size_t n = (size_t)(first - name);
                bool is_dom = memchr(name, '.', n) || memchr(name, ':', n) ||
                              (n == 9 && !strncmp(name, "localhost", 9));
                if (is_dom) {
                        int r = check_domain(name, n, e);
                        if (r < 0)
                                return r;
                        domain = name;
                        dlen = n;
                        path = first + 1;
                        if (dlen == 15 && !strncmp(domain, "index.docker.io", 15)) {
                                domain = "docker.io";
                                dlen = 9;
                        }
                }
        }
        int r = check_path(path, strlen(path), e);
        if (r < 0)
                return r;

        bool hub = dlen == 9 && !strncmp(domain, "docker.io", 9);
        char *repo = (hub && !strchr(path, '/')) ? xasprintf("library/%s", path) : xstrdup(path);
        if (dlen + 1 + strlen(repo) > NAME_MAX_LEN) {
                free(repo);
                return bad(e, "repository name must not be more than 255 characters");
        }
        out->registry = xstrndup(domain, dlen);
        out->repo = repo;
        out->digest = digest ? xstrdup(digest) : NULL;
        out->tag = tag ? xstrdup(tag) : (digest ? NULL : xstrdup("latest"));
        return 0;
}

void ref_free(struct image_ref *r)
{
        if (!r)
                return;
        free(r->registry);
        free(r->repo);
        free(r->tag);
        free(r->digest);
        memset(r, 0, sizeof *r);
}

char *ref_repo_name(const struct image_ref *r)
{
        return xasprintf("%s/%s", r->registry, r->repo);
}

char *ref_name(const struct image_ref *r)
{
        if (r->digest)
                return xasprintf("%s/%s@%s", r->registry, r->repo, r->digest);
        return xasprintf("%s/%s:%s", r->registry, r->repo, r->tag ? r->tag : "latest");
}

char *ref_familiar(const struct image_ref *r)
{
        const char *repo = r->repo;
        _cleanup_free_ char *base = NULL;
        if (!strcmp(r->registry, "docker.io")) {
                if (!strncmp(repo, "library/", 8) && !strchr(repo + 8, '/'))
                        repo += 8;
                base = xstrdup(repo);
        } else {
                base = xasprintf("%s/%s", r->registry, repo);
        }
        if (r->digest && r->tag)
                return xasprintf("%s:%s@%s", base, r->tag, r->digest);
        if (r->digest)
                return xasprintf("%s@%s", base, r->digest);
        return xasprintf("%s:%s", base, r->tag ? r->tag : "latest");
}

const char *ref_api_host(const struct image_ref *r)
{
        return strcmp(r->registry, "docker.io") ? r->registry : "registry-1.docker.io";
}

bool ref_is_loopback_host(const char *hostport)
{
        char host[300];
        const char *end;
        if (hostport[0] == '[') {
                end = strchr(hostport, ']');
                if (!end)
                        return false;
                snprintf(host, sizeof host, "%.*s", (int)(end - hostport - 1), hostport + 1);
        } else {
                end = strchr(hostport, ':');
                size_t n = end ? (size_t)(end - hostport) : strlen(hostport);
                snprintf(host, sizeof host, "%.*s", (int)(n > 256 ? 256 : n), hostport);
        }
        if (!strcmp(host, "localhost") || !strcmp(host, "::1"))
                return true;
        /* 127.0.0.0/8: four dotted decimal octets starting with 127 */
        if (strncmp(host, "127.", 4))
                return false;
        int dots = 0;
        for (const char *p = host + 4; *p; p++) {
                if (*p == '.')
                        dots++;
                else if (!isdigit((unsigned char)*p))
                        return false;
        }
        return dots == 2;
}
