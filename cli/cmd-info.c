/* strata info [REF] — docker info's idea: the store and its usage, the
 * configuration in force (files, mirrors and where they came from, insecure
 * registries, certificate directories, credential sources), the FUSE and
 * kernel versions; with REF, the sources a pull of it would try, in order,
 * and the credentials each would get.  No network access. */
#include "cli.h"
#include "util/userns.h"
#include "fetchcfg.h"
#include "format.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
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

struct store_stats {
        bool exists;
        size_t n_images, n_names, n_layers, n_blobs;
        uint64_t layer_bytes, blob_bytes;
};

static int store_stats(const char *root, struct store_stats *st, struct err *e)
{
        struct stat sb;
        memset(st, 0, sizeof *st);
        if (stat(root, &sb) < 0)
                return 0;
        st->exists = true;
        struct store *s = NULL;
        int r = store_open(root, &s, e);
        if (r < 0)
                return r;
        struct store_image *ims = NULL;
        r = store_list_images(s, &ims, &st->n_images, e);
        if (r < 0) {
                store_close(s);
                return r;
        }
        for (size_t i = 0; i < st->n_images; i++) {
                st->n_names += ims[i].n_names;
                store_image_free(&ims[i]);
        }
        free(ims);
        _cleanup_free_ char *bdir = xasprintf("%s/blobs/sha256", root), *ldir = xasprintf("%s/layers", root);
        st->n_blobs = count_dir(bdir, &st->blob_bytes, NULL);
        char **layers = NULL;
        st->n_layers = count_dir(ldir, NULL, &layers);
        for (size_t i = 0; i < st->n_layers; i++) {
                st->layer_bytes += store_layer_file_bytes(s, layers[i]);
                free(layers[i]);
        }
        free(layers);
        store_close(s);
        return 0;
}

static void print_store(const struct store_stats *st)
{
        printf("Store:\n Root Dir: %s\n", default_root());
        if (!st->exists) {
                printf(" (not created yet: the first pull makes it)\n");
                return;
        }
        char b1[32], b2[32];
        human_size(st->blob_bytes, b1, sizeof b1);
        human_size(st->layer_bytes, b2, sizeof b2);
        printf(" Images: %zu (%zu names)\n Layers: %zu (%s unpacked)\n Blobs: %zu (%s)\n",
               st->n_images, st->n_names, st->n_layers, b2, st->n_blobs, b1);
}

/* Rootless or not, the id maps in force and where they came from. */
static void print_ids(void)
{
        const struct idmap *m = rootless_map();
        if (!m->rootless) {
                printf("Rootless: false (root: the host's ids; overlay xattrs %s*)\n", OVL_PREFIX_TRUSTED);
                return;
        }
        printf("Rootless: true (the store's user namespace; overlay xattrs %s*)\n", OVL_PREFIX_USER);
        for (int g = 0; g < 2; g++) {
                const struct idrange *r = g ? m->gid : m->uid;
                size_t n = g ? m->n_gid : m->n_uid;
                printf(" %s Map:", g ? "GID" : "UID");
                for (size_t i = 0; i < n; i++)
                        printf("%s %u-%u -> %u-%u", i ? "," : "", r[i].inside, r[i].inside + r[i].count - 1,
                               r[i].outside, r[i].outside + r[i].count - 1);
                printf(" (from %s)\n", g ? m->gid_source : m->uid_source);
        }
        if (m->single)
                printf(" Owners: in the %s xattr (one id mapped)\n", OVERRIDE_STAT_XATTR);
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

/* "3.14.0" from fusermount3 --version, or why not */
static void fuse_version(char *out, size_t n)
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
        snprintf(out, n, "%s", v ? v + 9 : line[0] ? line : "fusermount3 not found");
}

static void print_versions(void)
{
        char fv[256];
        fuse_version(fv, sizeof fv);
        printf("FUSE: %s\n", fv);
        struct utsname u;
        if (uname(&u) == 0)
                printf("Kernel Version: %s\nArchitecture: %s\n", u.release, u.machine);
}

static json_t *strv_json(const struct strv *v)
{
        json_t *a = json_array();
        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(a, json_string(v->v[i]));
        return a;
}

/* What the text says, as one object for --format: docker info's field names
 * where the idea is the same (DockerRootDir, Images, RegistryConfig,
 * KernelVersion...), strata's own otherwise. */
static json_t *info_json(const struct store_stats *st, const struct fetch_setup *fs)
{
        const struct config *c = &fs->cfg;
        char fv[256];
        fuse_version(fv, sizeof fv);
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof u);
        _cleanup_free_ char *af = fetch_auth_file_default(), *dc = fetch_docker_config_default();
        json_t *regs = json_object();
        for (size_t i = 0; i < c->n_registries; i++)
                json_object_set_new(regs, c->registries[i].host,
                                    json_pack("{s:o, s:b}", "Mirrors", strv_json(&c->registries[i].mirrors),
                                              "Insecure", c->registries[i].insecure));
        const struct idmap *m = rootless_map();
        char um[IDMAP_TEXT_MAX], gm[IDMAP_TEXT_MAX];
        idmap_format(m->uid, m->n_uid, um, sizeof um);
        idmap_format(m->gid, m->n_gid, gm, sizeof gm);
        json_t *ids = json_pack("{s:b, s:s, s:s, s:s, s:s, s:b, s:s}", "Rootless", m->rootless, "UIDMap", um,
                                "UIDMapSource", m->uid_source, "GIDMap", gm, "GIDMapSource", m->gid_source,
                                "OverrideStat", m->single,
                                "OverlayXattrs", m->rootless ? OVL_PREFIX_USER : OVL_PREFIX_TRUSTED);
        return json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?, s:{s:o, s:o, s:o}, s:{s:I, s:I},"
                         " s:o, s:{s:s?, s:s?}, s:s?, s:s, s:s, s:s, s:s, s:s, s:o}",
                         "DockerRootDir", default_root(), "StoreExists", st->exists,
                         "Images", (json_int_t)st->n_images, "Names", (json_int_t)st->n_names,
                         "Layers", (json_int_t)st->n_layers, "LayersSize", (json_int_t)st->layer_bytes,
                         "Blobs", (json_int_t)st->n_blobs, "BlobsSize", (json_int_t)st->blob_bytes,
                         "ConfigFile", c->file, "DockerConfigFile", c->docker_file,
                         "RegistryConfig", "Mirrors", strv_json(&c->mirrors), "InsecureRegistryCIDRs",
                         strv_json(&c->insecure), "Registries", regs,
                         "MirrorTimeouts", "Connect", (json_int_t)c->connect_timeout_s, "Stall",
                         (json_int_t)c->stall_timeout_s, "CertsDirs", strv_json(&c->certs_dirs),
                         "Credentials", "Strata", af, "Docker", dc, "IndexServerAddress", c->search_index,
                         "FUSEVersion", fv, "KernelVersion", u.release, "Architecture", u.machine,
                         "OSType", "linux", "ServerVersion", STRATA_VERSION, "IDMaps", ids);
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
        const char *format;
        int r = format_option("info", argc, argv, &format);
        if (r)
                return r;
        if (argc - optind > 1)
                return usage_error("info", "requires at most 1 argument");
        if (format && optind < argc)
                return usage_error("info", "--format shows the configuration: no IMAGE with it");
        struct err e = { 0 };
        struct fetch_setup fs;
        r = fetch_setup_load(&fs, NULL, &e);
        if (r < 0)
                return report_err(&e);
        struct fetch_opts o = { 0 };
        struct store_stats st;
        r = store_stats(default_root(), &st, &e);
        if (r >= 0 && format) {
                struct fmt_out out;
                r = fmt_open(&out, format, "{{json .}}", NULL, true, stdout, &e);
                if (r >= 0)
                        r = fmt_item(&out, info_json(&st, &fs), &e);
                r = fmt_close(&out, r, &e);
        } else if (r >= 0) {
                print_store(&st);
                print_ids();
                print_config(&fs, &o);
                print_versions();
        }
        if (r < 0) {
                err_wrap(&e, "info");
                r = report_err(&e);
        } else if (optind < argc) {
                r = print_sources(&fs, &o, argv[optind]);
        }
        fetch_setup_free(&fs);
        return r;
}
