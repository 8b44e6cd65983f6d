/* strata login / logout — docker login's flow into strata's own auth file
 * (fetch.h "credentials"; fetch_auth_file_default()). */
#include "cli.h"
#include "fetchcfg.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#define SECRET_MAX 4096

/* One line from @f without its newline; NULL at EOF or past SECRET_MAX. */
static char *read_line(FILE *f)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n < 0 || n > SECRET_MAX) {
                free(line);
                return NULL;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
        return line;
}

static char *prompt(const char *what, bool secret)
{
        fprintf(stderr, "%s: ", what);
        fflush(stderr);
        struct termios old, quiet;
        bool tty = secret && tcgetattr(STDIN_FILENO, &old) == 0;
        if (tty) {
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        char *v = read_line(stdin);
        if (tty) {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
                fputc('\n', stderr);
        }
        return v;
}

int cmd_login(int argc, char **argv)
{
        static const struct option opts[] = {
                { "username", required_argument, NULL, 'u' },
                { "password", required_argument, NULL, 'p' },
                { "password-stdin", no_argument, NULL, 's' },
                { 0 }
        };
        _cleanup_free_ char *user = NULL, *pass = NULL;
        bool from_stdin = false;
        int c;
        while ((c = getopt_long(argc, argv, "u:p:", opts, NULL)) != -1) {
                switch (c) {
                case 'u': free(user), user = xstrdup(optarg); break;
                case 'p': free(pass), pass = xstrdup(optarg); break;
                case 's': from_stdin = true; break;
                default: return bad_option("login", argv);
                }
        }
        if (argc - optind > 1)
                return usage_error("login", "requires at most 1 argument");
        if (pass && from_stdin)
                return usage_error("login", "--password and --password-stdin are mutually exclusive");
        if (from_stdin && !user)
                return usage_error("login", "must provide --username with --password-stdin");
        _cleanup_free_ char *reg = registry_arg(optind < argc ? argv[optind] : "docker.io");
        if (pass)
                fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
        if (from_stdin) {
                pass = read_line(stdin);
                if (!pass || !*pass) {
                        fprintf(stderr, "strata: login %s: no password on stdin\n", reg);
                        return 1;
                }
        }
        if (!user || !pass) {
                if (!isatty(STDIN_FILENO)) {
                        fprintf(stderr, "strata: login %s: cannot perform an interactive login from a non TTY device\n", reg);
                        return 1;
                }
                if (!user)
                        user = prompt("Username", false);
                if (user && !pass)
                        pass = prompt("Password", true);
                if (!user || !*user || !pass || !*pass) {
                        fprintf(stderr, "strata: login %s: username and password required\n", reg);
                        return 1;
                }
        }

        struct err e = { 0 };
        struct fetch_setup fs;
        int r = fetch_setup_load(&fs, NULL, &e);
        if (r < 0)
                return report_err(&e);
        struct fetch_source *srcs = NULL;
        size_t n = 0;
        _cleanup_free_ char *path = fetch_auth_file_default();
        r = registry_sources(&fs, reg, "library/x", &srcs, &n, &e);
        struct fetch_opts o = { 0 };
        if (r >= 0)
                r = fetch_login(&srcs[n - 1], user, pass, &o, &e);
        if (r >= 0 && !path)
                r = err_setx(&e, ENOENT, "no place for the auth file: set HOME or STRATA_AUTH_FILE");
        if (r >= 0)
                r = fetch_authfile_store(path, reg, user, pass, &e);
        fetch_sources_free(srcs, n);
        fetch_setup_free(&fs);
        if (r < 0) {
                err_wrap(&e, "login %s", reg);
                return report_err(&e);
        }
        printf("Login Succeeded\n");
        return 0;
}

int cmd_logout(int argc, char **argv)
{
        int r = no_options("logout", argc, argv);
        if (r)
                return r;
        if (argc - optind > 1)
                return usage_error("logout", "requires at most 1 argument");
        _cleanup_free_ char *reg = registry_arg(optind < argc ? argv[optind] : "docker.io");
        _cleanup_free_ char *path = fetch_auth_file_default();
        struct err e = { 0 };
        r = path ? fetch_authfile_remove(path, reg, &e) : -ENOENT;
        if (r == -ENOENT) {
                printf("Not logged in to %s\n", reg);
                return 0;
        }
        if (r < 0) {
                err_wrap(&e, "logout %s", reg);
                return report_err(&e);
        }
        printf("Removing login credentials for %s\n", reg);
        return 0;
}
