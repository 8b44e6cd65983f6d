/* util/ — the leaf module: errors, cleanup helpers, bounded buffers,
 * sha256 (OpenSSL EVP), small file helpers.  Depends on nothing else in
 * strata.  Nothing here logs or exits.
 *
 * Error convention (used by every module): a function that can fail returns
 * 0 (or a count) on success and -errno on failure, with @err filled.  Each
 * layer that passes an error up may add one phrase with err_wrap(); only
 * cli/ prints it, once. */
#ifndef STRATA_UTIL_H
#define STRATA_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

#define ERR_MSG_MAX 2048

struct err {
        int code;                  /* positive errno, 0 when no error */
        char msg[ERR_MSG_MAX];     /* "what failed: why" */
};

/* err_set() - record an error.  @errnum is a positive errno; its strerror()
 * is appended as ": <text>" unless @errnum is 0 (then EIO is the code and
 * the message stands alone).  Returns -code, so `return err_set(...)` works. */
int err_set(struct err *e, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* err_setx() - like err_set() but the message is complete: nothing appended. */
int err_setx(struct err *e, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* err_wrap() - prefix the existing message with "<phrase>: ".  Returns -code. */
int err_wrap(struct err *e, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* err_clear() - forget the error. */
void err_clear(struct err *e);

/* ------------------------------------------------------------- cleanups */

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int s = errno; close(*fd); errno = s; } }
/* unused: clang counts a variable kept only for its cleanup as unused */
#define _cleanup_(f) __attribute__((cleanup(f), unused))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
/* Hand ownership out of a _cleanup_ variable: the variable becomes NULL/-1. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* xmalloc-style helpers abort on OOM: strata treats allocation failure as fatal. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------ bounded buffers */

/* struct buf: a growable byte buffer with a ceiling.
 * Invariants: data is NUL-terminated at data[len] whenever data != NULL;
 * len <= max.  buf_append() fails with -EFBIG past max and leaves the buffer
 * as it was. */
struct buf {
        char *data;
        size_t len, cap, max;
};
#define BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);          /* len = 0, keeps memory */
void buf_free(struct buf *b);           /* releases memory; accepts a freed buf */
char *buf_steal(struct buf *b);         /* returns data (never NULL), buf empty */

/* --------------------------------------------------------------- sha256 */

#define SHA256_HEX_LEN 64
#define DIGEST_STR_LEN (7 + SHA256_HEX_LEN)   /* "sha256:" + hex */

struct sha256 { void *md_ctx; };          /* an OpenSSL EVP_MD_CTX */
void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* sha256_final() - writes "sha256:<hex>" (DIGEST_STR_LEN+1 bytes) and frees the context. */
void sha256_final(struct sha256 *h, char out[DIGEST_STR_LEN + 1]);
void sha256_free(struct sha256 *h);       /* for abandoning; accepts a finished one */
/* sha256_digest() - "sha256:<hex>" of a buffer. */
void sha256_digest(const void *p, size_t n, char out[DIGEST_STR_LEN + 1]);
/* digest_valid() - true for "sha256:" followed by exactly 64 lowercase hex. */
bool digest_valid(const char *d);
/* digest_hex() - the hex part of a valid digest (pointer into @d). */
const char *digest_hex(const char *d);

/* ------------------------------------------------------------ file helpers */

/* mkdir_p() - create @path and missing parents with @mode; 0 if it exists. */
int mkdir_p(const char *path, mode_t mode, struct err *e);
/* write_file_atomic() - write @len bytes to a temporary file next to @path,
 * fsync it, rename it over @path and fsync the directory.  Readers see the
 * old file or the new one, never half.  @mode is the new file's mode. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e);
/* read_file_bounded() - read a whole file of at most @max bytes into @out
 * (NUL-terminated).  -EFBIG past @max. */
int read_file_bounded(const char *path, size_t max, struct buf *out, struct err *e);
/* opendir_at() - the directory @path below @dirfd (never a symlink), opened
 * for reading its entries; NULL with errno set on failure. */
DIR *opendir_at(int dirfd, const char *path);
/* rm_rf_at() - remove @name below @dirfd recursively, never following
 * symlinks or crossing mount points.  ENOENT is success. */
int rm_rf_at(int dirfd, const char *name, struct err *e);
/* write_all() / read_full() - loop over short writes/reads and EINTR.
 * read_full returns bytes read (< n only at EOF) or -errno. */
ssize_t write_all(int fd, const void *p, size_t n);
ssize_t read_full(int fd, void *p, size_t n);

/* ------------------------------------------------------------- processes */

/* proc_stat() - /proc/@pid/stat read into @buf (@size bytes): the fields
 * after the command's name, the state letter first; NULL if unreadable. */
const char *proc_stat(int pid, char *buf, size_t size);
/* pid_alive() - process @pid exists and has not exited (a zombie, exited
 * but not yet reaped, counts as gone; EPERM from kill() as there). */
bool pid_alive(int pid);
/* proc_start() - the start time of process @pid (/proc/PID/stat field 22),
 * with which a pid that names it still is told from a reused one; 0 when
 * there is none (or it has ended: a zombie). */
unsigned long long proc_start(int pid);
/* pid_wait_gone() - wait up to @timeout_ms for pid_alive() to turn false;
 * true once it has. */
bool pid_wait_gone(int pid, unsigned timeout_ms);

/* ----------------------------------------------------------------- JSON */

typedef struct json_t json_t;   /* jansson's */
/* json_read_file() - parse the JSON file @path of at most @max bytes into
 * *@out (caller json_decref()s).  -EBADMSG naming the line when it is not
 * JSON; read_file_bounded()'s errors otherwise (-ENOENT, -EFBIG...). */
int json_read_file(const char *path, size_t max, json_t **out, struct err *e);
/* for files that include <jansson.h>: its json_decrefp() releases */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* human_size() - docker's units: "129MB", "5.6kB" (powers of 1000). */
void human_size(uint64_t bytes, char *out, size_t outlen);

/* now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

#endif
