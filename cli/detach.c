/* cli/detach.c — see detach.h. */
#include "detach.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define LINE_MAX_BYTES 16384   /* a longer line is cut into P(artial) lines */

int detach_fork(struct detach *d, bool keep_stdin, struct err *e)
{
        int p[2], in[2] = { -1, -1 };
        if (pipe2(p, O_CLOEXEC) < 0)
                return err_set(e, errno, "pipe");
        if (keep_stdin && pipe2(in, O_CLOEXEC) < 0) {
                close(p[0]), close(p[1]);
                return err_set(e, errno, "pipe");
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]), close(p[1]);
                return err_set(e, errno, "fork the supervisor");
        }
        if (pid > 0) {
                close(p[1]);
                if (in[0] >= 0)
                        close(in[0]), close(in[1]);
                d->fd = p[0];
                return 0;
        }
        close(p[0]);
        d->fd = p[1];
        d->told = false;
        setsid();
        signal(SIGPIPE, SIG_IGN);       /* the caller may be gone */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);   /* invariant (1) */
        if (null >= 0) {
                dup2(in[0] >= 0 ? in[0] : null, 0);
                dup2(null, 1);
                dup2(null, 2);
                close(null);
        }
        if (in[0] >= 0)
                close(in[0]);          /* in[1] stays open, never written: no end of file */
        if (chdir("/") < 0)
                return err_set(e, errno, "chdir /");
        return 1;
}

static void tell(struct detach *d, const char *msg)
{
        if (d->told)
                return;
        d->told = true;
        (void)write_all(d->fd, msg, strlen(msg));
        close(d->fd);
        d->fd = -1;
}

void detach_started(struct detach *d, const char *id)
{
        char msg[80];
        snprintf(msg, sizeof msg, "I%s", id);
        tell(d, msg);
}

void detach_failed(struct detach *d, int status, const struct err *e)
{
        char msg[ERR_MSG_MAX + 16];
        snprintf(msg, sizeof msg, "E%d %s", status, e->msg[0] ? e->msg : strerror(e->code ? e->code : EIO));
        tell(d, msg);
}

int detach_wait(struct detach *d, char *id, size_t id_len, int *status, struct err *e)
{
        char msg[ERR_MSG_MAX + 16];
        ssize_t n = read_full(d->fd, msg, sizeof msg - 1);
        close(d->fd);
        *status = 125;
        if (n <= 1)
                return err_setx(e, EIO, "the run's supervisor exited before the command started");
        msg[n] = '\0';
        if (msg[0] == 'I') {
                snprintf(id, id_len, "%s", msg + 1);
                *status = 0;
                return 0;
        }
        char *sp = strchr(msg, ' ');
        *status = atoi(msg + 1);
        return err_setx(e, EIO, "%s", sp ? sp + 1 : "the command did not start");
}

/* ------------------------------------------------------------------ log */

struct stream {
        const char *name;
        char buf[LINE_MAX_BYTES];
        size_t len;
};

static void put_line(int fd, struct stream *st, const char *text, size_t n, bool full)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char head[96];
        size_t h = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(head + h, sizeof head - h, ".%09ldZ %s %c ", ts.tv_nsec, st->name, full ? 'F' : 'P');
        struct buf b = BUF_INIT(LINE_MAX_BYTES + sizeof head + 1);
        if (buf_printf(&b, "%s", head) == 0 && buf_append(&b, text, n) == 0 && buf_append(&b, "\n", 1) == 0)
                (void)write_all(fd, b.data, b.len);
        buf_free(&b);
}

/* feed() - the lines in @data, each written whole; the rest waits */
static void feed(int fd, struct stream *st, const char *data, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        put_line(fd, st, st->buf, st->len, true);
                        st->len = 0;
                        continue;
                }
                if (st->len == sizeof st->buf) {
                        put_line(fd, st, st->buf, st->len, false);
                        st->len = 0;
                }
                st->buf[st->len++] = data[i];
        }
}

static void relay(struct runlog *l)
{
        static struct stream streams[2] = { { .name = "stdout" }, { .name = "stderr" } };
        bool open_[2] = { true, true };
        char chunk[8192];
        while (open_[0] || open_[1]) {
                struct pollfd pf[2] = { { open_[0] ? l->rd[0] : -1, POLLIN, 0 }, { open_[1] ? l->rd[1] : -1, POLLIN, 0 } };
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = read(l->rd[i], chunk, sizeof chunk);
                        if (n > 0) {
                                feed(l->fd, &streams[i], chunk, (size_t)n);
                        } else if (n == 0 || errno != EINTR) {
                                open_[i] = false;
                                if (streams[i].len)
                                        put_line(l->fd, &streams[i], streams[i].buf, streams[i].len, false);
                                streams[i].len = 0;
                        }
                }
        }
}

int runlog_open(struct runlog *l, const char *path, struct err *e)
{
        int out[2], err2[2];
        l->logger = -1;
        l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (l->fd < 0)
                return err_set(e, errno, "create %s", path);
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err2, O_CLOEXEC) < 0) {
                close(l->fd);
                return err_set(e, errno, "pipe");
        }
        l->rd[0] = out[0];
        l->rd[1] = err2[0];
        /* a process, not a thread: the sandbox's raw clone must not copy a
         * lock (malloc's) that another thread holds */
        pid_t pid = fork();
        if (pid == 0) {
                /* only the log and the pipes' read ends: a copy of the caller's
                 * message pipe held here would keep `run -d` waiting */
                for (int fd = 3; fd < 4096; fd++)
                        if (fd != l->fd && fd != out[0] && fd != err2[0])
                                close(fd);
                relay(l);
                _exit(0);
        }
        int r = 0;
        if (pid < 0)
                r = err_set(e, errno, "fork the log writer");
        else if (dup2(out[1], 1) < 0 || dup2(err2[1], 2) < 0)
                r = err_set(e, errno, "redirect the output to %s", path);
        close(out[0]), close(out[1]), close(err2[0]), close(err2[1]), close(l->fd);
        l->logger = pid;
        return r;
}

void runlog_close(struct runlog *l)
{
        if (l->logger <= 0)
                return;
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
                close(null);
        }
        /* it ends once every process that held the pipes is gone */
        while (waitpid(l->logger, NULL, 0) < 0 && errno == EINTR)
                ;
        l->logger = -1;
}
