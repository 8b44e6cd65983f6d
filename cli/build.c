/* strata build, the orchestration: see build.h for the invariants. */
#include "build-internal.h"
#include "containerfile/containerfile.h"
#include "buildcopy.h"
#include "buildsrc.h"
#include "cli.h"
#include "commit.h"
#include "newimage.h"
#include "runmount.h"
#include "sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define FILE_MAX (4u << 20)
#define STATUS_FAILED 1

static const char *const proxy_args[] = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                                          "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", NULL };

static bool is_proxy_arg(const char *k, size_t kl)
{
        for (const char *const *p = proxy_args; *p; p++)
                if (strlen(*p) == kl && !strncmp(*p, k, kl))
                        return true;
        return false;
}

/* K=V strings: the value of @k, or NULL. */
static const char *kv_get(char *const *v, size_t n, const char *k)
{
        size_t kl = strlen(k);
        for (size_t i = 0; i < n; i++)
                if (!strncmp(v[i], k, kl) && v[i][kl] == '=')
                        return v[i] + kl + 1;
        return NULL;
}

/* Replace K's entry or append (the vector stays NULL-terminated). */
static void kv_set(char ***v, size_t *n, const char *k, const char *val)
{
        size_t kl = strlen(k);
        char *kv = xasprintf("%s=%s", k, val);
        for (size_t i = 0; i < *n; i++)
                if (!strncmp((*v)[i], k, kl) && (*v)[i][kl] == '=') {
                        free((*v)[i]);
                        (*v)[i] = kv;
                        return;
                }
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = kv;
        (*v)[*n] = NULL;
}

json_t *cfg_of(struct bstate *b)
{
        json_t *c = json_object_get(b->img, "config");
        if (!json_is_object(c)) {
                c = json_object();
                json_object_set_new(b->img, "config", c);
        }
        return c;
}

/* Expansion: the stage's Env first (ENV wins over ARG), then the ARGs. */
const char *lookup_var(void *ctx, const char *name)
{
        struct bstate *b = ctx;
        size_t i;
        json_t *x;
        size_t nl = strlen(name);
        json_array_foreach(json_object_get(cfg_of(b), "Env"), i, x) {
                const char *s = json_string_value(x);
                if (s && !strncmp(s, name, nl) && s[nl] == '=')
                        return s + nl + 1;
        }
        return kv_get(b->args, b->n_args, name);
}

static const char *lookup_global(void *ctx, const char *name)
{
        struct bstate *b = ctx;
        return kv_get(b->gargs, b->n_gargs, name);
}

/* The --build-arg value of @k: true with *@v set (NULL: -build-arg K with
 * no host value). */
static bool build_arg(struct bstate *b, const char *k, const char **v)
{
        size_t kl = strlen(k);
        bool found = false;
        for (size_t i = 0; i < b->o->n_build_args; i++) {
                const char *a = b->o->build_args[i];
                if (!strncmp(a, k, kl) && (a[kl] == '=' || !a[kl])) {
                        found = true;
                        b->used_bargs[i] = true;
                        *v = a[kl] == '=' ? a + kl + 1 : getenv(k);
                }
        }
        return found;
}

/* ARG NAME[=default]...: into @args (the stage's, or the global ones). */
static int do_arg(struct bstate *b, const struct bf_instr *in, bool global, struct err *e)
{
        char **w;
        size_t n;
        int r = bf_pairs(in->args[0], b->f->escape, false, &w, &n, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char *eq = strchr(w[i], '=');
                _cleanup_free_ char *k = eq ? xstrndup(w[i], (size_t)(eq - w[i])) : xstrdup(w[i]);
                const char *v = NULL;
                _cleanup_free_ char *def = NULL;
                if (eq) {
                        char **dv;
                        size_t dn;
                        r = bf_words(eq + 1, b->f->escape, global ? lookup_global : lookup_var, b, false, &dv, &dn, e);
                        if (r < 0)
                                break;
                        def = xstrdup(dn ? dv[0] : "");
                        bf_strv_free(dv);
                        v = def;
                } else if (!global) {
                        v = kv_get(b->gargs, b->n_gargs, k);   /* the global value comes into the stage */
                }
                build_arg(b, k, &v);
                if (v)
                        kv_set(global ? &b->gargs : &b->args, global ? &b->n_gargs : &b->n_args, k, v);
        }
        bf_strv_free(w);
        return r;
}

/* The instruction as the STEP line shows it. */
static char *instr_text(const struct bf_instr *in)
{
        struct buf t = BUF_INIT(SIZE_MAX);
        buf_printf(&t, "%s", in->keyword);
        for (size_t i = 0; i < in->n_flags; i++)
                buf_printf(&t, " %s", in->flags[i]);
        if (in->json) {
                json_t *a = args_array(in);
                char *j = json_dumps(a, JSON_COMPACT);
                buf_printf(&t, " %s", j);
                free(j);
                json_decref(a);
        } else {
                buf_printf(&t, " %s", in->args[0]);
        }
        return buf_steal(&t);
}

/* Append to a NULL-terminated vector. */
static void strv_add(char ***v, size_t *n, char *x)
{
        *v = xrealloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = x;
        (*v)[*n] = NULL;
}

static void short_id(const char *id, char out[13])
{
        snprintf(out, 13, "%s", digest_hex(id));
}

/* ------------------------------------------------------------- the cache */

/* Image @id made current (b->im, b->img). */
static int set_current(struct bstate *b, const char *id, struct err *e)
{
        struct store_image im = { 0 };
        json_t *img = NULL;
        int r = store_find_image(b->s, id, &im, e);
        if (r >= 0)
                r = image_config_json(b->s, &im, &img, e);
        if (r < 0) {
                store_image_free(&im);
                return r;
        }
        store_image_free(&b->im);
        json_decref(b->img);
        b->im = im;
        b->img = img;
        return 0;
}

/* A cached step's image: true with it made current. */
static bool cache_get(struct bstate *b, const char *key)
{
        if (b->o->no_cache)
                return false;
        char id[DIGEST_STR_LEN + 1];
        struct err e = { 0 };
        return store_build_cache_get(b->s, key, id, &e) >= 0 && set_current(b, id, &e) >= 0;
}

static void cache_put(struct bstate *b, const char *key, const char *id)
{
        struct err e = { 0 };
        if (store_build_cache_put(b->s, key, id, &e) < 0)
                debugf("build: cache entry not written: %s", e.msg);
}

/* -------------------------------------------------------------- steps */

/* The new image of a step: @b->img (changed by the step) committed with
 * @nl's layer (NULL: none), recorded unnamed, made current. */
static int step_commit(struct bstate *b, const char *created_by, const struct new_layer *nl, struct err *e)
{
        struct pack_commit_info ci = { .created_by = created_by,
                                       .created = b->o->tar.clamp ? b->o->tar.epoch : time(NULL),
                                       .author = json_string_value(json_object_get(b->img, "author")) };
        json_t *out = NULL;
        char id[DIGEST_STR_LEN + 1];
        int r = pack_config_commit(b->img, NULL, 0, nl ? nl->diff_id : NULL, &ci, &out, e);
        if (r >= 0)
                r = new_image_record_step(b->s, out, PACK_FORMAT_OCI, b->im.id ? &b->im : NULL, nl, NULL, true, id, e);
        json_decref(out);
        return r < 0 ? r : set_current(b, id, e);
}

typedef int (*fs_action)(struct bstate *b, const char *rootfs, void *ctx, struct err *e);

static uint64_t data_blocks;

static int count_data(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (type == FTW_F && S_ISREG(st->st_mode))
                data_blocks += (uint64_t)st->st_blocks;
        return 0;
}

/* --debug: the bytes the regular files of the writable layer @upper take on
 * disk (a metadata-only copy takes none). */
static uint64_t upper_data_bytes(const char *upper)
{
        data_blocks = 0;
        (void)nftw(upper, count_data, 64, FTW_PHYS);
        return data_blocks * 512;
}

/* A step that writes: the current image mounted with a fresh writable
 * layer, @act on it, the layer copied into the store as commit does (none
 * when nothing changed).  *@nl is set when a layer was made. */
static int fs_step(struct bstate *b, fs_action act, fs_action after, void *ctx, struct new_layer *nl, bool *made,
                   struct err *e)
{
        struct run_mount rm = { .daemon = -1 };
        *made = false;
        uint64_t t0 = now_ns(), t1 = t0, t2 = t0, t3 = t0;
        int r = mount_for_run(b->s, &b->im, "strata-build", false, NULL, &rm, e);
        if (r >= 0)
                r = act(b, rm.m.mountpoint, ctx, e);
        t1 = now_ns();
        struct err ue = { 0 };
        int ur = unmount_after_run(b->s, &rm, false, &ue);
        if (r >= 0 && ur < 0) {
                *e = ue;
                r = ur;
        }
        if (r >= 0 && after)   /* the daemon is gone: the writable layer is ours */
                r = after(b, rm.m.upper, ctx, e);
        if (r >= 0 && b->status == 0) {
                _cleanup_free_ char *tmp = NULL;
                _cleanup_close_ int dest = -1;
                struct pack_stats st;
                rm.m.pid = 0;   /* the daemon is gone: nothing to pause */
                t2 = now_ns();
                uint64_t on_disk = G.debug ? upper_data_bytes(rm.m.upper) : 0;
                r = commit_snapshot_move(b->s, &rm.m, &b->im, true, &tmp, &dest, &st, e);
                t3 = now_ns();
                if (r >= 0)
                        debugf("build: the writable layer holds %llu entries (%llu metadata-only copies of lower "
                               "files) whose data takes %llu bytes on disk, %llu file bytes in the layer",
                               (unsigned long long)st.entries, (unsigned long long)st.metacopies,
                               (unsigned long long)on_disk, (unsigned long long)st.file_bytes);
                if (r >= 0 && st.entries == 0) {
                        store_discard_tmpdir(b->s, tmp);   /* changed nothing: no layer (as buildah) */
                } else if (r >= 0) {
                        r = new_layer_commit(b->s, tmp, PACK_FORMAT_OCI, &b->o->tar, &st, nl, e);
                        *made = r >= 0;
                }
        }
        debugf("build: step times: mount and work %.3f s, unmount %.3f s, snapshot %.3f s, layer %.3f s",
               (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, (double)(t3 - t2) / 1e9,
               (double)(now_ns() - t3) / 1e9);
        if (rm.m.id) {
                struct err de = { 0 };
                (void)store_mount_remove(b->s, &rm.m, &de);
        }
        store_mount_free(&rm.m);
        return r;
}

/* The environment of a RUN: the config's Env (PATH defaulted), then the
 * build args in scope that ENV does not set, and the proxy build args. */
static char **run_env(struct bstate *b)
{
        char **env = xcalloc(1, sizeof *env);
        size_t n = 0, i;
        json_t *x;
        json_array_foreach(json_object_get(cfg_of(b), "Env"), i, x) {
                const char *s = json_string_value(x);
                const char *eq = s ? strchr(s, '=') : NULL;
                if (eq) {
                        _cleanup_free_ char *k = xstrndup(s, (size_t)(eq - s));
                        kv_set(&env, &n, k, eq + 1);
                }
        }
        if (!kv_get(env, n, "PATH"))
                kv_set(&env, &n, "PATH", SANDBOX_DEFAULT_PATH);
        for (i = 0; i < b->n_args; i++) {
                const char *eq = strchr(b->args[i], '=');
                _cleanup_free_ char *k = xstrndup(b->args[i], (size_t)(eq - b->args[i]));
                if (!kv_get(env, n, k))
                        kv_set(&env, &n, k, eq + 1);
        }
        for (i = 0; i < b->o->n_build_args; i++) {
                const char *a = b->o->build_args[i];
                size_t kl = strcspn(a, "=");
                if (is_proxy_arg(a, kl)) {
                        _cleanup_free_ char *k = xstrndup(a, kl);
                        const char *v = a[kl] ? a + kl + 1 : getenv(k);
                        if (v && !kv_get(env, n, k))
                                kv_set(&env, &n, k, v);
                        b->used_bargs[i] = true;
                }
        }
        return env;
}

/* SHELL (default /bin/sh -c) with @cmd appended. */
json_t *shell_form(struct bstate *b, const char *cmd)
{
        json_t *sh = json_object_get(cfg_of(b), "Shell");
        json_t *a = json_is_array(sh) && json_array_size(sh) ? json_deep_copy(sh) : json_pack("[s, s]", "/bin/sh", "-c");
        json_array_append_new(a, json_string(cmd));
        return a;
}

struct run_ctx {
        char **argv;
};

static int run_action(struct bstate *b, const char *rootfs, void *ctx, struct err *e)
{
        struct run_ctx *rc = ctx;
        char **env = run_env(b);
        json_t *c = cfg_of(b);
        const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
        const char *user = json_string_value(json_object_get(c, "User"));
        struct sandbox_opts so = { .rootfs = rootfs, .argv = rc->argv, .env = env,
                                   .workdir = wd && *wd ? wd : NULL, .user = user && *user ? user : NULL };
        fflush(stdout);
        int saved = -1;
        if (b->o->quiet) {   /* stdout is the image ID's: the command's output goes to stderr */
                saved = dup(1);
                dup2(2, 1);
        }
        int status = 0;
        int r = sandbox_run(&so, &status, e);
        if (saved >= 0) {
                dup2(saved, 1);
                close(saved);
        }
        bf_strv_free(env);
        if (r < 0)
                return r;
        b->status = status;
        return 0;
}

struct copy_ctx {
        bool add;                  /* ADD: local tar archives are extracted */
        char **words;              /* the sources as written, expanded (--from) */
        size_t n_words;
        struct store_image from;   /* --from's image, or zeroed */
        char **srcs;
        size_t n;
        const char *dest;
        const char *chown;
        struct copy_spec cs;
        struct staging st;         /* heredoc files, ADD's downloads */
        char **staged;             /* their paths in @st */
        size_t n_staged;
        char **urls;               /* ADD URLs with --checksum: fetched on a cache miss */
        size_t n_urls;
        const char *checksum;
        bool direct;               /* the writes go straight into the writable layer */
};

/* The sources that are not the context's, staged: the URLs fetched now (a
 * cache miss). */
static int copy_staged(struct bstate *b, struct copy_ctx *cc, int rootfd, struct err *e)
{
        int r = 0;
        for (size_t i = 0; i < cc->n_urls && r >= 0; i++) {
                char *rel = NULL, dg[DIGEST_STR_LEN + 1];
                r = staging_url(b->s, &cc->st, cc->urls[i], cc->checksum, &rel, dg, e);
                if (r >= 0)
                        strv_add(&cc->staged, &cc->n_staged, rel);
        }
        if (r < 0 || !cc->n_staged)
                return r;
        size_t dl = strlen(cc->dest);
        _cleanup_free_ char *dest = xasprintf("%s%s", cc->dest, cc->n + cc->n_staged > 1 && cc->dest[dl - 1] != '/' ? "/" : "");
        struct copy_src src = { cc->st.fd, true, NULL };
        return copy_into(&src, cc->staged, cc->n_staged, rootfd, dest, &cc->cs, e);
}

/* COPY's targets (as copy_into() names them): may they be written straight
 * into the writable layer (copy_direct_prepare())?  Not for ADD's archives,
 * which the unpacker extracts. */
static int direct_ready(struct bstate *b, struct copy_ctx *cc, int rootfd, struct err *e)
{
        if (cc->add && cc->n)
                return 0;
        size_t n = cc->n + cc->n_staged + cc->n_urls, k = 0;
        char **t = xcalloc(n + 1, sizeof *t);
        bool *dir = xcalloc(n + 1, sizeof *dir);
        bool dest_dir = copy_dest_dir(rootfd, cc->dest);
        size_t dl = strlen(cc->dest);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *name = NULL;
                if (i < cc->n) {
                        struct stat st;
                        if (fstatat(b->ctxfd, *cc->srcs[i] ? cc->srcs[i] : ".", &st, 0) < 0)
                                break;   /* the copy through the union says why */
                        dir[i] = S_ISDIR(st.st_mode);
                        const char *sl = strrchr(cc->srcs[i], '/');
                        name = xstrdup(sl ? sl + 1 : cc->srcs[i]);
                } else if (i < cc->n + cc->n_staged) {
                        const char *sl = strrchr(cc->staged[i - cc->n], '/');
                        name = xstrdup(sl ? sl + 1 : cc->staged[i - cc->n]);
                } else if (staging_url_name(cc->urls[i - cc->n - cc->n_staged], &name, e) < 0) {
                        r = -EINVAL;
                        break;
                }
                t[k] = dir[i] || !dest_dir ? xstrdup(cc->dest)
                                           : xasprintf("%s%s%s", cc->dest, cc->dest[dl - 1] == '/' ? "" : "/", name);
                for (size_t tl = strlen(t[k]); tl > 1 && t[k][tl - 1] == '/'; tl--)
                        t[k][tl - 1] = '\0';
                k++;
        }
        if (r >= 0 && k == n && n)
                r = copy_direct_prepare(rootfd, t, dir, n, cc->cs.uid, cc->cs.gid, e);
        else if (r >= 0)
                r = 0;
        bf_strv_free(t);
        free(dir);
        cc->direct = r > 0;
        debugf("build: %s writes %s", cc->add ? "ADD" : "COPY",
               cc->direct ? "straight into the writable layer" : "through the union");
        return r;
}

static int copy_action(struct bstate *b, const char *rootfs, void *ctx, struct err *e);

/* After the unmount: a direct COPY into the writable layer @upper. */
static int copy_after(struct bstate *b, const char *upper, void *ctx, struct err *e)
{
        struct copy_ctx *cc = ctx;
        if (!cc->direct)
                return 0;
        _cleanup_close_ int rootfd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return err_set(e, errno, "open %s", upper);
        struct copy_src src = { b->ctxfd, false, &b->ignore };
        int r = 0;
        if (cc->n)
                r = copy_into(&src, cc->srcs, cc->n, rootfd, cc->dest, &cc->cs, e);
        return r < 0 ? r : copy_staged(b, cc, rootfd, e);
}

static int copy_action(struct bstate *b, const char *rootfs, void *ctx, struct err *e)
{
        struct copy_ctx *cc = ctx;
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return err_set(e, errno, "open %s", rootfs);
        if (cc->chown) {
                gid_t groups[1];
                size_t ng;
                int r = sandbox_resolve_user(rootfd, cc->chown, &cc->cs.uid, &cc->cs.gid, groups, 0, &ng, NULL, e);
                if (r < 0)
                        return err_wrap(e, "--chown=%s", cc->chown);
        }
        const char *wd = json_string_value(json_object_get(cfg_of(b), "WorkingDir"));
        if (wd && *wd) {
                int r = copy_mkdir_p(rootfd, wd, 0, 0, e);
                if (r < 0)
                        return r;
        }
        if (!cc->from.id) {
                if (cc->n + cc->n_staged + cc->n_urls > 1 && !copy_dest_dir(rootfd, cc->dest))
                        return err_setx(e, EINVAL, COPY_MANY_NEED_DIR);
                int r = direct_ready(b, cc, rootfd, e);
                if (r != 0)
                        return r < 0 ? r : 0;   /* copy_after() does the work */
                struct copy_src src = { b->ctxfd, false, &b->ignore };
                if (cc->n)
                        r = cc->add ? add_into(&src, cc->srcs, cc->n, rootfd, cc->dest, &cc->cs, e)
                                    : copy_into(&src, cc->srcs, cc->n, rootfd, cc->dest, &cc->cs, e);
                return r < 0 ? r : copy_staged(b, cc, rootfd, e);
        }
        /* --from: the image mounted (its writable layer dropped afterwards) */
        struct run_mount fm = { .daemon = -1 };
        int r = mount_for_run(b->s, &cc->from, "strata-build-from", false, NULL, &fm, e);
        _cleanup_close_ int from = -1;
        if (r >= 0) {
                from = open(fm.m.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (from < 0)
                        r = err_set(e, errno, "open %s", fm.m.mountpoint);
        }
        struct copy_src src = { from, true, NULL };
        if (r >= 0)
                r = copy_expand_sources(&src, cc->words, cc->n_words, &cc->srcs, &cc->n, e);
        if (r >= 0)
                r = copy_into(&src, cc->srcs, cc->n, rootfd, cc->dest, &cc->cs, e);
        struct err ue = { 0 };
        (void)unmount_after_run(b->s, &fm, true, &ue);
        store_mount_free(&fm.m);
        return r;
}

static int mkdir_action(struct bstate *b, const char *rootfs, void *ctx, struct err *e)
{
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return err_set(e, errno, "open %s", rootfs);
        return copy_mkdir_p(rootfd, ctx, 0, 0, e);
}

/* COPY --from=X: a stage by name or number (built before), else an image
 * (pulled when missing). */
static int copy_from_image(struct bstate *b, const char *x, struct store_image *out, struct err *e)
{
        char *end;
        unsigned long k = strtoul(x, &end, 10);
        for (size_t i = 0; i < b->cur; i++)
                if ((b->stages[i].name && !strcasecmp(b->stages[i].name, x)) || (*x && !*end && k == i)) {
                        if (!b->stages[i].built)
                                return err_setx(e, EINVAL, "--from=%s: that stage was not built", x);
                        return store_find_image(b->s, b->stages[i].id, out, e);
                }
        if (*x && !*end)
                return err_setx(e, EINVAL, "--from=%s: no such stage before this one", x);
        int r = lookup_image(b->s, x, out, NULL, e);
        if (r == -ENOENT) {
                err_clear(e);
                r = pull_missing(b->s, x, b->o->platform, e);
                if (r >= 0)
                        r = lookup_image(b->s, x, out, NULL, e);
        }
        return r;
}

static bool is_url(const char *s)
{
        return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* COPY/ADD's sources (@w, expanded): the context's matched, heredocs and
 * URLs staged (a URL with --checksum only on a cache miss); @content the
 * digest over them all (build.h invariant 4). */
static int copy_sources(struct bstate *b, const struct bf_instr *in, char **w, size_t n, struct copy_ctx *cc,
                        char content[DIGEST_STR_LEN + 1], struct err *e)
{
        char **ctxw = xcalloc(n + 1, sizeof *ctxw);
        size_t nc = 0, hk = 0;
        struct buf parts = BUF_INIT(SIZE_MAX);
        cc->checksum = bf_flag(in, "checksum");
        int r = 0;
        if (cc->checksum && (strncmp(cc->checksum, "sha256:", 7) || !digest_valid(cc->checksum)))
                r = err_setx(e, EINVAL, "--checksum=%s: not sha256:HEX (64 hex digits)", cc->checksum);
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *rel = NULL, dg[DIGEST_STR_LEN + 1];
                if (!strncmp(w[i], "<<", 2) && hk < in->n_bodies) {
                        const char *name = in->heredoc_names[hk];
                        name += name[0] == '-';
                        _cleanup_free_ char *body = NULL;
                        if (in->heredoc_quoted[hk])
                                body = xstrdup(in->heredoc_bodies[hk]);
                        else
                                r = bf_heredoc_expand(in->heredoc_bodies[hk], lookup_var, b, &body, e);
                        if (r >= 0 && (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")))
                                r = err_setx(e, EINVAL, "<<%s: a heredoc's name is a file name (no '/')", name);
                        if (r >= 0)
                                r = staging_file(b->s, &cc->st, name, body, &rel, dg, e);
                        if (r >= 0) {
                                strv_add(&cc->staged, &cc->n_staged, rel);
                                buf_printf(&parts, "heredoc %s %s\n", name, dg);
                        }
                        hk++;
                } else if (is_url(w[i])) {
                        if (in->kind == BF_COPY) {
                                r = err_setx(e, EINVAL, "%s: a URL source is for ADD (COPY copies from the context)",
                                             w[i]);
                        } else if (cc->checksum) {
                                _cleanup_free_ char *name = NULL;
                                r = staging_url_name(w[i], &name, e);   /* refused now, not after the cache */
                                strv_add(&cc->urls, &cc->n_urls, xstrdup(w[i]));
                                buf_printf(&parts, "url %s %s\n", w[i], cc->checksum);
                        } else {
                                r = staging_url(b->s, &cc->st, w[i], NULL, &rel, dg, e);
                                if (r >= 0) {
                                        strv_add(&cc->staged, &cc->n_staged, rel);
                                        buf_printf(&parts, "url %s %s\n", w[i], dg);
                                }
                        }
                } else {
                        ctxw[nc++] = w[i];
                }
        }
        if (r >= 0 && cc->checksum && !cc->n_urls)
                r = err_setx(e, EINVAL, "--checksum is for URL sources only");
        if (r >= 0 && nc) {
                struct copy_src src = { b->ctxfd, false, &b->ignore };
                if (b->ctxfd < 0)
                        r = err_setx(e, EINVAL, "%s needs a build context (not -)", in->keyword);
                if (r >= 0)
                        r = copy_expand_sources(&src, ctxw, nc, &cc->srcs, &cc->n, e);
                if (r >= 0)
                        r = copy_sources_digest(&src, cc->srcs, cc->n, content, e);
        }
        if (r >= 0 && parts.len) {
                struct sha256 h;
                sha256_init(&h);
                sha256_update(&h, content, strlen(content));
                sha256_update(&h, parts.data, parts.len);
                sha256_final(&h, content);
        }
        buf_free(&parts);
        free(ctxw);
        return r;
}

/* A step after FROM: its created_by (and COPY's sources digest) make the
 * cache key; a hit replaces the current image, else the step runs. */
static int do_step(struct bstate *b, const struct bf_instr *in, struct err *e)
{
        if (in->kind == BF_ARG)
                return do_arg(b, in, false, e);
        struct buf t = BUF_INIT(SIZE_MAX);
        char content[DIGEST_STR_LEN + 1] = "";
        json_t *saved = json_deep_copy(b->img);   /* the config changes, undone on a cache hit */
        bool saved_cmd = b->cmd_set;
        struct run_ctx rc = { 0 };
        struct copy_ctx cc = { .st = STAGING_INIT };
        char **w = NULL;
        size_t n = 0;
        _cleanup_free_ char *path = NULL;
        enum { CONFIG, RUN, COPY, MKDIR } what = CONFIG;
        int r = 0;
        json_t *c = cfg_of(b);
        switch (in->kind) {
        case BF_RUN: {
                what = RUN;
                json_t *a;
                if (in->n_heredocs && in->n_bodies == in->n_heredocs) {
                        /* RUN <<EOF alone: the body is the script; else the
                         * shell reads the heredocs itself, as buildkit does */
                        bool bare = bare_heredoc(in);
                        _cleanup_free_ char *text = bare ? xstrdup(in->heredoc_bodies[0])
                                                         : xasprintf("%s%s", in->args[0], in->heredoc_raw);
                        a = shell_form(b, text);
                } else {
                        a = exec_array(b, in);
                }
                args_prefix(b, &t);
                size_t i;
                json_t *x;
                rc.argv = xcalloc(json_array_size(a) + 1, sizeof *rc.argv);
                json_array_foreach(a, i, x) {
                        rc.argv[i] = xstrdup(json_string_value(x));
                        buf_printf(&t, "%s%s", i ? " " : "", rc.argv[i]);
                }
                json_decref(a);
                if (!rc.argv[0])
                        r = err_setx(e, EINVAL, "RUN: an empty command");
                break;
        }
        case BF_ADD:
        case BF_COPY: {
                what = COPY;
                cc.add = in->kind == BF_ADD;
                r = expand_words(b, in, &w, &n, e);
                if (r >= 0 && n < 2)
                        r = err_setx(e, EINVAL, "%s requires at least two arguments", in->keyword);
                if (r < 0)
                        break;
                const char *chmod = bf_flag(in, "chmod");
                cc.chown = bf_flag(in, "chown");
                if (chmod) {
                        char *end;
                        unsigned long m = strtoul(chmod, &end, 8);
                        if (!*chmod || *end || m > 07777) {
                                r = err_setx(e, EINVAL, "--chmod=%s: not an octal mode", chmod);
                                break;
                        }
                        cc.cs.chmod_set = true;
                        cc.cs.chmod = (mode_t)m;
                }
                for (size_t i = 0; i + 1 < n; i++)   /* sources are relative to the context (or root) */
                        while (w[i][0] == '/')
                                memmove(w[i], w[i] + 1, strlen(w[i]));
                const char *fromarg = bf_flag(in, "from");
                if (fromarg) {
                        r = copy_from_image(b, fromarg, &cc.from, e);
                        if (r < 0)
                                break;
                        cc.words = w;
                        cc.n_words = n - 1;
                        /* the image is immutable: its ID stands for its content */
                        snprintf(content, sizeof content, "%s", cc.from.id);
                } else {
                        r = copy_sources(b, in, w, n - 1, &cc, content, e);
                        if (r < 0)
                                break;
                }
                const char *d = w[n - 1];
                size_t dl = strlen(d);
                path = image_path(b, d);
                if ((dl && d[dl - 1] == '/') || (dl == 1 && d[0] == '.') || (dl >= 2 && !strcmp(d + dl - 2, "/."))) {
                        char *p2 = xasprintf("%s%s", path, strcmp(path, "/") ? "/" : "");
                        free(path);
                        path = p2;
                }
                cc.dest = path;
                buf_printf(&t, "/bin/sh -c #(nop) %s ", in->keyword);
                if (fromarg) {
                        buf_printf(&t, "--from=%s", digest_hex(cc.from.id));
                        for (size_t i = 0; i + 1 < n; i++)
                                buf_printf(&t, " %s", w[i]);
                        buf_printf(&t, " ");
                }
                if (cc.chown)
                        buf_printf(&t, "--chown=%s ", cc.chown);
                if (chmod)
                        buf_printf(&t, "--chmod=%s ", chmod);
                buf_printf(&t, "file:%s in %s ", digest_hex(content), path);
                break;
        }
        case BF_ENV:
        case BF_LABEL:
                buf_printf(&t, "/bin/sh -c #(nop) %s ", in->keyword);
                r = do_pairs(b, in, &t, e);
                break;
        case BF_MAINTAINER:
                buf_printf(&t, "/bin/sh -c #(nop) MAINTAINER %s", in->args[0]);
                json_object_set_new(b->img, "author", json_string(in->args[0]));
                break;
        case BF_WORKDIR: {
                _cleanup_free_ char *p = NULL;
                r = expand_one(b, in->args[0], &p, e);
                if (r < 0)
                        break;
                path = image_path(b, p);
                json_object_set_new(c, "WorkingDir", json_string(path));
                buf_printf(&t, "/bin/sh -c #(nop) WORKDIR %s", path);
                what = MKDIR;
                break;
        }
        case BF_USER:
        case BF_STOPSIGNAL: {
                _cleanup_free_ char *v = NULL;
                r = expand_one(b, in->args[0], &v, e);
                if (r < 0)
                        break;
                json_object_set_new(c, in->kind == BF_USER ? "User" : "StopSignal", json_string(v));
                buf_printf(&t, "/bin/sh -c #(nop) %s %s", in->keyword, v);
                break;
        }
        case BF_EXPOSE:
                buf_printf(&t, "/bin/sh -c #(nop) EXPOSE ");
                r = expand_words(b, in, &w, &n, e);
                if (r >= 0)
                        r = set_exposed(b, w, n, &t, e);
                break;
        case BF_VOLUME: {
                r = expand_words(b, in, &w, &n, e);
                if (r < 0)
                        break;
                json_t *set = json_object_get(c, "Volumes");
                if (!json_is_object(set)) {
                        set = json_object();
                        json_object_set_new(c, "Volumes", set);
                }
                buf_printf(&t, "/bin/sh -c #(nop) VOLUME [");
                for (size_t i = 0; i < n; i++) {
                        json_object_set_new(set, w[i], json_object());
                        buf_printf(&t, "%s%s", i ? " " : "", w[i]);
                }
                buf_printf(&t, "]");
                break;
        }
        case BF_CMD:
        case BF_ENTRYPOINT:
                buf_printf(&t, "/bin/sh -c #(nop) %s ", in->keyword);
                set_exec(b, in, in->kind == BF_CMD ? "Cmd" : "Entrypoint", &t);
                if (in->kind == BF_CMD)
                        b->cmd_set = true;
                else if (!b->cmd_set)   /* docker: ENTRYPOINT resets the base image's Cmd */
                        json_object_del(c, "Cmd");
                break;
        case BF_HEALTHCHECK:
                r = do_healthcheck(b, in, &t, e);
                break;
        case BF_ONBUILD: {
                json_t *ob = json_object_get(c, "OnBuild");
                if (!json_is_array(ob)) {
                        ob = json_array();
                        json_object_set_new(c, "OnBuild", ob);
                }
                json_array_append_new(ob, json_string(in->args[0]));
                buf_printf(&t, "/bin/sh -c #(nop) ONBUILD %s", in->args[0]);
                break;
        }
        case BF_SHELL: {
                if (!in->json || !in->n_args) {
                        r = err_setx(e, EINVAL, "SHELL requires the arguments to be in JSON form");
                        break;
                }
                json_t *a = args_array(in);
                char *j = json_dumps(a, JSON_COMPACT);
                buf_printf(&t, "/bin/sh -c #(nop) SHELL %s", j);
                free(j);
                json_object_set_new(c, "Shell", a);
                break;
        }
        default:
                r = err_setx(e, ENOTSUP, "%s is not supported by strata build yet", in->keyword);
        }
        _cleanup_free_ char *created_by = buf_steal(&t);
        char key[DIGEST_STR_LEN + 1];
        if (r >= 0) {
                bf_cache_key(b->im.id ? b->im.id : "scratch", created_by, content[0] ? content : NULL, key);
                if (cache_get(b, key)) {
                        json_decref(saved);
                        saved = NULL;
                        if (!b->o->quiet)
                                printf("--> Using cache %s\n", digest_hex(b->im.id));
                        goto done;
                }
                /* a miss: the step's config changes stand; a layer if it writes */
                struct new_layer nl = { .lockfd = -1 };
                bool made = false;
                if (what == RUN) {
                        r = fs_step(b, run_action, NULL, &rc, &nl, &made, e);
                        if (r >= 0 && b->status != 0)
                                r = err_setx(e, ECANCELED, "%s: exit status %d", created_by, b->status);
                } else if (what == COPY) {
                        r = fs_step(b, copy_action, copy_after, &cc, &nl, &made, e);
                } else if (what == MKDIR) {
                        r = fs_step(b, mkdir_action, NULL, path, &nl, &made, e);
                }
                /* the mount saw the image before the change; the config is the changed one */
                if (r >= 0)
                        r = step_commit(b, created_by, made ? &nl : NULL, e);
                new_layer_done(&nl);
                if (r >= 0)
                        cache_put(b, key, b->im.id);
        }
done:
        if (r < 0 && saved) {
                json_decref(b->img);
                b->img = saved;
                b->cmd_set = saved_cmd;
        } else {
                json_decref(saved);
        }
        if (r >= 0 && !b->o->quiet) {
                char sid[13];
                short_id(b->im.id, sid);
                printf("--> %s\n", sid);
        }
        fflush(stdout);
        bf_strv_free(rc.argv);
        bf_strv_free(w);
        bf_strv_free(cc.srcs);
        bf_strv_free(cc.staged);
        bf_strv_free(cc.urls);
        staging_close(&cc.st);
        store_image_free(&cc.from);
        return r;
}

/* ------------------------------------------------------------ FROM, stages */

static const char *host_arch(void)
{
        static struct utsname u;
        if (uname(&u) < 0)
                return "amd64";
        if (!strcmp(u.machine, "x86_64"))
                return "amd64";
        if (!strcmp(u.machine, "aarch64"))
                return "arm64";
        return !strncmp(u.machine, "arm", 3) ? "arm" : u.machine;
}

/* FROM scratch: an image of no layers (recorded, so that a step can mount it). */
static int scratch_image(struct bstate *b, struct err *e)
{
        json_t *img = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}}", "architecture", host_arch(), "os", "linux",
                                "config", "rootfs", "type", "layers", "diff_ids");
        char id[DIGEST_STR_LEN + 1];
        int r = new_image_record_step(b->s, img, PACK_FORMAT_OCI, NULL, NULL, NULL, true, id, e);
        if (r >= 0)
                r = store_find_image(b->s, id, &b->im, e);
        b->img = img;
        return r;
}

static int check_supported(const struct bf_instr *in, struct err *e);

/* The base image's ONBUILD triggers, run as steps right after FROM (and
 * taken out of the config, as docker does). */
static int run_triggers(struct bstate *b, struct err *e)
{
        json_t *ob = json_incref(json_object_get(cfg_of(b), "OnBuild"));
        json_object_del(cfg_of(b), "OnBuild");
        struct buf t = BUF_INIT(FILE_MAX);
        size_t i;
        json_t *x;
        json_array_foreach(ob, i, x) buf_printf(&t, "%s\n", json_string_value(x) ? json_string_value(x) : "");
        json_decref(ob);
        struct bf_file tf;
        int r = bf_parse(t.data ? t.data : "", t.len, &tf, e);
        buf_free(&t);
        if (r < 0)
                return err_wrap(e, "the base image's ONBUILD triggers");
        for (i = 0; r >= 0 && i < tf.n; i++) {
                const struct bf_instr *in = &tf.v[i];
                if (in->kind == BF_FROM || in->kind == BF_ONBUILD || in->kind == BF_MAINTAINER)
                        r = err_setx(e, EINVAL, "%s is not allowed as an ONBUILD trigger", in->keyword);
                else
                        r = check_supported(in, e);
        }
        const struct bf_file *saved = b->f;
        b->f = &tf;
        for (i = 0; r >= 0 && i < tf.n; i++) {
                if (!b->o->quiet) {
                        _cleanup_free_ char *txt = instr_text(&tf.v[i]);
                        printf("--> ONBUILD %s\n", txt);
                }
                r = do_step(b, &tf.v[i], e);
        }
        b->f = saved;
        bf_file_free(&tf);
        return r < 0 ? err_wrap(e, "ONBUILD trigger") : 0;
}

static int do_from(struct bstate *b, const struct bf_instr *in, struct stage *stages, size_t cur, struct err *e)
{
        char **w;
        size_t n;
        int r = bf_words(in->args[0], b->f->escape, lookup_global, b, true, &w, &n, e);
        if (r < 0)
                return r;
        const char *ref = n ? w[0] : "";
        store_image_free(&b->im);
        json_decref(b->img);
        b->img = NULL;
        memset(&b->im, 0, sizeof b->im);
        bf_strv_free(b->args);
        b->args = NULL;
        b->n_args = 0;
        b->cmd_set = false;
        const char *platform = bf_flag(in, "platform");
        if (!platform)
                platform = b->o->platform;
        ssize_t base = -1;
        for (size_t i = 0; i < cur; i++)
                if (stages[i].name && !strcasecmp(stages[i].name, ref))
                        base = (ssize_t)i;
        if (base >= 0) {
                r = store_find_image(b->s, stages[base].id, &b->im, e);
        } else if (!strcasecmp(ref, "scratch")) {
                r = scratch_image(b, e);
        } else {
                r = b->o->pull ? -ENOENT : lookup_image(b->s, ref, &b->im, NULL, e);
                if (r == -ENOENT) {
                        err_clear(e);
                        r = pull_missing(b->s, ref, platform, e);
                        if (r >= 0)
                                r = lookup_image(b->s, ref, &b->im, NULL, e);
                }
        }
        if (r >= 0 && !b->img)
                r = image_config_json(b->s, &b->im, &b->img, e);
        bf_strv_free(w);
        if (r >= 0 && json_array_size(json_object_get(cfg_of(b), "OnBuild")))
                r = run_triggers(b, e);
        return r;
}

/* Invariant 1: what the stages to build use is supported, before anything runs. */
static int check_supported(const struct bf_instr *in, struct err *e)
{
        static const char *const copy_flags[] = { "chown", "chmod", "link", "from", NULL };
        const char *bad = NULL;
        switch (in->kind) {
        case BF_ADD:
                for (size_t i = 0; i < in->n_flags && !bad; i++) {
                        const char *f = in->flags[i] + 2;
                        if (strncmp(f, "chown=", 6) && strncmp(f, "chmod=", 6) && strcmp(f, "link") &&
                            strncmp(f, "link=", 5) && strncmp(f, "checksum=", 9))
                                bad = in->flags[i];
                }
                break;
        case BF_HEALTHCHECK: {
                static const char *const hc_flags[] = { "interval", "timeout", "start-period", "start-interval",
                                                        "retries", NULL };
                for (size_t i = 0; i < in->n_flags && !bad; i++) {
                        const char *f = in->flags[i] + 2;
                        bool ok = false;
                        for (const char *const *k = hc_flags; *k; k++)
                                ok |= !strncmp(f, *k, strlen(*k)) && f[strlen(*k)] == '=';
                        if (!ok)
                                bad = in->flags[i];
                }
                break;
        }
        case BF_COPY:
                for (size_t i = 0; i < in->n_flags && !bad; i++) {
                        const char *f = in->flags[i] + 2;
                        bool ok = false;
                        for (const char *const *k = copy_flags; *k; k++)
                                ok |= !strncmp(f, *k, strlen(*k)) && (f[strlen(*k)] == '=' || !f[strlen(*k)]);
                        if (!ok)
                                bad = in->flags[i];
                }
                break;
        case BF_FROM:
                for (size_t i = 0; i < in->n_flags && !bad; i++)
                        if (strncmp(in->flags[i], "--platform=", 11))
                                bad = in->flags[i];
                break;
        default:
                if (in->n_flags)
                        bad = in->flags[0];
        }
        if (bad)
                return err_setx(e, ENOTSUP, "line %d: %s %.*s is not supported by strata build yet", in->line,
                                in->keyword, (int)strcspn(bad, "="), bad);
        return 0;
}

/* The stages: where each starts, its name, which the target needs. */
static int plan_stages(struct bstate *b, struct stage **out, size_t *n_out, size_t *target, struct err *e)
{
        const struct bf_file *f = b->f;
        struct stage *v = NULL;
        size_t n = 0;
        int r = 0;
        for (size_t i = 0; i < f->n && r >= 0; i++) {
                const struct bf_instr *in = &f->v[i];
                if (in->kind != BF_FROM) {
                        if (!n && in->kind != BF_ARG)
                                r = err_setx(e, EINVAL, "line %d: %s before the first FROM (only ARG may be)", in->line,
                                             in->keyword);
                        continue;
                }
                if (n)
                        v[n - 1].end = i;
                v = xrealloc(v, (n + 1) * sizeof *v);
                memset(&v[n], 0, sizeof v[n]);
                v[n].first = i;
                v[n].end = f->n;
                char **w;
                size_t wn;
                if (bf_words(in->args[0], f->escape, NULL, NULL, true, &w, &wn, e) < 0) {
                        r = err_wrap(e, "line %d", in->line);
                        break;
                }
                if (wn == 3 && !strcasecmp(w[1], "AS"))
                        v[n].name = xstrdup(w[2]);
                else if (wn != 1)
                        r = err_setx(e, EINVAL, "line %d: FROM requires either one or three arguments (IMAGE [AS NAME])",
                                     in->line);
                bf_strv_free(w);
                n++;
        }
        if (r >= 0 && !n)
                r = err_setx(e, EINVAL, "no FROM instruction");
        *target = n ? n - 1 : 0;
        if (r >= 0 && b->o->target) {
                size_t i;
                for (i = 0; i < n && !(v[i].name && !strcasecmp(v[i].name, b->o->target)); i++)
                        ;
                if (i == n)
                        r = err_setx(e, ENOENT, "target stage \"%s\" could not be found", b->o->target);
                *target = i;
        }
        if (r >= 0) {
                v[*target].needed = true;
                for (size_t s = *target + 1; s-- > 0;) {
                        if (!v[s].needed)
                                continue;
                        for (size_t i = v[s].first; i < v[s].end && r >= 0; i++) {
                                r = check_supported(&f->v[i], e);
                                const char *from = f->v[i].kind == BF_COPY ? bf_flag(&f->v[i], "from") : NULL;
                                char *end;
                                unsigned long num = from ? strtoul(from, &end, 10) : 0;
                                for (size_t k = 0; from && k < s; k++)
                                        if ((v[k].name && !strcasecmp(v[k].name, from)) || (*from && !*end && num == k))
                                                v[k].needed = true;
                        }
                        /* FROM a stage name: that stage is needed too */
                        char **w;
                        size_t wn;
                        if (r >= 0 && bf_words(f->v[v[s].first].args[0], f->escape, NULL, NULL, true, &w, &wn, e) >= 0) {
                                for (size_t k = 0; k < s; k++)
                                        if (v[k].name && wn && !strcasecmp(v[k].name, w[0]))
                                                v[k].needed = true;
                                bf_strv_free(w);
                        }
                }
        }
        *out = v;
        *n_out = n;
        return r;
}

static void stages_free(struct stage *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/* The Containerfile: -f, else CONTEXT/Containerfile, else CONTEXT/Dockerfile;
 * stdin for context "-" (or -f -). */
static int read_containerfile(const struct build_opts *o, char **name, struct buf *text, struct err *e)
{
        if ((o->file && !strcmp(o->file, "-")) || (!o->file && !strcmp(o->context, "-"))) {
                *name = xstrdup("<stdin>");
                char chunk[65536];
                for (;;) {
                        ssize_t k = read(0, chunk, sizeof chunk);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return err_set(e, errno, "read stdin");
                        if (k == 0)
                                return 0;
                        if (buf_append(text, chunk, (size_t)k) < 0)
                                return err_setx(e, EFBIG, "the Containerfile is larger than %u bytes", FILE_MAX);
                }
        }
        if (o->file) {
                *name = xstrdup(o->file);
        } else {
                *name = xasprintf("%s/Containerfile", o->context);
                if (access(*name, F_OK) < 0) {
                        free(*name);
                        *name = xasprintf("%s/Dockerfile", o->context);
                }
        }
        int r = read_file_bounded(*name, FILE_MAX, text, e);
        return r < 0 ? err_wrap(e, "%s", *name) : 0;
}

/* CONTEXT/.containerignore, else CONTEXT/.dockerignore (podman's order). */
static int read_ignore(struct bstate *b, struct err *e)
{
        static const char *const names[] = { ".containerignore", ".dockerignore" };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", b->o->context, names[i]);
                if (access(p, F_OK) < 0)
                        continue;
                struct buf t = BUF_INIT(FILE_MAX);
                int r = read_file_bounded(p, FILE_MAX, &t, e);
                if (r >= 0)
                        r = bf_ignore_parse(t.data ? t.data : "", t.len, &b->ignore, e);
                buf_free(&t);
                return r < 0 ? err_wrap(e, "%s", p) : 0;
        }
        return 0;
}

int build_run(struct store *s, const struct build_opts *o, char id[DIGEST_STR_LEN + 1], int *status, struct err *e)
{
        *status = STATUS_FAILED;
        struct bf_file f = { 0 };
        _cleanup_free_ char *fname = NULL;
        struct buf text = BUF_INIT(FILE_MAX);
        int r = read_containerfile(o, &fname, &text, e);
        if (r >= 0) {
                r = bf_parse(text.data ? text.data : "", text.len, &f, e);
                if (r < 0)
                        err_wrap(e, "%s", fname);
        }
        buf_free(&text);
        if (r < 0)
                return r;
        struct bstate b = { .s = s, .o = o, .f = &f, .ctxfd = -1 };
        b.used_bargs = xcalloc(o->n_build_args + 1, sizeof *b.used_bargs);
        struct stage *st = NULL;
        size_t n_st = 0, target = 0;
        r = plan_stages(&b, &st, &n_st, &target, e);
        if (r < 0)
                err_wrap(e, "%s", fname);
        char **names = xcalloc(o->n_tags + 1, sizeof *names);
        for (size_t i = 0; r >= 0 && i < o->n_tags; i++)
                r = new_image_name(o->tags[i], &names[i], e);
        for (size_t i = 0; r >= 0 && i < o->n_labels; i++)
                if (!strchr(o->labels[i], '=') || o->labels[i][0] == '=')
                        r = err_setx(e, EINVAL, "--label %s: not KEY=VALUE", o->labels[i]);
        if (r >= 0 && strcmp(o->context, "-")) {
                b.ctxfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (b.ctxfd < 0)
                        r = err_set(e, errno, "the build context %s", o->context);
        }
        if (r >= 0 && b.ctxfd >= 0)
                r = read_ignore(&b, e);
        /* the global ARGs, before the first FROM */
        for (size_t i = 0; r >= 0 && n_st && i < st[0].first; i++)
                r = do_arg(&b, &f.v[i], true, e);
        for (size_t k = 0; r >= 0 && k <= target; k++)
                if (st[k].needed)
                        b.steps += (int)(st[k].end - st[k].first);
        b.steps += o->n_labels ? 1 : 0;
        b.stages = st;
        for (size_t k = 0; r >= 0 && k <= target; k++) {
                b.cur = k;
                if (!st[k].needed)
                        continue;
                for (size_t i = st[k].first; r >= 0 && i < st[k].end; i++) {
                        const struct bf_instr *in = &f.v[i];
                        b.step++;
                        if (!o->quiet) {
                                _cleanup_free_ char *txt = instr_text(in);
                                printf("STEP %d/%d: %s\n", b.step, b.steps, txt);
                                fflush(stdout);
                        }
                        r = in->kind == BF_FROM ? do_from(&b, in, st, k, e) : do_step(&b, in, e);
                        if (r < 0)
                                err_wrap(e, "STEP %d/%d (line %d) %s", b.step, b.steps, in->line, in->keyword);
                }
                if (r >= 0) {
                        memcpy(st[k].id, b.im.id, DIGEST_STR_LEN + 1);
                        st[k].built = true;
                }
        }
        if (r >= 0 && o->n_labels) {
                /* --label: one LABEL step on the final image */
                struct buf lt = BUF_INIT(SIZE_MAX);
                for (size_t i = 0; i < o->n_labels; i++) {
                        const char *eq = strchr(o->labels[i], '=');
                        buf_printf(&lt, "%s%.*s=\"%s\"", i ? " " : "", (int)(eq - o->labels[i]), o->labels[i], eq + 1);
                }
                char *args[2] = { buf_steal(&lt), NULL };
                struct bf_instr in = { .line = 0, .kind = BF_LABEL, .keyword = "LABEL", .args = args, .n_args = 1 };
                b.step++;
                if (!o->quiet)
                        printf("STEP %d/%d: LABEL %s\n", b.step, b.steps, args[0]);
                struct bf_file lf = { .escape = 0 };
                b.f = &lf;   /* no escape character in a --label value */
                r = do_step(&b, &in, e);
                b.f = &f;
                free(args[0]);
                if (r < 0)
                        err_wrap(e, "--label");
        }
        char sid[13] = "";
        if (r >= 0) {
                short_id(b.im.id, sid);
                if (!o->quiet && o->n_tags) {
                        printf("COMMIT %s\n", o->tags[0]);
                        printf("--> %s\n", sid);
                }
                /* the result is no intermediate image: strata images lists it
                 * (as <none> when untagged, as docker) */
                b.im.intermediate = false;
                if (!o->n_tags)
                        r = store_add_image(s, &b.im, NULL, e);
                for (size_t i = 0; r >= 0 && i < o->n_tags; i++) {
                        r = store_add_image(s, &b.im, names[i], e);
                        if (r >= 0 && !o->quiet)
                                printf("Successfully tagged %s\n", names[i]);
                }
        }
        if (r >= 0 && o->iidfile) {
                r = write_file_atomic(o->iidfile, b.im.id, strlen(b.im.id), 0644, e);
                if (r < 0)
                        err_wrap(e, "--iidfile %s", o->iidfile);
        }
        if (r >= 0) {
                memcpy(id, b.im.id, DIGEST_STR_LEN + 1);
                *status = 0;
                for (size_t i = 0; i < o->n_build_args; i++)
                        if (!b.used_bargs[i] && !is_proxy_arg(o->build_args[i], strcspn(o->build_args[i], "=")))
                                fprintf(stderr, "[Warning] one or more build args were not consumed: %.*s\n",
                                        (int)strcspn(o->build_args[i], "="), o->build_args[i]);
        } else if (b.status) {
                *status = b.status;
        }
        if (b.ctxfd >= 0)
                close(b.ctxfd);
        for (size_t i = 0; i < o->n_tags; i++)
                free(names[i]);
        free(names);
        free(b.used_bargs);
        bf_strv_free(b.args);
        bf_strv_free(b.gargs);
        bf_ignore_free(&b.ignore);
        store_image_free(&b.im);
        json_decref(b.img);
        stages_free(st, n_st);
        bf_file_free(&f);
        return r;
}
