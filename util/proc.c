/* Is a process still there?  A process that has exited but that nobody
 * has reaped yet (a zombie) still answers kill(pid, 0); a daemon whose
 * parent is gone waits as one until init reaps it, which some inits (a
 * container's or a VM's minimal one) do only every second or two.  But
 * the leader of a threaded process shows as a zombie as soon as it exits
 * itself, while its other threads still run and hold its files. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *proc_stat(int pid, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0)
                return NULL;
        ssize_t n = read_full(fd, buf, size - 1);
        close(fd);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        /* the command's name is in parentheses and may hold either */
        char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && p[2] ? p + 2 : NULL;
}

/* The number of threads of @pid's group that have not been released
 * (/proc/PID/status), or -1. */
static int proc_threads(int pid)
{
        char path[64], b[4096];
        snprintf(path, sizeof path, "/proc/%d/status", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read_full(fd, b, sizeof b - 1);
        close(fd);
        if (n <= 0)
                return -1;
        b[n] = '\0';
        const char *t = strstr(b, "\nThreads:");
        return t ? atoi(t + strlen("\nThreads:")) : -1;
}

bool pid_alive(int pid)
{
        if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
                return false;
        char b[1024];
        const char *f = proc_stat(pid, b, sizeof b);
        if (!f || (*f != 'Z' && *f != 'X'))
                return true;
        /* a zombie leader whose other threads still run is a live process
         * (its descriptors are still open): gone once it is the only one */
        return proc_threads(pid) > 1;
}

unsigned long long proc_start(int pid)
{
        char b[1024];
        const char *f = proc_stat(pid, b, sizeof b);
        unsigned long long start = 0;
        /* state, then 19 fields */
        if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &start) != 1)
                return 0;
        /* a zombie: it has ended, its parent not yet told */
        return *f == 'Z' ? 0 : start;
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
