/* Unit tests for cli/load.c's path rules (LOAD INVARIANT 2 in cli/load.h). */
#include "cli/load.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void path(const char *base, const char *p, const char *want)
{
        char *got = load_norm_path(base, p);
        char name[256];
        snprintf(name, sizeof name, "%s%s%s -> %s", base ? base : "", base ? " + " : "", p, want ? want : "refused");
        is_str(got, want, name);
        free(got);
}

int main(void)
{
        path(NULL, "manifest.json", "manifest.json");
        path(NULL, "./blobs//sha256/./ab", "blobs/sha256/ab");
        path(NULL, "x/layer.tar", "x/layer.tar");
        path(NULL, "/etc/passwd", NULL);
        path(NULL, "../x", NULL);
        path(NULL, "a/../b", NULL);
        path(NULL, "a/..", NULL);
        /* link targets: up inside the archive, never out */
        path("x", "../y.tar", "y.tar");
        path("a/b", "../c", "a/c");
        path("", "../y", NULL);
        path("a/b", "../../../z", NULL);
        path("a", "/etc/passwd", NULL);
        path("", "./y", "y");
        return tap_done();
}
