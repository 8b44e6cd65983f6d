/* Unit tests for cli/format.c: docker's human durations and sizes, names
 * for display, truncation, tables. */
#include "cli/format.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <string.h>

static void ago(long long secs, const char *want)
{
        char out[64];
        human_ago(1000000000, 1000000000 + secs, out, sizeof out);
        char name[96];
        snprintf(name, sizeof name, "human_ago(%lld s)", secs);
        is_str(out, want, name);
}

static void split(const char *name, const char *repo, const char *tag, const char *digest)
{
        char *r, *t, *d;
        split_store_name(name, &r, &t, &d);
        char label[256];
        snprintf(label, sizeof label, "split %s: repo", name);
        is_str(r, repo, label);
        snprintf(label, sizeof label, "split %s: tag", name);
        is_str(t, tag, label);
        snprintf(label, sizeof label, "split %s: digest", name);
        is_str(d, digest, label);
        free(r), free(t), free(d);
}

int main(void)
{
        ago(0, "Less than a second ago");
        ago(1, "1 second ago");
        ago(59, "59 seconds ago");
        ago(60, "About a minute ago");
        ago(150, "2 minutes ago");
        ago(3600, "About an hour ago");
        ago(47 * 3600, "47 hours ago");
        ago(3 * 86400, "3 days ago");
        ago(15 * 86400, "2 weeks ago");
        ago(90 * 86400, "3 months ago");
        ago(3LL * 365 * 86400, "3 years ago");

        char sz[32];
        human_size(0, sz, sizeof sz);
        is_str(sz, "0B", "size 0");
        human_size(999, sz, sizeof sz);
        is_str(sz, "999B", "size 999");
        human_size(4260000, sz, sizeof sz);
        is_str(sz, "4.26MB", "size 4.26MB (3 significant digits like docker)");
        human_size(129000000, sz, sizeof sz);
        is_str(sz, "129MB", "size 129MB");

        split("docker.io/library/busybox:latest", "busybox", "latest", NULL);
        split("docker.io/joe/app:1", "joe/app", "1", NULL);
        split("docker.io/library/a/b:1", "library/a/b", "1", NULL);
        split("127.0.0.1:5000/x/y:2", "127.0.0.1:5000/x/y", "2", NULL);
        split("localhost:5000/x@sha256:abc", "localhost:5000/x", "<none>", "sha256:abc");

        char *t = truncate_ellipsis("short", 45);
        is_str(t, "short", "no truncation under the limit");
        free(t);
        t = truncate_ellipsis("abcdefghij", 5);
        is_str(t, "abcd…", "cut to 5 characters with an ellipsis");
        free(t);
        t = truncate_ellipsis("ééééééé", 4);
        is_str(t, "ééé…", "UTF-8 counted as characters");
        free(t);

        is_int(parse_rfc3339("2023-11-14T22:13:20Z"), 1700000000, "RFC 3339 UTC");
        is_int(parse_rfc3339("2023-11-14T22:13:20.123456789Z"), 1700000000, "RFC 3339 fractional");
        is_int(parse_rfc3339("2023-11-15T00:13:20+02:00"), 1700000000, "RFC 3339 offset");
        is_int(parse_rfc3339("garbage"), 0, "garbage is 0");

        struct table tb;
        table_init(&tb, 3, "A", "BB", "C");
        table_add(&tb, "xxxx", "y", "z");
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        table_print(&tb, f);
        fclose(f);
        is_str(buf, "A      BB   C\nxxxx   y    z\n", "table padded to widest + 3, last column bare");
        free(buf);
        table_free(&tb);
        return tap_done();
}
