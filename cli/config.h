/* cli/config — the configuration in force: strata's own file
 * (/etc/strata/config.json, --config, $STRATA_CONFIG), falling back to
 * Docker's /etc/docker/daemon.json ($STRATA_DOCKER_DAEMON_JSON) for the keys
 * strata's file does not set, then the command line (--registry-mirror) and
 * the environment ($STRATA_REGISTRY_MIRRORS, comma-separated).
 *
 *   { "registry-mirrors": ["https://mirror.example"],            Docker Hub mirrors
 *     "insecure-registries": ["myreg.local:5000"],               plain HTTP allowed
 *     "registries": { "HOST[:PORT]": { "mirrors": [URL...], "insecure": false } },
 *     "mirror-connect-timeout": 3,                               seconds
 *     "mirror-stall-timeout": 5,                                 seconds without a byte
 *     "mirror-min-speed": 10240,                                 bytes/s over the stall timeout (0: off)
 *     "certs-dirs": ["/etc/strata/certs.d", "/etc/docker/certs.d"],
 *     "search-index": "https://index.docker.io",
 *     "mount-driver": "fuse" }                                     or "kernel" (root) */
#ifndef STRATA_CLI_CONFIG_H
#define STRATA_CLI_CONFIG_H

#include "util/util.h"

struct strv {
        char **v;
        size_t n;
};
void strv_push(struct strv *s, const char *x);
void strv_free(struct strv *s);
bool strv_has(const struct strv *s, const char *x);

struct registry_conf {
        char *host;            /* "HOST[:PORT]" */
        struct strv mirrors;
        bool insecure;
};

struct config {
        char *file;                    /* strata's file read, or NULL when absent */
        char *docker_file;             /* daemon.json read for fallbacks, or NULL */
        struct strv mirrors;           /* Docker Hub mirrors, in order */
        const char *mirrors_from;      /* which source set them: a file, "--registry-mirror", env */
        struct strv insecure;
        const char *insecure_from;
        size_t n_registries;
        struct registry_conf *registries;
        long connect_timeout_s, stall_timeout_s;
        long min_speed;                /* "mirror-min-speed", bytes/s; 0 = no such rule */
        struct strv certs_dirs;
        char *search_index;
        char *mount_driver;            /* "fuse" or "kernel", or NULL (fuse) */
};

/* cfg_load() - read the files in force.  @path is --config (NULL: the
 * default or $STRATA_CONFIG); a missing default file is no error, a missing
 * --config file is.  A malformed file fails with one line naming the file,
 * the line and the key, and *@out holds nothing to free. */
int cfg_load(const char *path, struct config *out, struct err *e);
/* cfg_set_cli_mirrors() - --registry-mirror URLs replace the files'
 * Docker Hub mirrors. */
void cfg_set_cli_mirrors(struct config *c, const struct strv *urls);
void cfg_free(struct config *c);
/* cfg_registry() - the per-registry entry for @host, or NULL. */
const struct registry_conf *cfg_registry(const struct config *c, const char *host);

#endif
