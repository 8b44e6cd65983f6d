/* Manifests, indexes, image configs and platforms.
 * Docker schema 2 and OCI image manifests; Docker manifest lists and OCI
 * indexes with platform selection; schema 1 refused. */
#include "fetch.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#define MAX_ENTRIES 4096     /* layers of a manifest, entries of an index */

static void descriptor_free(struct descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        platform_free(&d->platform);
}

void manifest_free(struct manifest *m)
{
        if (!m)
                return;
        free(m->media_type);
        descriptor_free(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_free(&m->layers[i]);
        free(m->layers);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_free(&m->manifests[i]);
        free(m->manifests);
        free(m);
}

void platform_free(struct platform *p)
{
        if (!p)
                return;
        free(p->os);
        free(p->arch);
        free(p->variant);
        memset(p, 0, sizeof *p);
}

static const char *jstr(json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_descriptor(json_t *o, const char *what, struct descriptor *d, struct err *e)
{
        if (!json_is_object(o))
                return err_setx(e, EBADMSG, "%s is not an object", what);
        const char *mt = jstr(o, "mediaType");
        const char *dg = jstr(o, "digest");
        json_t *sz = json_object_get(o, "size");
        if (!dg)
                return err_setx(e, EBADMSG, "%s has no digest", what);
        if (!digest_valid(dg))
                return err_setx(e, EBADMSG, "%s: digest \"%.80s\" is not sha256:<64 lowercase hex>", what, dg);
        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                return err_setx(e, EBADMSG, "%s has no valid size", what);
        d->media_type = xstrdup(mt ? mt : "");
        d->digest = xstrdup(dg);
        d->size = (uint64_t)json_integer_value(sz);
        json_t *pl = json_object_get(o, "platform");
        if (json_is_object(pl)) {
                const char *os = jstr(pl, "os"), *arch = jstr(pl, "architecture"), *var = jstr(pl, "variant");
                d->platform.os = xstrdup(os ? os : "");
                d->platform.arch = xstrdup(arch ? arch : "");
                d->platform.variant = var && *var ? xstrdup(var) : NULL;
        }
        return 0;
}

static bool is_schema1(const char *mt)
{
        return mt && (!strcmp(mt, MT_DOCKER_SCHEMA1) || !strcmp(mt, MT_DOCKER_SCHEMA1S) ||
                      !strcmp(mt, "application/json"));
}

static int parse_list(json_t *arr, const char *what, struct descriptor **out, size_t *n, struct err *e)
{
        if (!json_is_array(arr))
                return err_setx(e, EBADMSG, "\"%s\" is missing or not an array", what);
        size_t cnt = json_array_size(arr);
        if (cnt > MAX_ENTRIES)
                return err_setx(e, EFBIG, "more than %d %s", MAX_ENTRIES, what);
        *out = xcalloc(cnt ? cnt : 1, sizeof **out);
        *n = cnt;
        for (size_t i = 0; i < cnt; i++) {
                char name[64];
                snprintf(name, sizeof name, "%s[%zu]", what, i);
                int r = parse_descriptor(json_array_get(arr, i), name, &(*out)[i], e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int manifest_parse(const char *body, size_t len, const char *content_type,
                   struct manifest **out, struct err *e)
{
        *out = NULL;
        if (len > FETCH_MANIFEST_MAX)
                return err_setx(e, EFBIG, "manifest larger than %u bytes", FETCH_MANIFEST_MAX);
        json_error_t je;
        json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return err_setx(e, EBADMSG, "manifest is not JSON (line %d: %s)", je.line, je.text);
        _cleanup_(manifest_freep) struct manifest *m = xcalloc(1, sizeof *m);
        int r = 0;
        if (!json_is_object(j)) {
                r = err_setx(e, EBADMSG, "manifest is not a JSON object");
                goto out;
        }
        json_t *sv = json_object_get(j, "schemaVersion");
        const char *mt = jstr(j, "mediaType");
        char ct[256] = "";
        if (content_type) {
                snprintf(ct, sizeof ct, "%s", content_type);
                ct[strcspn(ct, "; ")] = '\0';
        }
        if ((json_is_integer(sv) && json_integer_value(sv) == 1) || is_schema1(mt) ||
            (!mt && is_schema1(ct) && strcmp(ct, "application/json"))) {
                r = err_setx(e, ENOTSUP, "Docker schema 1 manifests are not supported "
                                         "(deprecated since 2017): push the image again with a current client");
                goto out;
        }
        if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
                r = err_setx(e, EBADMSG, "manifest schemaVersion is not 2");
                goto out;
        }
        if (!mt || !*mt)
                mt = ct[0] ? ct : NULL;
        json_t *manifests = json_object_get(j, "manifests");
        json_t *layers = json_object_get(j, "layers");
        if (!mt) {
                /* OCI allows a missing mediaType: decide by the fields */
                mt = manifests ? MT_OCI_INDEX : MT_OCI_MANIFEST;
        }
        if (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST)) {
                m->kind = MANIFEST_INDEX;
                r = parse_list(manifests, "manifests", &m->manifests, &m->n_manifests, e);
        } else if (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST)) {
                m->kind = MANIFEST_IMAGE;
                r = parse_descriptor(json_object_get(j, "config"), "config", &m->config, e);
                if (r >= 0)
                        r = parse_list(layers, "layers", &m->layers, &m->n_layers, e);
        } else {
                r = err_setx(e, ENOTSUP, "unsupported manifest media type \"%.100s\"", mt);
        }
        if (r < 0)
                goto out;
        m->media_type = xstrdup(mt);
        *out = TAKE_PTR(m);
out:
        json_decref(j);
        return r;
}

/* ------------------------------------------------------------ platforms */

static const char *norm_arch(const char *a)
{
        if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64"))
                return "amd64";
        if (!strcmp(a, "aarch64"))
                return "arm64";
        if (!strcmp(a, "i386") || !strcmp(a, "i686"))
                return "386";
        return a;
}

static bool in_list(const char *const *list, const char *s)
{
        for (; *list; list++)
                if (!strcmp(*list, s))
                        return true;
        return false;
}

/* Go's GOOS and GOARCH values, the ones containerd's platforms.Parse knows. */
static const char *const known_os[] = {
        "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
        "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos", NULL
};
static const char *const known_arch[] = {
        "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle",
        "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv",
        "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm", NULL
};

/* @arch normalized into @p (armhf and armel name a variant too). */
static void set_arch(struct platform *p, const char *arch)
{
        if (!strcmp(arch, "armhf") || !strcmp(arch, "armel")) {
                p->arch = xstrdup("arm");
                if (!p->variant)
                        p->variant = xstrdup(arch[3] == 'h' ? "v7" : "v6");
                return;
        }
        p->arch = xstrdup(norm_arch(arch));
}

int platform_parse(const char *s, struct platform *p, struct err *e)
{
        memset(p, 0, sizeof *p);
        _cleanup_free_ char *low = xstrdup(s);
        for (char *c = low; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        const char *a = strchr(low, '/');
        if (!a) {
                /* one part, as docker takes it: an OS (the host's arch), or an
                 * arch (os linux) */
                struct platform h;
                if (in_list(known_os, low)) {
                        platform_host(&h);
                        p->os = xstrdup(low);
                        p->arch = TAKE_PTR(h.arch);
                        p->variant = TAKE_PTR(h.variant);
                        platform_free(&h);
                        return 0;
                }
                if (in_list(known_arch, norm_arch(low)) || !strcmp(low, "armhf") || !strcmp(low, "armel")) {
                        p->os = xstrdup("linux");
                        set_arch(p, low);
                        return 0;
                }
                return err_setx(e, EINVAL, "platform \"%s\": unknown operating system or architecture", s);
        }
        if (a == low || !a[1] || a[1] == '/')
                return err_setx(e, EINVAL, "platform \"%s\" is not os/arch[/variant]", s);
        const char *v = strchr(a + 1, '/');
        if (v && (!v[1] || strchr(v + 1, '/')))
                return err_setx(e, EINVAL, "platform \"%s\" is not os/arch[/variant]", s);
        p->os = xstrndup(low, (size_t)(a - low));
        _cleanup_free_ char *arch = v ? xstrndup(a + 1, (size_t)(v - a - 1)) : xstrdup(a + 1);
        p->variant = v ? xstrdup(v + 1) : NULL;
        set_arch(p, arch);
        return 0;
}

void platform_host(struct platform *p)
{
        struct utsname u;
        memset(p, 0, sizeof *p);
        p->os = xstrdup("linux");
        if (uname(&u) < 0)
                strcpy(u.machine, "x86_64");
        const char *m = u.machine;
        if (!strncmp(m, "armv7", 5)) {
                p->arch = xstrdup("arm");
                p->variant = xstrdup("v7");
        } else if (!strncmp(m, "armv6", 5)) {
                p->arch = xstrdup("arm");
                p->variant = xstrdup("v6");
        } else if (!strcmp(m, "aarch64") || !strcmp(m, "arm64")) {
                p->arch = xstrdup("arm64");
                p->variant = xstrdup("v8");
        } else {
                p->arch = xstrdup(norm_arch(m));
        }
}

char *platform_str(const struct platform *p)
{
        if (p->variant && *p->variant)
                return xasprintf("%s/%s/%s", p->os ? p->os : "", p->arch ? p->arch : "", p->variant);
        return xasprintf("%s/%s", p->os ? p->os : "", p->arch ? p->arch : "");
}

static bool same(const char *a, const char *b)
{
        return !strcmp(a ? a : "", b ? b : "");
}

/* 2: exact, 1: compatible, 0: no */
static int platform_match(const struct platform *have, const struct platform *want)
{
        if (!same(have->os, want->os) || !same(norm_arch(have->arch ? have->arch : ""), want->arch))
                return 0;
        if (same(have->variant, want->variant))
                return 2;
        if (!want->variant || !*want->variant)
                return 1;
        if (!strcmp(want->arch, "arm64")) {
                bool hv8 = !have->variant || !strcmp(have->variant, "v8");
                bool wv8 = !strcmp(want->variant, "v8");
                return hv8 && wv8 ? 2 : 0;
        }
        return 0;
}

bool platform_matches(const struct platform *have, const struct platform *want)
{
        return platform_match(have, want) > 0;
}

int manifest_select(const struct manifest *m, const struct platform *want,
                    const struct descriptor **out, struct err *e)
{
        *out = NULL;
        int best = 0;
        for (size_t i = 0; i < m->n_manifests; i++) {
                const struct descriptor *d = &m->manifests[i];
                if (!d->platform.os)
                        continue;
                if (strcmp(d->media_type, MT_OCI_MANIFEST) && strcmp(d->media_type, MT_DOCKER_MANIFEST) &&
                    d->media_type[0])
                        continue;
                int s = platform_match(&d->platform, want);
                if (s > best) {
                        best = s;
                        *out = d;
                }
        }
        if (*out)
                return 0;
        struct buf offer = BUF_INIT(2048);
        for (size_t i = 0; i < m->n_manifests; i++) {
                if (!m->manifests[i].platform.os)
                        continue;
                _cleanup_free_ char *s = platform_str(&m->manifests[i].platform);
                buf_printf(&offer, "%s%s", offer.len ? ", " : "", s);
        }
        _cleanup_free_ char *w = platform_str(want);
        int r = err_setx(e, ENOENT, "no manifest for platform %s in the index (it has: %s)", w,
                         offer.len ? offer.data : "none");
        buf_free(&offer);
        return r;
}

/* -------------------------------------------------------------- configs */

void config_free(struct image_config *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_diff_ids; i++)
                free(c->diff_ids[i]);
        free(c->diff_ids);
        free(c->os);
        free(c->arch);
        free(c->variant);
        memset(c, 0, sizeof *c);
}

/* RFC 3339 "2024-01-02T03:04:05.123456789Z" or with an offset → epoch secs */
static long long parse_time(const char *s)
{
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return 0;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        long off = 0;
        if (*p == '+' || *p == '-') {
                int hh = 0, mm = 0;
                if (sscanf(p + 1, "%d:%d", &hh, &mm) == 2)
                        off = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
        }
        return (long long)timegm(&tm) - off;
}

int config_parse(const char *body, size_t len, struct image_config *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        if (!j)
                return err_setx(e, EBADMSG, "image config is not JSON (line %d: %s)", je.line, je.text);
        int r = 0;
        json_t *rootfs = json_object_get(j, "rootfs");
        json_t *ids = json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
        if (!json_is_object(j) || !json_is_array(ids)) {
                r = err_setx(e, EBADMSG, "image config has no rootfs.diff_ids");
                goto out;
        }
        size_t n = json_array_size(ids);
        if (n > MAX_ENTRIES) {
                r = err_setx(e, EFBIG, "image config has more than %d diff_ids", MAX_ENTRIES);
                goto out;
        }
        out->diff_ids = xcalloc(n ? n : 1, sizeof *out->diff_ids);
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_array_get(ids, i);
                if (!json_is_string(v) || !digest_valid(json_string_value(v))) {
                        r = err_setx(e, EBADMSG, "image config: rootfs.diff_ids[%zu] is not a sha256 digest", i);
                        goto out;
                }
                out->diff_ids[i] = xstrdup(json_string_value(v));
                out->n_diff_ids = i + 1;
        }
        const char *os = jstr(j, "os"), *arch = jstr(j, "architecture"), *var = jstr(j, "variant");
        const char *created = jstr(j, "created");
        out->os = os ? xstrdup(os) : NULL;
        out->arch = arch ? xstrdup(arch) : NULL;
        out->variant = var ? xstrdup(var) : NULL;
        out->created = created ? parse_time(created) : 0;
out:
        json_decref(j);
        if (r < 0)
                config_free(out);
        return r;
}
