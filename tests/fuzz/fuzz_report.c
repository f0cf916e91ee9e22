/* Fuzz target: any bytes as a session's record give a report or a clear
 * error, never a crash, a hang or a read out of bounds. Seeds: the record
 * corpus plus a whole synthetic session (tests/fuzz/corpus/report). Each
 * input is written as DIR/session.rec of one scratch folder per process. */
#include "controller.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[64];

static void remove_scratch(void)
{
    rmdir(scratch);
}

static const char *scratch_dir(void)
{
    if (!scratch[0]) {
        snprintf(scratch, sizeof scratch, "/tmp/fuzz_report_XXXXXX");
        if (!mkdtemp(scratch))
            abort();
        atexit(remove_scratch);
    }
    return scratch;
}

/* Every file the report wrote (their names follow the record: stimulus
 * indices, search targets' neurons), the folder, the record. */
static void remove_report(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/report", dir);
    DIR *folder = opendir(path);
    for (struct dirent *e; folder && (e = readdir(folder));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/report/%s", dir, e->d_name);
        unlink(path);
    }
    if (folder)
        closedir(folder);
    snprintf(path, sizeof path, "%s/report", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/" RECORD_FILE_NAME, dir);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = scratch_dir();
    char path[256], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/" RECORD_FILE_NAME, dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f))
        abort();
    report_summary summary;
    err[0] = 0;
    if (report_write(dir, &summary, err) && !memchr(err, '\0', sizeof err))
        __builtin_trap();
    remove_report(dir);
    return 0;
}
