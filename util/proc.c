/* Is a process still there?  A process that has exited but that nobody
 * has reaped yet (a zombie) still answers kill(pid, 0); a daemon whose
 * parent is gone waits as one until init reaps it, which some inits (a
 * container's or a VM's minimal one) do only every second or two. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The state letter of /proc/PID/stat ('R', 'S', 'Z'...), 0 if unknown. */
static char proc_state(int pid)
{
        char path[64], b[512];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read_full(fd, b, sizeof b - 1);
        close(fd);
        if (n <= 0)
                return 0;
        b[n] = '\0';
        /* the command's name is in parentheses and may hold either */
        char *p = strrchr(b, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

bool pid_alive(int pid)
{
        if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
                return false;
        char st = proc_state(pid);
        return st != 'Z' && st != 'X';
}

bool pid_wait_gone(int pid, unsigned timeout_ms)
{
        for (unsigned waited = 0; pid_alive(pid); waited += 10) {
                if (waited >= timeout_ms)
                        return false;
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return true;
}
