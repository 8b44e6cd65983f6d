/* util/userns: id maps (fuse-overlayfs's uidmapping= form) and
 * containers-storage's override_stat values, good and bad. */
#include "tap.h"
#include "util/userns.h"

#include <string.h>

static void test_idmap(void)
{
        struct idrange r[IDMAP_MAX];
        size_t n;
        ok(idmap_parse("0:1000:1:1:100000:65536", r, &n) == 0 && n == 2, "two ranges parse");
        ok(r[1].inside == 1 && r[1].outside == 100000 && r[1].count == 65536, "second range");
        char buf[128];
        idmap_format(r, n, buf, sizeof buf);
        is_str(buf, "0:1000:1:1:100000:65536", "formats back");
        uint32_t v;
        ok(idmap_lookup(r, n, 0, true, &v) && v == 1000, "0 -> the user");
        ok(idmap_lookup(r, n, 33, true, &v) && v == 100032, "33 -> range start + 32");
        ok(idmap_lookup(r, n, 65536, true, &v) && v == 165535, "the last id of the range");
        ok(!idmap_lookup(r, n, 65537, true, &v), "past the range: unmapped");
        ok(idmap_lookup(r, n, 100032, false, &v) && v == 33, "back: 100032 -> 33");
        ok(!idmap_lookup(r, n, 1001, false, &v), "back: another user's id is unmapped");
        is_int(idmap_max_inside(r, n), 65536, "max inside");
        static const char *const bad[] = { "", "0", "0:1000", "0:1000:", "0:1000:0", "a:b:c", "0:1000:1:",
                                           "0:1000:1:1:2", "-1:0:1", "0:4294967296:1", "0:1000:1x",
                                           "0:0:1:0:0:1:0:0:1:0:0:1:0:0:1:0:0:1:0:0:1:0:0:1:0:0:1" };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                ok(idmap_parse(bad[i], r, &n) == -EINVAL, "refused: \"%s\"", bad[i]);
}

static void test_override_stat(void)
{
        uint32_t u, g;
        mode_t m;
        const char *v = "33:33:0750:dir";
        ok(override_stat_parse(v, strlen(v), &u, &g, &m) && u == 33 && g == 33 && m == 0750, "with a type");
        v = "0:0:04755";
        ok(override_stat_parse(v, strlen(v), &u, &g, &m) && u == 0 && m == 04755, "without a type (fuse-overlayfs)");
        static const char *const bad[] = { "", "33", "33:33", "33:33:", ":33:0755", "33::0755", "33:33:0789",
                                           "33:33:017777", "4294967295:0:0644", "x:0:0644", "33:33:0644x" };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                ok(!override_stat_parse(bad[i], strlen(bad[i]), &u, &g, &m), "refused: \"%s\"", bad[i]);
        char big[200];
        memset(big, '1', sizeof big);
        ok(!override_stat_parse(big, sizeof big, &u, &g, &m), "refused: longer than any value");
}

int main(void)
{
        test_idmap();
        test_override_stat();
        return tap_done();
}
