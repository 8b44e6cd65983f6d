/* A plain driver for the libFuzzer targets: runs LLVMFuzzerTestOneInput once
 * over every file of the directories (or files) given.  `make check` uses it
 * so the corpora are replayed without clang; `make fuzz` links libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                perror(path);
                return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
        if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
                fclose(f);
                free(p);
                return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(p, (size_t)n);
        free(p);
        return 0;
}

int main(int argc, char **argv)
{
        int files = 0, bad = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        bad += run_file(argv[i]);
                        files++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        char path[4096];
                        snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
                        bad += run_file(path);
                        files++;
                }
                if (d)
                        closedir(d);
        }
        printf("%d inputs run, %d unreadable\n", files, bad);
        return bad ? 1 : 0;
}
