/* strata commit, the orchestration: a mount's writable layer -> a snapshot
 * under tmp/ (the daemon paused meanwhile) -> a layer tar and blob -> the
 * layer dir moved into layers/ -> config, manifest, record (newimage.h). */
#include "commit.h"
#include "cli.h"
#include "container.h"
#include "newimage.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The daemon of a live mount stops while the writable layer is copied
 * (docker commit's --pause): what the snapshot sees is the layer between two
 * requests.  Writes the kernel still holds (-o writeback) go to the daemon
 * first.  Signals that would end us meanwhile are held back, so the daemon
 * always continues. */
struct pause {
        pid_t pid;
        bool blocked;
        sigset_t old;
};

/* Every thread of @pid is stopped ('T' or 't' in /proc/PID/task/TID/stat):
 * kill() only asks, each thread stops when it next runs in the kernel's
 * signal path, or leaves a system call. */
static bool all_stopped(pid_t pid)
{
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
        DIR *d = opendir(dir);
        if (!d)
                return false;
        bool all = true;
        struct dirent *de;
        while (all && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char path[384], buf[512];
                snprintf(path, sizeof path, "%s/%s/stat", dir, de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
                if (fd >= 0)
                        close(fd);
                if (n <= 0)
                        continue;   /* the thread is gone */
                buf[n] = '\0';
                const char *rp = strrchr(buf, ')');   /* the state follows the command name */
                all = rp && (rp[2] == 'T' || rp[2] == 't');
        }
        closedir(d);
        return all;
}

#define PAUSE_WAIT_MS 10000

static void resume_mount(struct pause *p);

static int pause_mount(const struct store_mount *m, struct pause *p, struct err *e)
{
        p->pid = 0;
        p->blocked = false;
        if (!store_mount_live(m) || m->pid <= 0)
                return 0;   /* no daemon (kill(0) would stop our own process group) */
        int fd = open(m->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                syncfs(fd);
                close(fd);
        }
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        sigaddset(&block, SIGQUIT);
        sigprocmask(SIG_BLOCK, &block, &p->old);
        p->blocked = true;
        if (kill(m->pid, SIGSTOP) < 0) {
                resume_mount(p);
                return err_set(e, errno, "pause the mount's daemon %d", m->pid);
        }
        p->pid = m->pid;
        for (int ms = 0; !all_stopped(p->pid); ms++) {
                if (ms >= PAUSE_WAIT_MS) {
                        resume_mount(p);
                        return err_setx(e, EBUSY, "the mount's daemon %d did not stop within %d s", m->pid,
                                        PAUSE_WAIT_MS / 1000);
                }
                struct timespec ts = { 0, 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        debugf("commit: daemon %d paused", m->pid);
        return 0;
}

static void resume_mount(struct pause *p)
{
        if (p->pid > 0) {
                kill(p->pid, SIGCONT);
                debugf("commit: daemon %d continues", p->pid);
        }
        if (p->blocked)
                sigprocmask(SIG_SETMASK, &p->old, NULL);
        p->pid = 0;
        p->blocked = false;
}

static int open_lowers(struct store *s, const struct store_image *im, int **fds, struct err *e)
{
        *fds = xcalloc(im->n_layers ? im->n_layers : 1, sizeof **fds);
        for (size_t i = 0; i < im->n_layers; i++)
                (*fds)[i] = -1;
        for (size_t i = 0; i < im->n_layers; i++) {
                /* topmost first */
                const char *di = im->layers[im->n_layers - 1 - i].diff_id;
                _cleanup_free_ char *p = store_layer_path(s, di);
                (*fds)[i] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if ((*fds)[i] < 0)
                        return err_set(e, errno, "layer %s", di);
        }
        return 0;
}

static void close_fds(int *fds, size_t n)
{
        for (size_t i = 0; fds && i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(fds);
}

int commit_snapshot(struct store *s, const struct store_mount *m, const struct store_image *im, char **tmpdir,
                    int *diff_fd, struct pack_stats *st, struct err *e)
{
        return commit_snapshot_move(s, m, im, false, tmpdir, diff_fd, st, e);
}

int commit_snapshot_move(struct store *s, const struct store_mount *m, const struct store_image *im, bool move,
                         char **tmpdir, int *diff_fd, struct pack_stats *st, struct err *e)
{
        int *lowers = NULL;
        _cleanup_free_ char *tmp = NULL, *ixp = NULL, *mdir = NULL, *rootfs = NULL;
        _cleanup_close_ int upper = -1, index = -1, tmpfd = -1, dest = -1;
        struct pack_stats dummy;
        int r = open_lowers(s, im, &lowers, e);
        if (r < 0)
                goto out;
        upper = open(m->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (upper < 0) {
                r = err_set(e, errno, "the writable layer %s", m->upper);
                goto out;
        }
        ixp = xasprintf("%s/strata-index", m->work);
        index = open(ixp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = store_tmp_create(s, "commit", true, &tmp, &tmpfd, e);
        if (r < 0)
                goto out;
        if (mkdirat(tmpfd, "diff", 0755) < 0 || (dest = openat(tmpfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                r = err_set(e, errno, "create %s/diff", tmp);
                goto out;
        }
        /* a kept run's writable layer holds the mount points of the files
         * the run bound over (hostname, hosts, resolv.conf): they are the
         * run's, not the image's (docker keeps them out too) */
        static const char *const run_binds[] = { "etc/hostname", "etc/hosts", "etc/resolv.conf", NULL };
        mdir = realpath(m->dir, NULL);
        rootfs = xasprintf("%s/rootfs", mdir ? mdir : m->dir);
        bool is_run = m->command || !strcmp(m->mountpoint, rootfs);
        struct pause p;
        r = pause_mount(m, &p, e);
        if (r < 0)
                goto out;
        r = pack_snapshot_move(upper, lowers, im->n_layers, index, dest, is_run ? run_binds : NULL, move,
                               st ? st : &dummy, e);
        resume_mount(&p);
        if (r < 0) {
                err_wrap(e, "copy the writable layer");
                goto out;
        }
        *diff_fd = TAKE_FD(dest);
        *tmpdir = TAKE_PTR(tmp);
out:
        if (tmp)
                store_discard_tmpdir(s, tmp);
        close_fds(lowers, im->n_layers);
        return r;
}

int commit_mount(struct store *s, const char *target, const struct commit_opts *o, char id[DIGEST_STR_LEN + 1],
                 struct err *e)
{
        struct store_mount m = { 0 };
        struct store_image parent = { 0 };
        json_t *pcfg = NULL, *cfg = NULL;
        _cleanup_free_ char *tmp = NULL, *name = NULL;
        _cleanup_close_ int dest = -1;
        struct new_layer nl = { .lockfd = -1 };
        struct pack_stats st;
        int r = new_image_name(o->name, &name, e);
        if (r >= 0)
                r = find_mount_arg(s, target, &m, e);
        if (r >= 0 && !m.image)
                r = err_setx(e, EINVAL, "%s is a mount of directories, not of an image", target);
        if (r >= 0)
                r = store_find_image(s, m.image, &parent, e);
        if (r >= 0)
                r = image_config_json(s, &parent, &pcfg, e);
        if (r >= 0) {
                /* the -c changes are checked before anything is written */
                json_t *scratch = NULL;
                struct pack_commit_info ci0 = { 0 };
                r = pack_config_commit(pcfg, (const char *const *)o->changes, o->n_changes, NULL, &ci0, &scratch, e);
                json_decref(scratch);
        }
        if (r < 0)
                goto out;
        enum pack_format f = o->format_set ? o->format : image_manifest_format(s, &parent);
        if (f == PACK_FORMAT_DOCKER && !pack_layer_media_type(f, o->tar.compression)) {
                r = err_setx(e, EINVAL, "docker's format has no %s layers (use --format oci)",
                             pack_compression_name(o->tar.compression));
                goto out;
        }
        uint64_t t0 = now_ns();
        r = commit_snapshot(s, &m, &parent, &tmp, &dest, &st, e);
        if (r < 0)
                goto out;
        uint64_t t1 = now_ns();
        debugf("commit: copied %llu entries (%llu metacopy, %llu whiteouts, %llu opaque), %llu bytes in %.3f s",
               (unsigned long long)st.entries, (unsigned long long)st.metacopies,
               (unsigned long long)st.whiteouts, (unsigned long long)st.opaques,
               (unsigned long long)st.file_bytes, (double)(t1 - t0) / 1e9);
        r = new_layer_commit(s, tmp, f, &o->tar, &st, &nl, e);   /* removes tmp on failure */
        if (r >= 0)
                debugf("commit: layer %s (%s, %llu bytes) made and stored in %.3f s", nl.digest,
                       pack_compression_name(o->tar.compression), (unsigned long long)nl.size,
                       (double)(now_ns() - t1) / 1e9);
        if (r < 0)
                goto out;

        const char *created_by = o->message ? o->message : m.command;
        struct pack_commit_info ci = { .created_by = created_by ? created_by : "strata commit",
                                       .author = o->author, .comment = o->message,
                                       .created = o->tar.clamp ? o->tar.epoch : time(NULL) };
        r = pack_config_commit(pcfg, (const char *const *)o->changes, o->n_changes, nl.diff_id, &ci, &cfg, e);
        if (r >= 0)
                r = new_image_record(s, cfg, f, &parent, &nl, name, id, e);
out:
        new_layer_done(&nl);
        json_decref(pcfg);
        json_decref(cfg);
        store_image_free(&parent);
        store_mount_free(&m);
        return r;
}
