/* A plain main() for fuzz targets, so they run as ordinary tests without
 * libFuzzer: every file named on the command line, and every file in every
 * folder named there, is fed once to LLVMFuzzerTestOneInput. Speaks TAP: one
 * "ok" per input (a crash is the failure), and "not ok" for an input that
 * cannot be read or when no input was found at all. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int number)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    int ok = f != NULL;
    while (ok) {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                ok = 0;
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0) {
            ok = !ferror(f);
            break;
        }
    }
    if (f)
        fclose(f);
    if (ok) {
        /* An exact-size copy, so ASan sees any read past the end. */
        unsigned char *exact = malloc(size ? size : 1);
        if (exact && size)
            memcpy(exact, buf, size);
        ok = exact != NULL;
        if (ok)
            LLVMFuzzerTestOneInput(exact, size);
        free(exact);
    }
    free(buf);
    printf("%s %d - %s (%zu bytes)\n", ok ? "ok" : "not ok", number, path, size);
    fflush(stdout);
    return ok;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Runs the files of one folder in name order; returns how many ran. */
static int run_dir(const char *dir, int *number, int *failed)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), ran = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && len > 0 && len < (int)sizeof path && !is_dir(path)) {
            *failed += !run_file(path, ++*number);
            ran++;
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    return ran;
}

int main(int argc, char **argv)
{
    int number = 0, failed = 0, ran = 0;
    for (int i = 1; i < argc; i++) {
        if (is_dir(argv[i])) {
            ran += run_dir(argv[i], &number, &failed);
        } else {
            failed += !run_file(argv[i], ++number);
            ran++;
        }
    }
    if (ran == 0) {
        printf("not ok %d - no inputs found in the arguments\n", ++number);
        failed++;
    }
    printf("1..%d\n", number);
    return failed ? 1 : 0;
}
