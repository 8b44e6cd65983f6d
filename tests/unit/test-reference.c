/* fetch/reference.c: the reference grammar and docker's normalization.
 * The cases follow what distribution/reference's reference_test.go and
 * normalize_test.go cover (valid forms, the broken rules, Docker Hub
 * normalization, familiar names), in our own table. */
#include "fetch/fetch.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <string.h>

#define H64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D64 "sha256:" H64

struct good {
        const char *in;
        const char *registry, *repo, *tag, *digest;
        const char *name, *familiar;
};

static const struct good goods[] = {
        { "ubuntu", "docker.io", "library/ubuntu", "latest", NULL, "docker.io/library/ubuntu:latest", "ubuntu:latest" },
        { "ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", NULL, "docker.io/library/ubuntu:22.04", "ubuntu:22.04" },
        { "library/debian", "docker.io", "library/debian", "latest", NULL, NULL, "debian:latest" },
        { "docker.io/debian", "docker.io", "library/debian", "latest", NULL, NULL, "debian:latest" },
        { "docker.io/library/debian", "docker.io", "library/debian", "latest", NULL, NULL, NULL },
        { "index.docker.io/debian", "docker.io", "library/debian", "latest", NULL, NULL, NULL },
        { "index.docker.io/docker/docker", "docker.io", "docker/docker", "latest", NULL, NULL, "docker/docker:latest" },
        { "docker/docker", "docker.io", "docker/docker", "latest", NULL, "docker.io/docker/docker:latest", NULL },
        { "joe/myrepo:v1", "docker.io", "joe/myrepo", "v1", NULL, NULL, "joe/myrepo:v1" },
        { "test_com", "docker.io", "library/test_com", "latest", NULL, NULL, NULL },
        { "test.com:tag", "docker.io", "library/test.com", "tag", NULL, NULL, NULL },
        { "test.com:5000", "docker.io", "library/test.com", "5000", NULL, NULL, NULL },
        { "test.com/repo:tag", "test.com", "repo", "tag", NULL, "test.com/repo:tag", "test.com/repo:tag" },
        { "test:5000/repo", "test:5000", "repo", "latest", NULL, NULL, NULL },
        { "test:5000/repo:tag", "test:5000", "repo", "tag", NULL, NULL, NULL },
        { "test:5000/repo@" D64, "test:5000", "repo", NULL, D64, "test:5000/repo@" D64, "test:5000/repo@" D64 },
        { "test:5000/repo:tag@" D64, "test:5000", "repo", "tag", D64, "test:5000/repo@" D64, NULL },
        { "lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", NULL, NULL, NULL },
        { "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", "latest", NULL, NULL, NULL },
        { "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", NULL, NULL, NULL },
        { "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", NULL, NULL, NULL },
        { "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", NULL, NULL, NULL },
        { "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", NULL, NULL, NULL },
        { "foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", NULL, NULL, NULL },
        { "192.168.1.1", "docker.io", "library/192.168.1.1", "latest", NULL, NULL, NULL },
        { "192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", NULL, NULL, NULL },
        { "192.168.1.1/repo", "192.168.1.1", "repo", "latest", NULL, NULL, NULL },
        { "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", NULL, NULL, NULL },
        { "127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", "latest", NULL, NULL, "127.0.0.1:5000/library/debian:latest" },
        { "localhost/debian", "localhost", "debian", "latest", NULL, "localhost/debian:latest", NULL },
        { "localhost:5000/debian", "localhost:5000", "debian", "latest", NULL, NULL, NULL },
        { "[2001:db8::1]/repo", "[2001:db8::1]", "repo", "latest", NULL, NULL, NULL },
        { "[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", NULL, NULL, NULL },
        { "[::1]:5000/repo", "[::1]:5000", "repo", "latest", NULL, NULL, NULL },
        { "a__b/c--d/e.f_g", "docker.io", "a__b/c--d/e.f_g", "latest", NULL, NULL, NULL },
        { "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io",
          "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "latest", NULL, NULL, NULL },
        { "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
          "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "latest", NULL, NULL, NULL },
        { "busybox@" D64, "docker.io", "library/busybox", NULL, D64, "docker.io/library/busybox@" D64, "busybox@" D64 },
};

struct badcase {
        const char *in;
        const char *rule;       /* a piece of the message naming the rule */
};

static const struct badcase bads[] = {
        { "", "at least one component" },
        { ":justtag", "at least one component" },
        { "@" D64, "at least one component" },
        { "repo@sha256:ffffffffffffffffffffffffffffffffff", "64 hex digits" },
        { "validname@invaliddigest:" H64, "unsupported digest algorithm" },
        { "validname@sha512:" H64 H64, "unsupported digest algorithm" },
        { "repo@sha256:" "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "lowercase hex" },
        { "repo@sha256", "ALGORITHM:HEX" },
        { "Uppercase:tag", "must be lowercase" },
        { "test:5000/Uppercase/lowercase:tag", "must be lowercase" },
        { "docker/Docker", "must be lowercase" },
        { "docker.io/docker/Docker", "must be lowercase" },
        { "aa/asdf$$^/aa", "path component" },
        { "-docker", "path component" },
        { "-docker/docker", "path component" },
        { "docker-/docker", "path component" },
        { "docker///docker", "empty path component" },
        { "docker.io/docker///docker", "empty path component" },
        { "repo/", "empty path component" },
        { "a..b", "path component" },
        { "a___b", "path component" },
        { "https://github.com/docker/docker", "" },
        { "-docker.io/docker/docker", "host name" },
        { "[2001:db8::1]", "tag" },
        { "[fe80::1%eth0]:5000/repo", "IPv6" },
        { "test:5000x/repo", "port" },
        { "test:/repo", "port" },
        { "repo:", "tag after ':' is empty" },
        { "repo:-tag", "must start with" },
        { "repo:ta/g", "port" },
        { "repo:t@g", "" },
        { "repo@" D64 "@" D64, "more than one '@'" },
        { "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "64-character hexadecimal" },
        { "name with space", "spaces" },
        { "caf\xc3\xa9", "non-ASCII" },
};

static void test_good(void)
{
        for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
                const struct good *g = &goods[i];
                struct image_ref r;
                struct err e = { 0 };
                int rc = ref_parse(g->in, &r, &e);
                ok(rc == 0, "parse \"%.60s\"%s%s", g->in, rc ? ": " : "", rc ? e.msg : "");
                if (rc)
                        continue;
                is_str(r.registry, g->registry, "  registry");
                is_str(r.repo, g->repo, "  repo");
                is_str(r.tag, g->tag, "  tag");
                is_str(r.digest, g->digest, "  digest");
                if (g->name) {
                        char *n = ref_name(&r);
                        is_str(n, g->name, "  name");
                        free(n);
                }
                if (g->familiar) {
                        char *f = ref_familiar(&r);
                        is_str(f, g->familiar, "  familiar");
                        free(f);
                }
                ref_free(&r);
        }
}

static void test_bad(void)
{
        for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
                const struct badcase *b = &bads[i];
                struct image_ref r;
                struct err e = { 0 };
                int rc = ref_parse(b->in, &r, &e);
                ok(rc == -EINVAL, "refuse \"%.60s\"", b->in);
                ok(strstr(e.msg, "invalid reference format") && strstr(e.msg, b->rule),
                   "  names the rule \"%s\" (got: %s)", b->rule, e.msg);
                ok(!r.registry && !r.repo, "  nothing allocated");
        }
}

static void test_lengths(void)
{
        /* 255 characters is the most a normalized name may have */
        char name[400];
        struct image_ref r;
        struct err e = { 0 };
        strcpy(name, "regi.io/");
        size_t n = strlen(name);
        while (n < 255 - 1) {
                name[n++] = 'a';
                name[n++] = '/';
        }
        name[n++] = 'a';
        name[n] = '\0';
        is_int(ref_parse(name, &r, &e), 0, "255-character name accepted");
        ref_free(&r);
        strcat(name, "/b");
        is_int(ref_parse(name, &r, &e), -EINVAL, "257-character name refused");
        ok(strstr(e.msg, "255 characters") != NULL, "  names the length rule");
        /* docker.io + library/ count against the limit too */
        char tag[200];
        memset(tag, 'x', 128);
        tag[128] = '\0';
        char *s = NULL;
        if (asprintf(&s, "busybox:%s", tag) > 0) {
                is_int(ref_parse(s, &r, &e), 0, "128-character tag accepted");
                ref_free(&r);
                free(s);
        }
        if (asprintf(&s, "busybox:%sx", tag) > 0) {
                is_int(ref_parse(s, &r, &e), -EINVAL, "129-character tag refused");
                free(s);
        }
}

static void test_hosts(void)
{
        struct image_ref r;
        struct err e = { 0 };
        ref_parse("busybox", &r, &e);
        is_str(ref_api_host(&r), "registry-1.docker.io", "Docker Hub API host");
        ref_free(&r);
        ref_parse("127.0.0.1:5000/x", &r, &e);
        is_str(ref_api_host(&r), "127.0.0.1:5000", "other registries are their own API host");
        ref_free(&r);
        ok(ref_is_loopback_host("127.0.0.1:5000"), "127.0.0.1:5000 is loopback");
        ok(ref_is_loopback_host("127.1.2.3"), "127.1.2.3 is loopback");
        ok(ref_is_loopback_host("localhost:5000"), "localhost is loopback");
        ok(ref_is_loopback_host("[::1]:5000"), "[::1] is loopback");
        ok(!ref_is_loopback_host("127.0.0.1.example.com"), "127.0.0.1.example.com is not");
        ok(!ref_is_loopback_host("10.0.0.1:5000"), "10.0.0.1 is not");
        ok(!ref_is_loopback_host("docker.io"), "docker.io is not");
}

int main(void)
{
        test_good();
        test_bad();
        test_lengths();
        test_hosts();
        return tap_done();
}
