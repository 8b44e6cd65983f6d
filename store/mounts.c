/* Mount records: ROOT/mounts/<id>/mount.json (see struct store_mount). */
#include "store-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MOUNT_JSON_MAX (1u << 20)

void store_mount_free(struct store_mount *m)
{
        if (!m)
                return;
        free(m->id);
        free(m->dir);
        free(m->image);
        free(m->mountpoint);
        free(m->upper);
        free(m->work);
        for (size_t i = 0; i < m->n_layers; i++) {
                free(m->layers[i]);
                if (m->digests)
                        free(m->digests[i]);
        }
        free(m->layers);
        free(m->digests);
        free(m->command);
        free(m->name);
        memset(m, 0, sizeof *m);
}

int store_mount_save(struct store *s, const struct store_mount *m, struct err *e)
{
        int r0 = store_writable(s, e);
        if (r0 < 0)
                return r0;
        json_t *layers = json_array(), *digests = json_array();
        for (size_t i = 0; i < m->n_layers; i++) {
                json_array_append_new(layers, json_string(m->layers[i]));
                json_array_append_new(digests, m->digests && m->digests[i] ? json_string(m->digests[i]) : json_null());
        }
        json_t *j = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:b, s:i, s:i, s:o, s:o}", "id", m->id, "image", m->image,
                              "mountpoint", m->mountpoint, "upper", m->upper, "work", m->work, "keep_upper",
                              m->keep_upper, "pid", m->pid, "creator", m->creator, "layers", layers, "digests",
                              digests);
        if (j && m->command)
                json_object_set_new(j, "command", json_string(m->command));
        if (j && m->name)
                json_object_set_new(j, "name", json_string(m->name));
        if (j) {
                json_object_set_new(j, "created", json_integer((json_int_t)m->created));
                json_object_set_new(j, "finished", json_integer((json_int_t)m->finished));
                json_object_set_new(j, "exit_code", json_integer(m->exit_code));
                json_object_set_new(j, "started", json_integer((json_int_t)m->started));
                json_object_set_new(j, "run_pid", json_integer(m->run_pid));
                json_object_set_new(j, "run_start", json_integer((json_int_t)m->run_start));
        }
        char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
        json_decref(j);
        if (!text)
                return err_setx(e, ENOMEM, "encode mount record");
        _cleanup_free_ char *path = xasprintf("%s/mount.json", m->dir);
        int r = write_file_atomic(path, text, strlen(text), 0600, e);
        free(text);
        return r;
}

int store_load_mount(struct store *s, const char *id, struct store_mount *m, struct err *e)
{
        memset(m, 0, sizeof *m);
        _cleanup_free_ char *path = store_path(s, "mounts/%s/mount.json", id);
        _cleanup_json_ json_t *j = NULL;
        int r = json_read_file(path, MOUNT_JSON_MAX, &j, e);
        if (r < 0)
                return r;
        const char *mp = json_string_value(json_object_get(j, "mountpoint"));
        const char *up = json_string_value(json_object_get(j, "upper"));
        const char *wk = json_string_value(json_object_get(j, "work"));
        if (!mp || !up || !wk)
                return err_setx(e, EBADMSG, "%s: corrupt", path);
        const char *im = json_string_value(json_object_get(j, "image"));
        m->id = xstrdup(id);
        m->dir = store_path(s, "mounts/%s", id);
        m->image = im ? xstrdup(im) : NULL;
        m->mountpoint = xstrdup(mp);
        m->upper = xstrdup(up);
        m->work = xstrdup(wk);
        m->keep_upper = json_is_true(json_object_get(j, "keep_upper"));
        m->pid = (int)json_integer_value(json_object_get(j, "pid"));
        m->creator = (int)json_integer_value(json_object_get(j, "creator"));
        const char *cmd = json_string_value(json_object_get(j, "command"));
        m->command = cmd ? xstrdup(cmd) : NULL;
        const char *name = json_string_value(json_object_get(j, "name"));
        m->name = name ? xstrdup(name) : NULL;
        m->created = (time_t)json_integer_value(json_object_get(j, "created"));
        m->finished = (time_t)json_integer_value(json_object_get(j, "finished"));
        json_t *ec = json_object_get(j, "exit_code");
        m->exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : -1;
        m->started = (time_t)json_integer_value(json_object_get(j, "started"));
        m->run_pid = (int)json_integer_value(json_object_get(j, "run_pid"));
        m->run_start = (unsigned long long)json_integer_value(json_object_get(j, "run_start"));
        json_t *layers = json_object_get(j, "layers");
        m->n_layers = json_array_size(layers);
        m->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *m->layers);
        m->digests = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *m->digests);
        json_t *digests = json_object_get(j, "digests");
        for (size_t i = 0; i < m->n_layers; i++) {
                const char *l = json_string_value(json_array_get(layers, i));
                const char *d = json_string_value(json_array_get(digests, i));
                m->layers[i] = xstrdup(l ? l : "");
                m->digests[i] = digest_valid(d) ? xstrdup(d) : NULL;
        }
        return 0;
}

/* A user-named upper dir resumes with its work dir, which holds the index of
 * its copied-up hard links: .NAME.strata-work next to it, when that is on
 * the upper's filesystem (else NULL: a fresh one in the mount's dir). */
static char *kept_work_dir(const char *upper)
{
        _cleanup_free_ char *parent = xstrdup(upper);
        char *slash = strrchr(parent, '/');
        if (!slash || !slash[1])
                return NULL;            /* "/" */
        const char *name = upper + (slash - parent) + 1;
        *slash = '\0';
        char *work = xasprintf("%s/.%s.strata-work", *parent ? parent : "", name);
        struct stat ps, us;
        if (stat(*parent ? parent : "/", &ps) < 0 || stat(upper, &us) < 0 || ps.st_dev != us.st_dev) {
                free(work);
                return NULL;
        }
        return work;
}

/* name_taken() - -EEXIST when a record other than @self is named @name. */
static int name_taken(struct store *s, const char *name, struct err *e)
{
        struct store_mount *v = NULL;
        size_t n = 0;
        int r = store_list_mounts(s, &v, &n, e);
        for (size_t i = 0; i < n; i++) {
                if (r >= 0 && v[i].name && !strcmp(v[i].name, name))
                        r = err_setx(e, EEXIST, "conflict: the name \"%s\" is already in use by run %s: remove it first (strata rm %s)",
                                     name, v[i].id, name);
                store_mount_free(&v[i]);
        }
        free(v);
        return r;
}

int store_mount_create(struct store *s, const char *image_id, const char *mountpoint, const char *upper,
                       const char *name, struct store_mount *out, struct err *e)
{
        struct store_mount m = { 0 };
        unsigned char rnd[6];
        if (RAND_bytes(rnd, sizeof rnd) != 1)
                return err_setx(e, EIO, "random mount id");
        m.id = xasprintf("%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
        m.dir = store_path(s, "mounts/%s", m.id);
        m.mountpoint = realpath(mountpoint, NULL);
        if (!m.mountpoint) {
                int r = err_set(e, errno, "mount point %s", mountpoint);
                store_mount_free(&m);
                return r;
        }
        m.image = image_id ? xstrdup(image_id) : NULL;
        m.keep_upper = upper != NULL;
        m.creator = (int)getpid();
        m.created = time(NULL);
        m.exit_code = -1;
        m.name = name ? xstrdup(name) : NULL;
        int r = store_lock(s, e);
        if (r < 0) {
                store_mount_free(&m);
                return r;
        }
        if (name) {
                r = name_taken(s, name, e);
                if (r < 0)
                        goto fail;
        }
        if (image_id) {
                struct store_image im = { 0 };
                r = store_find_image(s, image_id, &im, e);
                if (r < 0)
                        goto fail;
                m.n_layers = im.n_layers;
                m.layers = xcalloc(im.n_layers ? im.n_layers : 1, sizeof *m.layers);
                m.digests = xcalloc(im.n_layers ? im.n_layers : 1, sizeof *m.digests);
                for (size_t i = 0; i < im.n_layers; i++) {
                        m.layers[i] = xstrdup(im.layers[i].diff_id);
                        m.digests[i] = xstrdup(im.layers[i].digest);
                }
                store_image_free(&im);
        }
        if (mkdir(m.dir, 0700) < 0) {
                r = err_set(e, errno, "create %s", m.dir);
                goto fail;
        }
        if (upper) {
                r = mkdir_p(upper, 0755, e);
                if (r < 0)
                        goto fail_dir;
                m.upper = realpath(upper, NULL);
                if (!m.upper) {
                        r = err_set(e, errno, "upper dir %s", upper);
                        goto fail_dir;
                }
                m.work = kept_work_dir(m.upper);
        } else {
                m.upper = xasprintf("%s/upper", m.dir);
                if (mkdir(m.upper, 0755) < 0) {
                        r = err_set(e, errno, "create %s", m.upper);
                        goto fail_dir;
                }
        }
        if (!m.work)
                m.work = xasprintf("%s/work", m.dir);
        if (mkdir(m.work, 0700) < 0 && (errno != EEXIST || !m.keep_upper)) {
                r = err_set(e, errno, "create %s", m.work);
                goto fail_dir;
        }
        r = store_mount_save(s, &m, e);
        if (r < 0)
                goto fail_dir;
        store_unlock(s);
        *out = m;
        return 0;

fail_dir:
        rm_rf_at(AT_FDCWD, m.dir, &(struct err){ 0 });
fail:
        store_unlock(s);
        store_mount_free(&m);
        return r;
}

int store_list_mounts(struct store *s, struct store_mount **out, size_t *n, struct err *e)
{
        _cleanup_free_ char *path = store_path(s, "mounts");
        DIR *d = opendir(path);
        if (!d)
                return err_set(e, errno, "open %s", path);
        struct store_mount *v = NULL;
        size_t cnt = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                struct store_mount m;
                struct err ignore = { 0 };
                /* a record being created or removed right now is skipped */
                if (store_load_mount(s, de->d_name, &m, &ignore) < 0)
                        continue;
                v = xrealloc(v, (cnt + 1) * sizeof *v);
                v[cnt++] = m;
        }
        closedir(d);
        *out = v;
        *n = cnt;
        return 0;
}

int store_find_mount(struct store *s, const char *mountpoint, struct store_mount *out, struct err *e)
{
        _cleanup_free_ char *real = realpath(mountpoint, NULL);
        const char *want = real ? real : mountpoint;
        struct store_mount *v = NULL;
        size_t n = 0;
        int r = store_list_mounts(s, &v, &n, e);
        if (r < 0)
                return r;
        r = err_setx(e, ENOENT, "%s: not a strata mount", mountpoint);
        for (size_t i = 0; i < n; i++) {
                if (r < 0 && !strcmp(v[i].mountpoint, want)) {
                        *out = v[i];
                        memset(&v[i], 0, sizeof v[i]);
                        err_clear(e);
                        r = 0;
                }
                store_mount_free(&v[i]);
        }
        free(v);
        return r;
}

/* Is @path a mount point right now?  /proc/self/mountinfo field 5. */
static bool is_mounted(const char *path)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return false;
        char *line = NULL;
        size_t cap = 0;
        bool found = false;
        while (!found && getline(&line, &cap, f) > 0) {
                char mp[PATH_MAX];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && !strcmp(mp, path))
                        found = true;
        }
        free(line);
        fclose(f);
        return found;
}

static bool alive(int pid)
{
        return pid_alive(pid);
}

unsigned long long store_proc_start(int pid)
{
        return proc_start(pid);
}

bool store_run_alive(const struct store_mount *m)
{
        return m->run_pid > 0 && m->run_start && store_proc_start(m->run_pid) == m->run_start;
}

bool store_mount_live(const struct store_mount *m)
{
        if (m->pid == STORE_MOUNT_KERNEL)
                return is_mounted(m->mountpoint);
        if (m->pid <= 0)
                return alive(m->creator);      /* being set up */
        return alive(m->pid) && is_mounted(m->mountpoint);
}

int store_mount_remove(struct store *s, const struct store_mount *m, struct err *e)
{
        int r = store_lock(s, e);
        if (r < 0)
                return r;
        if (m->keep_upper) {
                /* the temporaries go; the index stays for the next mount */
                _cleanup_free_ char *tmps = xasprintf("%s/work", m->work);
                rm_rf_at(AT_FDCWD, tmps, e);
        }
        /* the record goes first (rename away), so nobody sees half a mount dir */
        _cleanup_free_ char *gone = store_path(s, "tmp/gone-mount-%s-%d-0", m->id, (int)getpid());
        if (rename(m->dir, gone) < 0)
                r = errno == ENOENT ? 0 : err_set(e, errno, "remove %s", m->dir);
        else
                r = rm_rf_at(AT_FDCWD, gone, e);
        /* the last user of a layer whose image went (rmi -f) lets it go */
        _cleanup_json_ json_t *j = NULL;
        _cleanup_json_ json_t *refs = json_object();
        _cleanup_close_ int gc = r == 0 ? store_gc_exclusive(s) : -1;
        if (gc < 0)            /* a pull is adding to the store: a later prune sweeps */
                goto out;
        r = store_load_index(s, &j, e);
        if (r == 0)
                r = store_refs(s, json_object_get(j, "images"), refs, e);
        for (size_t i = 0; r == 0 && i < m->n_layers; i++)
                r = store_release_layer(s, refs, m->layers[i], m->digests ? m->digests[i] : NULL, NULL, NULL, e);
out:
        store_unlock(s);
        return r;
}
