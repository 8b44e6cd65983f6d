/* strata pull [OPTIONS] REF — argv to pull_opts, then one call. */
#include "cli.h"
#include "fetchcfg.h"
#include "pull.h"
#include "workers.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* pull -a REPO: every tag the registry lists, in its order, one pull each;
 * the first failure stops (docker's). */
static int pull_all_tags(struct store *s, const char *text, const struct pull_opts *o, struct err *e)
{
        struct image_ref ref;
        int r = ref_parse(text, &ref, e);
        if (r < 0)
                return r;
        const char *slash = strrchr(text, '/');
        if (ref.digest || strchr(slash ? slash : text, ':')) {
                ref_free(&ref);
                return err_setx(e, EINVAL, "tag can't be used with --all-tags/-a");
        }
        struct fetch_source *srcs = NULL;
        size_t n_srcs = 0;
        struct registry *reg = NULL;
        char **tags = NULL;
        size_t n = 0;
        r = fetch_sources_for(&ref, o->cfg, &srcs, &n_srcs, e);
        if (r >= 0)
                r = registry_open(&ref, srcs, n_srcs, &o->fetch, &reg, e);
        if (r >= 0) {
                struct fetch_conn *c = fetch_conn_new();
                r = registry_list_tags(reg, c, &tags, &n, e);
                fetch_conn_free(c);
        }
        registry_close(reg);
        fetch_sources_free(srcs, n_srcs);
        _cleanup_free_ char *repo = ref_repo_name(&ref);
        ref_free(&ref);
        if (r >= 0 && n == 0)
                r = err_setx(e, ENOENT, "the repository has no tags");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *one = xasprintf("%s:%s", repo, tags[i]);
                if (r >= 0 && (r = pull_image(s, one, o, e)) < 0)
                        err_wrap(e, "tag %s", tags[i]);
                free(tags[i]);
        }
        free(tags);
        return r;
}

/* --registry-mirror is for Docker Hub content, as in dockerd: given with a
 * reference elsewhere it is ignored, and the user told so once. */
static void hub_mirrors_only(const char *text, bool given)
{
        struct image_ref ref;
        struct err ie = { 0 };
        if (!given || ref_parse(text, &ref, &ie) < 0)
                return;    /* a bad reference is the pull's to report */
        if (strcmp(ref.registry, "docker.io"))
                fprintf(stderr, "strata: pull %s: --registry-mirror ignored: it applies to Docker Hub images only "
                        "(as in dockerd); mirrors of %s go under \"registries\" in the configuration\n",
                        text, ref.registry);
        ref_free(&ref);
}

int cmd_pull(int argc, char **argv)
{
        struct pull_opts o = { 0 };
        struct strv mirrors = { 0 };
        static const struct option opts[] = {
                { "registry-mirror", required_argument, NULL, 'm' },
                { "platform", required_argument, NULL, 'p' },
                { "quiet", no_argument, NULL, 'q' },
                { "jobs", required_argument, NULL, 'j' },
                { "all-tags", no_argument, NULL, 'a' },
                { 0 }
        };
        bool all_tags = false;
        int c;
        while ((c = getopt_long(argc, argv, "qj:a", opts, NULL)) != -1) {
                switch (c) {
                case 'p': o.platform = optarg; break;
                case 'q': o.quiet = true; break;
                case 'j':
                        if (!workers_parse(optarg, &o.jobs))
                                return usage_error("pull", "-j takes a number from 1 to %d", WORKERS_MAX);
                        break;
                case 'm': strv_push(&mirrors, optarg); break;
                case 'a': all_tags = true; break;
                default: return bad_option("pull", argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("pull", "requires exactly 1 argument");
        const char *ref = argv[optind];
        if (!o.platform) {
                /* docker's variable for the default platform */
                const char *dp = getenv("DOCKER_DEFAULT_PLATFORM");
                if (dp && *dp)
                        o.platform = dp;
        }
        fetch_opts_from_env(&o.fetch);

        struct err e = { 0 };
        struct store *s = NULL;
        struct fetch_setup fs;
        /* the configuration first: a malformed one leaves the store untouched */
        int r = fetch_setup_load(&fs, &mirrors, &e);
        bool flag_mirrors = mirrors.n > 0;
        strv_free(&mirrors);
        if (r < 0)
                return report_err(&e);
        hub_mirrors_only(ref, flag_mirrors);
        o.cfg = &fs.fc;
        r = store_open(default_root(), &s, &e);
        if (r >= 0 && all_tags)
                r = pull_all_tags(s, ref, &o, &e);
        else if (r >= 0)
                r = pull_image(s, ref, &o, &e);
        store_close(s);
        fetch_setup_free(&fs);
        if (r < 0) {
                err_wrap(&e, "pull %s", ref);
                int rc = report_err(&e);
                return r == -EINTR ? 128 + SIGINT : rc;   /* Ctrl-C: 130, as a shell reports it */
        }
        return 0;
}
