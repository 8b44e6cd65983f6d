/* Per-host TLS material from certs.d directories, read the way docker reads
 * /etc/docker/certs.d/HOST:PORT/: every *.crt is a CA added to the system
 * roots, every X.cert with its X.key is a client certificate.  Verification
 * itself is never turned off. */
#include "fetch-internal.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int scan_dir(const char *dir, struct fetch_tls *t, struct err *e)
{
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : err_set(e, errno, "open %s", dir);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < 256) {
                if (de->d_name[0] == '.')
                        continue;
                names = xrealloc(names, (n + 1) * sizeof *names);
                names[n++] = xstrdup(de->d_name);
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, cmp_str);   /* a stable choice among several pairs */
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
                if (ends_with(names[i], ".crt")) {
                        t->ca_files = xrealloc(t->ca_files, (t->n_ca_files + 1) * sizeof *t->ca_files);
                        t->ca_files[t->n_ca_files++] = TAKE_PTR(path);
                } else if (ends_with(names[i], ".cert") && !t->client_cert && r == 0) {
                        size_t base = strlen(path) - 5;
                        _cleanup_free_ char *key = xasprintf("%.*s.key", (int)base, path);
                        if (access(key, R_OK) < 0) {
                                r = err_setx(e, ENOENT, "client certificate %s has no matching %s", path, key);
                                continue;
                        }
                        t->client_cert = TAKE_PTR(path);
                        t->client_key = TAKE_PTR(key);
                }
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

int tls_load(char *const *dirs, size_t n, struct fetch_tls *out, struct err *e)
{
        memset(out, 0, sizeof *out);
        for (size_t i = 0; i < n; i++) {
                int r = scan_dir(dirs[i], out, e);
                if (r < 0) {
                        tls_free(out);
                        return r;
                }
        }
        return 0;
}

void tls_free(struct fetch_tls *t)
{
        for (size_t i = 0; i < t->n_ca_files; i++)
                free(t->ca_files[i]);
        free(t->ca_files);
        free(t->client_cert);
        free(t->client_key);
        memset(t, 0, sizeof *t);
}
