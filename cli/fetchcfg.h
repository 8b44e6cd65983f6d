/* cli/fetchcfg — the configuration in force (config.h) turned into what
 * fetch/ takes: struct fetch_config (sources) and the credential files.
 * Environment: $STRATA_CERTS_DIRS (colon-separated) replaces "certs-dirs". */
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

#endif
