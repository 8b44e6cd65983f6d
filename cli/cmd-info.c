/* strata info [REF] — docker info's idea: the store and its usage, the
 * configuration in force (files, mirrors and where they came from, insecure
 * registries, certificate directories, credential sources), the FUSE and
 * kernel versions; with REF, the sources a pull of it would try, in order,
 * and the credentials each would get.  No network access. */
#include "cli.h"
#include "fetchcfg.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* Files and bytes in @dir (one level: blobs/sha256/, layers/). */
static size_t count_dir(const char *dir, uint64_t *bytes, char ***names)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || strlen(de->d_name) != SHA256_HEX_LEN)
                        continue;   /* only digests: no temporaries */
                struct stat st;
                if (bytes && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        *bytes += (uint64_t)st.st_size;
                if (names) {
                        *names = xrealloc(*names, (n + 1) * sizeof **names);
                        (*names)[n] = xasprintf("sha256:%s", de->d_name);
                }
                n++;
        }
        closedir(d);
        return n;
}

static int print_store(void)
{
        const char *root = default_root();
        printf("Store:\n Root Dir: %s\n", root);
        struct stat st;
        if (stat(root, &st) < 0) {
                printf(" (not created yet: the first pull makes it)\n");
                return 0;
        }
        struct err e = { 0 };
        struct store *s = NULL;
        int r = store_open(root, &s, &e);
        if (r < 0)
                return report_err(&e);
        struct store_image *ims = NULL;
        size_t n_im = 0;
        r = store_list_images(s, &ims, &n_im, &e);
        if (r < 0) {
                store_close(s);
                return report_err(&e);
        }
        size_t n_names = 0;
        for (size_t i = 0; i < n_im; i++) {
                n_names += ims[i].n_names;
                store_image_free(&ims[i]);
        }
        free(ims);
        uint64_t blob_bytes = 0, layer_bytes = 0;
        _cleanup_free_ char *bdir = xasprintf("%s/blobs/sha256", root), *ldir = xasprintf("%s/layers", root);
        size_t n_blobs = count_dir(bdir, &blob_bytes, NULL);
        char **layers = NULL;
        size_t n_layers = count_dir(ldir, NULL, &layers);
        for (size_t i = 0; i < n_layers; i++) {
                layer_bytes += store_layer_file_bytes(s, layers[i]);
                free(layers[i]);
        }
        free(layers);
        store_close(s);
        char b1[32], b2[32];
        human_size(blob_bytes, b1, sizeof b1);
        human_size(layer_bytes, b2, sizeof b2);
        printf(" Images: %zu (%zu names)\n Layers: %zu (%s unpacked)\n Blobs: %zu (%s)\n",
               n_im, n_names, n_layers, b2, n_blobs, b1);
        return 0;
}

static const char *state_of(const char *path)
{
        return path && access(path, F_OK) == 0 ? "" : " (absent)";
}

static void print_config(const struct fetch_setup *fs, const struct fetch_opts *o)
{
        const struct config *c = &fs->cfg;
        const char *env = getenv("STRATA_CONFIG");
        const char *own = G.config ? G.config : env && *env ? env : "/etc/strata/config.json";
        const char *dj = getenv("STRATA_DOCKER_DAEMON_JSON");
        dj = dj ? dj : "/etc/docker/daemon.json";
        printf("Config Files:\n strata: %s%s\n", own, c->file ? "" : " (absent)");
        if (*dj)
                printf(" docker: %s%s\n", dj, c->docker_file ? " (registry-mirrors, insecure-registries)" : " (absent)");
        printf("Registry Mirrors (Docker Hub):%s\n", c->mirrors.n ? "" : " none");
        for (size_t i = 0; i < c->mirrors.n; i++)
                printf(" %s (from %s)\n", c->mirrors.v[i], c->mirrors_from ? c->mirrors_from : "?");
        printf("Mirror Timeouts: connect %lds, stall %lds\n", c->connect_timeout_s, c->stall_timeout_s);
        if (c->min_speed > 0)
                printf("Mirror Min Speed: %ld bytes/s over %lds (a slower mirror is dropped)\n", c->min_speed,
                       c->stall_timeout_s);
        else
                printf("Mirror Min Speed: none (mirror-min-speed is 0)\n");
        printf("Insecure Registries:\n");
        for (size_t i = 0; i < c->insecure.n; i++)
                printf(" %s (from %s)\n", c->insecure.v[i], c->insecure_from ? c->insecure_from : "?");
        printf(" 127.0.0.0/8, ::1, localhost (loopback: always)\n");
        if (c->n_registries) {
                printf("Registries:\n");
                for (size_t i = 0; i < c->n_registries; i++) {
                        const struct registry_conf *rc = &c->registries[i];
                        printf(" %s%s\n", rc->host, rc->insecure ? " (insecure: plain HTTP)" : "");
                        for (size_t k = 0; k < rc->mirrors.n; k++)
                                printf("  mirror %s (from %s)\n", rc->mirrors.v[k], c->file ? c->file : "?");
                }
        }
        printf("Certificate Directories:\n");
        for (size_t i = 0; i < c->certs_dirs.n; i++)
                printf(" %s%s\n", c->certs_dirs.v[i], state_of(c->certs_dirs.v[i]));
        _cleanup_free_ char *af = fetch_auth_file_default(), *dc = fetch_docker_config_default();
        printf("Credentials (first hit wins):\n");
        printf(" strata: %s%s\n", af ? af : "(no HOME)", state_of(af));
        printf(" docker: %s%s\n", dc ? dc : "(no HOME)", state_of(dc));
        printf("Search Index: %s\n", c->search_index);
        (void)o;
}

static void print_versions(void)
{
        char line[256] = "";
        FILE *p = popen("fusermount3 --version 2>&1", "r");
        if (p) {
                if (!fgets(line, sizeof line, p))
                        line[0] = '\0';
                pclose(p);
        }
        line[strcspn(line, "\n")] = '\0';
        const char *v = strstr(line, "version: ");
        printf("FUSE: %s\n", v ? v + 9 : line[0] ? line : "fusermount3 not found");
        struct utsname u;
        if (uname(&u) == 0)
                printf("Kernel Version: %s\nArchitecture: %s\n", u.release, u.machine);
}

static int print_sources(const struct fetch_setup *fs, const struct fetch_opts *o, const char *text)
{
        struct image_ref ref;
        struct err e = { 0 };
        int r = ref_parse(text, &ref, &e);
        if (r < 0) {
                err_wrap(&e, "info %s", text);
                return report_err(&e);
        }
        struct fetch_source *srcs = NULL;
        size_t n = 0;
        r = fetch_sources_for(&ref, &fs->fc, &srcs, &n, &e);
        _cleanup_free_ char *name = ref_name(&ref);
        ref_free(&ref);
        if (r < 0) {
                err_wrap(&e, "info %s", text);
                return report_err(&e);
        }
        printf("Sources for %s, in order:\n", name);
        for (size_t i = 0; i < n; i++) {
                const struct fetch_source *s = &srcs[i];
                _cleanup_free_ char *creds = fetch_credentials_describe(o, s->host);
                printf(" %zu. %s %s\n", i + 1, s->mirror ? "mirror" : "registry", s->url);
                if (s->mirror)
                        printf("    timeouts: connect %lds, stall %lds\n", s->connect_timeout_s, s->stall_timeout_s);
                if (s->mirror && s->min_speed > 0)
                        printf("    min speed: %ld bytes/s over %lds\n", s->min_speed, s->min_speed_time_s);
                printf("    credentials: %s\n", creds);
                for (size_t k = 0; k < s->n_certs_dirs; k++)
                        printf("    certificates: %s\n", s->certs_dirs[k]);
        }
        fetch_sources_free(srcs, n);
        return 0;
}

int cmd_info(int argc, char **argv)
{
        int r = no_options("info", argc, argv);
        if (r)
                return r;
        if (argc - optind > 1)
                return usage_error("info", "requires at most 1 argument");
        struct err e = { 0 };
        struct fetch_setup fs;
        r = fetch_setup_load(&fs, NULL, &e);
        if (r < 0)
                return report_err(&e);
        struct fetch_opts o = { 0 };
        r = print_store();
        if (r == 0) {
                print_config(&fs, &o);
                print_versions();
        }
        if (r == 0 && optind < argc)
                r = print_sources(&fs, &o, argv[optind]);
        fetch_setup_free(&fs);
        return r;
}
