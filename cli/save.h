/* cli/save — `strata save` without argv. */
#ifndef STRATA_CLI_SAVE_H
#define STRATA_CLI_SAVE_H

#include "store/store.h"

enum save_format { SAVE_DOCKER_ARCHIVE = 0, SAVE_OCI_ARCHIVE, SAVE_OCI_DIR };

struct save_opts {
        enum save_format format;
};

int save_format_parse(const char *s, enum save_format *f, struct err *e);

/* save_images() - write the images @args (names or IDs) to @out_fd: a tar
 * (docker-archive, oci-archive) or, for oci-dir, an empty directory's fd.
 * Layers shared by several images are written once.  Every layer written
 * to a docker archive is checked against its diff_id on the way. */
int save_images(struct store *s, char *const *args, size_t n, const struct save_opts *o, int out_fd,
                struct err *e);

#endif
