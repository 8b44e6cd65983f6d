/* Unit tests for cli/sandbox.c's account lookup: sandbox_resolve_user()
 * reads the ROOTFS's etc/passwd and etc/group (never the host's), with
 * docker's (runc's) rules.  No namespaces here: the sandbox itself is tested
 * by tests/integration/test_run.py. */
#include "cli/sandbox.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char root[] = "/tmp/strata-test-sandbox-XXXXXX";
static int rootfd = -1;

static void put(const char *rel, const char *text)
{
        char path[256];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        FILE *f = fopen(path, "w");
        if (!f) {
                perror(path);
                exit(2);
        }
        fputs(text, f);
        fclose(f);
}

/* resolve() - "uid gid g1,g2,.. home" or "ERR <errno> <message>". */
static void resolve(const char *user, char *out, size_t outlen)
{
        uid_t uid;
        gid_t gid, groups[8];
        size_t n = 0;
        char *home = NULL;
        struct err e = { 0 };
        int r = sandbox_resolve_user(rootfd, user, &uid, &gid, groups, 8, &n, &home, &e);
        if (r < 0) {
                snprintf(out, outlen, "ERR %d %.400s", -r, e.msg);
                return;
        }
        int k = snprintf(out, outlen, "%u %u ", (unsigned)uid, (unsigned)gid);
        for (size_t i = 0; i < n && k < (int)outlen; i++)
                k += snprintf(out + k, outlen - (size_t)k, "%s%u", i ? "," : "", (unsigned)groups[i]);
        if (k < (int)outlen)
                snprintf(out + k, outlen - (size_t)k, " %s", home ? home : "-");
        free(home);
}

static void check(const char *user, const char *want)
{
        char got[512];
        resolve(user, got, sizeof got);
        char name[64];
        snprintf(name, sizeof name, "user \"%s\"", user ? user : "(null)");
        is_str(got, want, name);
}

int main(void)
{
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return 2;
        }
        char etc[300];
        snprintf(etc, sizeof etc, "%s/etc", root);
        mkdir(etc, 0755);
        rootfd = open(root, O_PATH | O_DIRECTORY);

        /* no passwd at all: numbers still work, names do not */
        check(NULL, "0 0 0 -");
        check("1000", "1000 0 0 -");
        check("1000:50", "1000 50 50 -");
        check("root", "ERR 2 unable to find user root: no matching entries in passwd file");

        put("etc/passwd",
            "# a comment line\n"
            "root:x:0:0:root:/root:/bin/sh\n"
            "broken line without fields\n"
            "bad:x:notanumber:0::/:/bin/sh\n"
            "app:x:1000:1001:app:/home/app:/bin/sh\n"
            "1234:x:2000:2000:numeric name:/n:/bin/sh\n"
            "nohome:x:3000:3000:::/bin/sh\n");
        put("etc/group",
            "root:x:0:\n"
            "wheel:x:10:root,app\n"
            "app:x:1001:\n"
            "staff:x:50:app\n"
            "odd:x:xx:app\n"
            "dup:x:50:app\n");

        check(NULL, "0 0 0,10 /root");
        check("", "0 0 0,10 /root");
        check("0", "0 0 0,10 /root");
        check("root", "0 0 0,10 /root");
        /* by name or by number: the passwd gid, then the groups listing the user */
        check("app", "1000 1001 1001,10,50 /home/app");
        check("1000", "1000 1001 1001,10,50 /home/app");
        /* an explicit group: that group only (runc's rule) */
        check("app:staff", "1000 50 50 /home/app");
        check("app:10", "1000 10 10 /home/app");
        check("app:nosuch", "ERR 2 unable to find group nosuch: no matching entries in group file");
        /* a uid not in passwd: gid 0, no home */
        check("4242", "4242 0 0 -");
        check("4242:4242", "4242 4242 4242 -");
        /* a name made of digits is a number, as in docker */
        check("1234", "1234 0 0 -");
        check("bad", "ERR 2 unable to find user bad: no matching entries in passwd file");
        check("nohome", "3000 3000 3000 -");
        check("nosuchuser", "ERR 2 unable to find user nosuchuser: no matching entries in passwd file");
        check("-1", "ERR 2 unable to find user -1: no matching entries in passwd file");

        /* the files are read inside the root: an absolute symlink does not
         * reach the host's /etc/passwd */
        char p[300];
        snprintf(p, sizeof p, "%s/etc/passwd", root);
        unlink(p);
        if (symlink("/etc/../etc/passwd-of-the-host-is-not-read", p) < 0)
                perror("symlink");
        check("1000", "1000 0 0 -");
        unlink(p);
        if (symlink("/etc/real-passwd", p) < 0)
                perror("symlink");
        put("etc/real-passwd", "app:x:77:88:app:/srv:/bin/sh\n");
        check("app", "77 88 88,10,50 /srv");

        /* capability names, docker's spelling */
        uint64_t b = 0;
        ok(sandbox_cap_parse("NET_ADMIN", &b) == 0 && b == 1ULL << 12, "cap NET_ADMIN");
        ok(sandbox_cap_parse("cap_sys_admin", &b) == 0 && b == 1ULL << 21, "cap cap_sys_admin");
        ok(sandbox_cap_parse("CHECKPOINT_RESTORE", &b) == 0 && b == 1ULL << 40, "cap CHECKPOINT_RESTORE");
        ok(sandbox_cap_parse("all", &b) == 0 && b == ~0ULL, "cap all");
        ok(sandbox_cap_parse("NOPE", &b) == -EINVAL, "cap NOPE refused");
        ok(sandbox_cap_parse("", &b) == -EINVAL, "empty cap refused");
        is_int((long long)sandbox_default_caps(), 0xa80425fbLL, "docker's default set");

        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", root);
        close(rootfd);
        return tap_done();
}
