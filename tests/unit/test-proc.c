/* util/proc.c: a process that has exited counts as gone before anyone
 * reaps it (umount waited for init to reap the daemon: 1.9 s here). */
#include "util/util.h"
#include "tests/unit/tap.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
        return tap_done();
}
