/* cli/layerview — what each layer of an image holds, and the merged view,
 * computed from the layer directories (overlayfs format: a whiteout is a 0/0
 * character device, an opaque directory has trusted.overlay.opaque=y).
 * Used by `layers`, `ls`, `which` and `diff`. */
#ifndef STRATA_CLI_LAYERVIEW_H
#define STRATA_CLI_LAYERVIEW_H

#include "util/util.h"
#include <sys/stat.h>

struct lv_entry {
        char *path;            /* "/etc/passwd" */
        struct stat st;        /* lstat of the entry in its layer */
        char *link;            /* symlink target, or NULL */
        bool whiteout;         /* 0/0 char device: PATH deleted */
        bool opaque;           /* directory hides everything below it */
        int layer;             /* index of the layer it is in (0 = bottom) */
};

struct lv_layer {
        char *dir;             /* the layer directory */
        size_t n;
        struct lv_entry *e;    /* sorted by path */
};

/* lv_read_layer() - walk @dir into @out (entries sorted by path). */
int lv_read_layer(const char *dir, int index, struct lv_layer *out, struct err *e);
void lv_layer_free(struct lv_layer *l);
/* lv_find() - the entry for @path in @l, or NULL. */
const struct lv_entry *lv_find(const struct lv_layer *l, const char *path);

/* The merged view of layers [0, n): for each visible path, the entry that
 * wins.  Sorted by path. */
struct lv_merged {
        size_t n;
        const struct lv_entry **e;
};
void lv_merge(const struct lv_layer *layers, size_t n, struct lv_merged *out);
void lv_merged_free(struct lv_merged *m);
const struct lv_entry *lv_merged_find(const struct lv_merged *m, const char *path);

/* What layer @l changes over the merged view @below: 'A' added, 'C' changed,
 * 'D' deleted (whiteouts, and what an opaque directory hides).  Calls @emit
 * in path order. */
void lv_diff(const struct lv_merged *below, const struct lv_layer *l,
             void (*emit)(char kind, const char *path, void *ctx), void *ctx);

#endif
