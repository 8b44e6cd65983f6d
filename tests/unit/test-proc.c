/* util/proc.c: a process that has exited counts as gone before anyone
 * reaps it (umount waited for init to reap the daemon: 1.9 s here). */
#include "util/util.h"
#include "tests/unit/tap.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int thread_pipe = -1;

static void *wait_on_pipe(void *arg)
{
        (void)arg;
        char b;
        (void)read(thread_pipe, &b, 1);
        _exit(0);       /* not exit(): this process's copy of stdout is the parent's */
}

/* The leader of a threaded process exits first: /proc shows it as a zombie
 * while the other thread (and the process's descriptors) live on. */
static void threaded_leader(void)
{
        int p[2];
        if (pipe(p) < 0)
                return;
        pid_t c = fork();
        if (c == 0) {
                close(p[1]);
                thread_pipe = p[0];
                pthread_t t;
                if (pthread_create(&t, NULL, wait_on_pipe, NULL) != 0)
                        _exit(1);
                pthread_exit(NULL);
        }
        close(p[0]);
        /* until the leader has exited, it is alive anyway */
        for (int i = 0; i < 500; i++) {
                char b[1024];
                const char *f = proc_stat(c, b, sizeof b);
                if (f && *f == 'Z')
                        break;
                struct timespec ts = { 0, 2 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        ok(pid_alive(c), "a process whose leader exited but whose thread runs is alive");
        ok(!pid_wait_gone(c, 50), "  and still there after 50 ms");
        close(p[1]);
        ok(pid_wait_gone(c, 5000), "  gone once its last thread exits, before it is reaped");
        waitpid(c, NULL, 0);
}

int main(void)
{
        ok(pid_alive(getpid()), "this process is alive");
        ok(!pid_alive(0) && !pid_alive(-1), "no pid is not alive");

        int p[2];
        if (pipe(p) < 0)
                return 1;
        pid_t c = fork();
        if (c == 0) {
                char b;
                close(p[1]);
                (void)read(p[0], &b, 1);   /* until the parent closes its end */
                _exit(0);
        }
        close(p[0]);
        ok(pid_alive(c), "a running child is alive");
        ok(!pid_wait_gone(c, 50), "  and still there after 50 ms");
        close(p[1]);                       /* it exits; nobody reaps it yet */
        ok(pid_wait_gone(c, 5000), "an exited child is gone before it is reaped");
        ok(!pid_alive(c), "  (a zombie)");
        siginfo_t si;
        ok(waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == c,
           "  it was a zombie: not reaped until now");
        waitpid(c, NULL, 0);
        ok(!pid_alive(c), "reaped: gone");
        threaded_leader();
        return tap_done();
}
