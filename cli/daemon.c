/* The union filesystem's daemon: start and readiness (see daemon.h). */
#include "daemon.h"
#include "cli.h"
#include "config.h"
#include "store/store.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

void image_lowers(struct store *s, const struct store_image *im, const char *empty_dir, struct fs_config *cfg)
{
        cfg->lowers = xcalloc(im->n_layers + 1, sizeof *cfg->lowers);
        cfg->n_lowers = 0;
        for (size_t i = im->n_layers; i-- > 0;) {
                char *p = store_layer_path(s, im->layers[i].diff_id);
                char *abs = realpath(p, NULL);
                cfg->lowers[cfg->n_lowers++] = abs ? abs : p;
                if (abs)
                        free(p);
        }
        if (!im->n_layers) {
                (void)mkdir(empty_dir, 0755);
                char *abs = realpath(empty_dir, NULL);
                cfg->lowers[cfg->n_lowers++] = abs ? abs : xstrdup(empty_dir);
        }
}

int mount_driver(const char *flag, bool *kernel, struct err *e)
{
        struct config c = { 0 };
        if (!flag) {
                int r = cfg_load(G.config, &c, e);
                if (r < 0)
                        return r;
                flag = c.mount_driver;
        }
        int r = 0;
        *kernel = flag && !strcmp(flag, "kernel");
        if (flag && !*kernel && strcmp(flag, "fuse"))
                r = err_setx(e, EINVAL, "--driver %s: fuse or kernel", flag);
        cfg_free(&c);
        return r;
}

/* Become strata-fsd, the lean daemon next to this executable (cli/fsd.c),
 * with @wfd as its ready pipe.  Returns only when it cannot be run; then
 * this process serves itself. */
static void exec_fsd(const struct fs_config *cfg, const char *mountpoint, int wfd)
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
                return;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (!slash)
                return;
        _cleanup_free_ char *exe = xasprintf("%.*s/strata-fsd", (int)(slash - self), self);
        char **words = fs_config_argv(cfg);
        size_t nw = 0;
        while (words[nw])
                nw++;
        _cleanup_free_ char **argv = xcalloc(nw + 4, sizeof(*argv));
        _cleanup_free_ char *fd = xasprintf("%d", wfd);
        argv[0] = "strata-fsd";
        argv[1] = fd;
        memcpy(argv + 2, words, nw * sizeof(*words));
        argv[nw + 2] = (char *)mountpoint;
        if (fcntl(wfd, F_SETFD, 0) == 0) {
                execv(exe, argv);
                (void)fcntl(wfd, F_SETFD, FD_CLOEXEC);
        }
        fs_config_argv_free(words);
}

/* The daemon's side: serve, or send "E<message>" up the pipe and exit. */
static void __attribute__((noreturn)) daemon_main(struct fs_config *cfg, const char *mountpoint, int wfd,
                                                  bool die_with_parent)
{
        setsid();   /* away from the terminal's signals */
        if (die_with_parent)
                prctl(PR_SET_PDEATHSIG, SIGTERM);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
        }
        if (chdir("/") < 0)
                _exit(1);
        cfg->quiet_after_ready = true;
        exec_fsd(cfg, mountpoint, wfd);
        struct err e = { 0 };
        /* fs_serve() writes '1' on its copy once the mount is in place */
        if (fs_serve(cfg, mountpoint, dup(wfd), &e) < 0) {
                signal(SIGPIPE, SIG_IGN);   /* the parent may be gone */
                char *msg = xasprintf("E%s", e.msg[0] ? e.msg : "the filesystem daemon failed");
                (void)!write(wfd, msg, strlen(msg));
                _exit(1);
        }
        _exit(0);
}

int daemon_start(struct fs_config *cfg, const char *mountpoint, bool die_with_parent,
                 void (*on_pid)(pid_t pid, void *ctx), void *ctx, pid_t *pid, struct err *e)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return err_set(e, errno, "pipe");
        fflush(NULL);
        pid_t child = fork();
        if (child < 0) {
                close(p[0]);
                close(p[1]);
                return err_set(e, errno, "fork");
        }
        if (child == 0) {
                close(p[0]);
                daemon_main(cfg, mountpoint, p[1], die_with_parent);
        }
        close(p[1]);
        if (on_pid)
                on_pid(child, ctx);
        /* '1' comes alone while the daemon lives on (holding the pipe); an
         * error message is followed by its exit, so by EOF. */
        char buf[ERR_MSG_MAX + 1];
        ssize_t n;
        do
                n = read(p[0], buf, 1);
        while (n < 0 && errno == EINTR);
        if (n == 1 && buf[0] != '1') {
                ssize_t more = read_full(p[0], buf + 1, sizeof buf - 2);
                n += more > 0 ? more : 0;
        }
        close(p[0]);
        if (n > 0 && buf[0] == '1') {
                *pid = child;
                return 0;
        }
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        if (n > 1 && buf[0] == 'E') {
                buf[n] = '\0';
                return err_setx(e, EIO, "%s", buf + 1);
        }
        return err_setx(e, EIO, "mount %s: the filesystem daemon exited before the mount was ready", mountpoint);
}
