/* test_files.h: helpers shared by the tests that write files: removing a
 * temporary tree, reading a whole file, and building NumPy unicode arrays (Sensorium's tiers). */
#ifndef INCEPTION_TEST_FILES_H
#define INCEPTION_TEST_FILES_H

#include "model.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_unlink_entry(const char *path, const struct stat *st, int type,
                             struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static inline void remove_tree(const char *dir)
{
    nftw(dir, test_unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole content of a file, malloc'd (never NULL when it could be read),
 * its length in *size; NULL when it cannot be opened. */
static inline unsigned char *read_file_bytes(const char *path, size_t *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *size = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

/* A unicode array of `n` names, width `chars` (UTF-32LE, NUL padded). */
static inline npy_array unicode_array(const char **names, int n, int chars)
{
    npy_array a;
    memset(&a, 0, sizeof a);
    a.dtype = NPY_UNICODE;
    a.ndim = 1;
    a.shape[0] = n;
    a.itemsize = 4 * (size_t)chars;
    a.count = (size_t)n;
    a.data = calloc((size_t)n, a.itemsize);
    for (int i = 0; i < n; i++)
        for (int c = 0; names[i][c] && c < chars; c++)
            ((unsigned char *)a.data)[i * a.itemsize + 4 * (size_t)c] = (unsigned char)names[i][c];
    return a;
}

#endif
