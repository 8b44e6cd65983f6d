/* cli/fetchcfg — the configuration in force (config.h) turned into what
 * fetch/ takes: struct fetch_config (sources) and the credential files.
 * Environment: $STRATA_CERTS_DIRS (colon-separated) replaces "certs-dirs";
 * the timeouts and retries below. */
#ifndef STRATA_CLI_FETCHCFG_H
#define STRATA_CLI_FETCHCFG_H

#include "config.h"
#include "fetch/fetch.h"

struct fetch_setup {
        struct config cfg;                   /* what was read */
        struct fetch_config fc;              /* borrows from cfg */
        struct fetch_registry_conf *regs;    /* fc.registries */
};

/* fetch_setup_load() - cfg_load(G.config), then --registry-mirror @cli_mirrors
 * (may be NULL), then the environment.  One line naming file, line and key
 * when malformed. */
int fetch_setup_load(struct fetch_setup *s, const struct strv *cli_mirrors, struct err *e);
void fetch_setup_free(struct fetch_setup *s);
/* registry_arg() - the registry a user typed ("https://host:5000/",
 * "index.docker.io", "docker.io/v1/") as references name it: "host:5000",
 * "docker.io".  Caller frees. */
char *registry_arg(const char *arg);
/* registry_sources() - the sources a pull from @registry of @repo would try
 * (fetch_sources_for()); the upstream is the last. */
int registry_sources(const struct fetch_setup *s, const char *registry, const char *repo,
                     struct fetch_source **out, size_t *n, struct err *e);

/* fetch_opts_from_env() - $STRATA_CONNECT_TIMEOUT, $STRATA_STALL_TIMEOUT
 * (whole seconds) and $STRATA_RETRIES (0: none) into @o; unset ones leave
 * the defaults. */
void fetch_opts_from_env(struct fetch_opts *o);

#endif
