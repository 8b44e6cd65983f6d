/* The configuration in force, as fetch/ takes it (see fetchcfg.h). */
#include "fetchcfg.h"
#include "cli.h"

#include <string.h>

/* On failure nothing is left to free (cfg_load()'s contract too). */
int fetch_setup_load(struct fetch_setup *s, const struct strv *cli_mirrors, struct err *e)
{
        memset(s, 0, sizeof *s);
        int r = cfg_load(G.config, &s->cfg, e);
        if (r < 0)
                return r;
        struct config *c = &s->cfg;
        for (size_t i = 0; cli_mirrors && i < cli_mirrors->n; i++) {
                const char *u = cli_mirrors->v[i];
                if ((strncmp(u, "https://", 8) || !u[8]) && (strncmp(u, "http://", 7) || !u[7])) {
                        cfg_free(c);   /* on failure nothing is left to free */
                        return err_setx(e, EINVAL, "--registry-mirror \"%s\": not an http:// or https:// URL", u);
                }
        }
        if (cli_mirrors)
                cfg_set_cli_mirrors(c, cli_mirrors);
        const char *cd = getenv("STRATA_CERTS_DIRS");
        if (cd && *cd) {
                strv_free(&c->certs_dirs);
                _cleanup_free_ char *list = xstrdup(cd);
                char *save = NULL;
                for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
                        strv_push(&c->certs_dirs, d);
        }
        s->regs = xcalloc(c->n_registries ? c->n_registries : 1, sizeof *s->regs);
        for (size_t i = 0; i < c->n_registries; i++)
                s->regs[i] = (struct fetch_registry_conf){
                        .host = c->registries[i].host, .mirrors = c->registries[i].mirrors.v,
                        .n_mirrors = c->registries[i].mirrors.n, .insecure = c->registries[i].insecure,
                };
        s->fc = (struct fetch_config){
                .mirrors = c->mirrors.v, .n_mirrors = c->mirrors.n,
                .insecure = c->insecure.v, .n_insecure = c->insecure.n,
                .registries = s->regs, .n_registries = c->n_registries,
                .mirror_connect_timeout_s = c->connect_timeout_s,
                .mirror_stall_timeout_s = c->stall_timeout_s,
                .certs_dirs = c->certs_dirs.v, .n_certs_dirs = c->certs_dirs.n,
        };
        return 0;
}

void fetch_setup_free(struct fetch_setup *s)
{
        free(s->regs);
        cfg_free(&s->cfg);
        memset(s, 0, sizeof *s);
}

char *registry_arg(const char *arg)
{
        const char *p = strstr(arg, "://");
        p = p ? p + 3 : arg;
        char *h = xstrndup(p, strcspn(p, "/"));
        if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io") || !*h) {
                free(h);
                h = xstrdup("docker.io");
        }
        return h;
}

int registry_sources(const struct fetch_setup *s, const char *registry, const char *repo,
                     struct fetch_source **out, size_t *n, struct err *e)
{
        struct image_ref ref = { .registry = (char *)registry, .repo = (char *)repo, .tag = "latest" };
        return fetch_sources_for(&ref, &s->fc, out, n, e);
}

/* A whole number of seconds from the environment, or @dflt. */
static long env_seconds(const char *name, long dflt)
{
        const char *v = getenv(name);
        if (!v || !*v)
                return dflt;
        char *end;
        long n = strtol(v, &end, 10);
        return (*end || n <= 0) ? dflt : n;
}

void fetch_opts_from_env(struct fetch_opts *o)
{
        o->connect_timeout_s = env_seconds("STRATA_CONNECT_TIMEOUT", 0);
        o->stall_timeout_s = env_seconds("STRATA_STALL_TIMEOUT", 0);
        const char *rt = getenv("STRATA_RETRIES");
        if (rt && *rt)
                o->retries = atoi(rt) > 0 ? atoi(rt) : -1;
}
