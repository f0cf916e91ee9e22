/* command_export.c: `inception export`: what a fitted model predicts for a
 * user's image set, written as co-training targets (shared/SCIENCE.md
 * section 4: Li et al. 2019 regularize towards the similarity of predicted
 * population responses, Safarani et al. 2021 regress predicted responses with
 * an MSE loss).
 *
 * Every output is an NPY file sized up front (npy_create) and filled in
 * pieces with pwrite, and every pass reads its input back in pieces with
 * pread, so memory stays bounded whatever the number of images: the N × N
 * similarity of 50,000 images (10 GB) is computed one strip of rows at a time.
 *
 * Outputs (in --out DIR):
 *   responses.npy         N × M float32, predicted responses (model_predict)
 *   similarity.npy        N × N float32, Pearson correlation between images'
 *                         population vectors after z-scoring each neuron
 *                         across the set (see similarity_* below)
 *   features.npy          N × C × h × w float32, the core's output
 *   permutation.npy       N int64, with the shuffled control: row i of every
 *                         *_shuffled.npy is row permutation[i] of the original
 *   *_shuffled.npy        the same targets with images shuffled
 *   gaussian.npy          N × M float32 Gaussian vectors with the responses'
 *                         mean and covariance (+ similarity_gaussian.npy)
 *   manifest.json         what each file is, shapes, dtypes, model checksum,
 *                         image order, neurons and their test correlations */
#include "commands.h"
#include "controller.h"
#include "model.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define EXPORT_CHUNK 256                      /* images per prediction pass */
#define SIMILARITY_STRIP_BYTES (64u << 20)    /* rows of the N × N output held at once */
#define SIMILARITY_BLOCK 1024                 /* images per column block of sgemm */
#define MAX_OUTPUTS 16

static const char export_help[] =
    "usage: inception export --model MODEL --images SET --out DIR [options]\n\n"
    "Write a fitted model's predictions for a set of images as co-training targets:\n"
    "NPY files plus manifest.json. SET is a folder of PNG/JPEG files (name order) or an\n"
    "NPY array N×H×W (grayscale) or N×H×W×3 (RGB), uint8 0..255 or float 0..1; images are\n"
    "centre-cropped to the model's aspect and resized to its input (area averaging when\n"
    "shrinking, bilinear when enlarging), as luminance in [0,1].\n\n"
    "  --model FILE        a model saved by `inception fit` (required)\n"
    "  --images SET        folder or .npy file of images (required)\n"
    "  --out DIR           output folder, created if missing (required)\n"
    "  --what LIST         any of responses,similarity,features (default\n"
    "                      responses,similarity)\n"
    "  --pool N            features: average N×N blocks of the core's maps (default 1:\n"
    "                      full maps; 0: one value per channel)\n"
    "  --controls LIST     any of shuffled (rows permuted, permutation.npy) and gaussian\n"
    "                      (Gaussian vectors with the responses' mean and covariance)\n"
    "  --seed N            seed of the controls (default 1)\n"
    "  --data DIR          the dataset the model was fitted on: adds each neuron's test\n"
    "                      correlations to the manifest, to weight or select neurons\n"
    "  --threads N         threads (default 2)\n"
    "  --strip-rows N      similarity rows computed at once (default: as many as fit in\n"
    "                      64 MiB; memory use does not grow with the number of images)\n";

typedef struct output_file {
    char name[48];
    int ndim;
    int64_t shape[4];
    const char *dtype;
    const char *what;
} output_file;

typedef struct export_job {
    const char *model_path, *images_path, *out_dir, *data_dir;
    int want_responses, want_similarity, want_features;
    int shuffled, gaussian;
    int pool, threads, strip_rows;
    uint64_t seed;
    model *m;
    image_set *set;
    int count, height, width, neurons;
    int feat_c, feat_h, feat_w;
    int64_t *permutation;
    neuron_metrics *metrics; /* NULL without --data */
    char model_sha256[65];
    char model_real[PATH_MAX], images_real[PATH_MAX]; /* absolute paths, for the manifest */
    int out_of_range_pixels;
    output_file outputs[MAX_OUTPUTS];
    int n_outputs;
    double seconds_predict, seconds_similarity;
} export_job;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("inception export: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A file in the output folder. Returned by value (the caller's temporary
 * lives to the end of its full expression), so no buffer is shared. */
typedef struct path_text {
    char s[4096];
} path_text;

static path_text out_path(const export_job *job, const char *name)
{
    path_text p;
    snprintf(p.s, sizeof p.s, "%s/%s", job->out_dir, name);
    return p;
}

static void add_output(export_job *job, const char *name, int ndim, const int64_t *shape,
                       const char *dtype, const char *what)
{
    if (job->n_outputs == MAX_OUTPUTS)
        return;
    output_file *o = &job->outputs[job->n_outputs++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        o->shape[i] = shape[i];
    o->dtype = dtype;
    o->what = what;
}

/* ------------------------------------------------------------------------ */
/* Whole-buffer pread/pwrite, and NPY files written in pieces. */

static int write_at(int fd, const void *buf, size_t n, long long offset)
{
    const char *p = buf;
    while (n) {
        ssize_t put = pwrite(fd, p, n, (off_t)offset);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return 1;
        p += put;
        n -= (size_t)put;
        offset += put;
    }
    return 0;
}

static int read_at(int fd, void *buf, size_t n, long long offset)
{
    char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 1;
        p += got;
        n -= (size_t)got;
        offset += got;
    }
    return 0;
}

typedef struct npy_out {
    int fd;
    long long offset; /* where the data starts */
    char path[4096];
} npy_out;

static int npy_out_create(npy_out *o, const char *path, npy_dtype dtype, int ndim,
                          const int64_t *shape)
{
    char err[MODEL_ERR_SIZE];
    snprintf(o->path, sizeof o->path, "%s", path);
    o->fd = -1;
    if (npy_create(path, dtype, ndim, shape, &o->offset, err))
        return fail("%s", err);
    o->fd = open(path, O_RDWR);
    if (o->fd < 0)
        return fail("%s: cannot open: %s", path, strerror(errno));
    return 0;
}

static int npy_out_close(npy_out *o)
{
    if (o->fd < 0)
        return 0;
    int rc = close(o->fd);
    o->fd = -1;
    return rc ? fail("%s: close failed: %s", o->path, strerror(errno)) : 0;
}

/* A float32 NPY file this command wrote, opened for reading: the data
 * starts after the preamble (magic, version, header length) and header. */
static int npy_in_open(npy_out *o, const char *path)
{
    snprintf(o->path, sizeof o->path, "%s", path);
    o->fd = open(path, O_RDONLY);
    unsigned char pre[12];
    if (o->fd < 0 || read_at(o->fd, pre, sizeof pre, 0) || memcmp(pre + 1, "NUMPY", 5))
        return fail("%s: cannot read back", path);
    long long len = pre[8] | pre[9] << 8;
    if (pre[6] != 1)
        len |= (long long)pre[10] << 16 | (long long)pre[11] << 24;
    o->offset = (pre[6] == 1 ? 10 : 12) + len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* SHA-256 of the model file (sha256.c), so a target set names the exact
 * model that made it; `sha256sum model.bin` prints the same. */

static int file_sha256(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail("%s: cannot open: %s", path, strerror(errno));
    sha256_context s;
    sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return fail("%s: read failed", path);
    uint8_t digest[SHA256_SIZE];
    sha256_final(&s, digest);
    sha256_hex(digest, out);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Progress: one line, rewritten in place on a terminal, every half second. */

typedef struct progress {
    const char *label;
    double start, last;
    long long total;
    int tty;
} progress;

static void progress_start(progress *p, const char *label, long long total)
{
    p->label = label;
    p->start = p->last = now_seconds();
    p->total = total;
    p->tty = isatty(fileno(stdout));
}

static void progress_show(progress *p, long long done, const char *unit)
{
    double t = now_seconds();
    int final = done >= p->total;
    if (!final && t - p->last < 0.5)
        return;
    p->last = t;
    double rate = t > p->start ? done / (t - p->start) : 0.0;
    printf("%s%-12s %3.0f%%  %lld/%lld %s  %.0f %s/s  %.1f s%s", p->tty ? "\r" : "", p->label,
           p->total ? 100.0 * done / p->total : 100.0, done, p->total, unit, rate, unit,
           t - p->start, final || !p->tty ? "\n" : "");
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Pass 1: images through the model, responses and features written as they
 * come. */

static void count_out_of_range(export_job *job, const float *images, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(images[i] >= -1e-3f && images[i] <= 1.001f))
            job->out_of_range_pixels++;
}

static int predict_pass(export_job *job, const char *responses_path)
{
    int N = job->count, M = job->neurons, chunk = N < EXPORT_CHUNK ? N : EXPORT_CHUNK;
    size_t HW = (size_t)job->height * job->width;
    size_t per_feature = (size_t)job->feat_c * job->feat_h * job->feat_w;
    int64_t rshape[2] = {N, M}, fshape[4] = {N, job->feat_c, job->feat_h, job->feat_w};
    npy_out resp = {.fd = -1}, feat = {.fd = -1};
    float *images = malloc((size_t)chunk * HW * sizeof(float));
    float *rates = malloc((size_t)chunk * M * sizeof(float));
    float *features = job->want_features ? malloc((size_t)chunk * per_feature * sizeof(float))
                                         : NULL;
    int status = 1;
    char err[MODEL_ERR_SIZE];
    if (!images || !rates || (job->want_features && !features)) {
        fail("out of memory for a chunk of %d images", chunk);
        goto done;
    }
    if (npy_out_create(&resp, responses_path, NPY_FLOAT32, 2, rshape) ||
        (job->want_features &&
         npy_out_create(&feat, out_path(job, "features.npy").s, NPY_FLOAT32, 4, fshape)))
        goto done;
    progress p;
    progress_start(&p, "predicting", N);
    for (int first = 0; first < N; first += chunk) {
        int B = N - first < chunk ? N - first : chunk;
        if (image_set_read(job->set, first, B, job->height, job->width, images, err) ||
            model_predict(job->m, images, B, rates, err) ||
            (features && model_core_features(job->m, images, B, job->pool, features, err))) {
            fail("%s", err);
            goto done;
        }
        count_out_of_range(job, images, (size_t)B * HW);
        if (write_at(resp.fd, rates, (size_t)B * M * sizeof(float),
                     resp.offset + (long long)first * M * (long long)sizeof(float)) ||
            (features && write_at(feat.fd, features, (size_t)B * per_feature * sizeof(float),
                                  feat.offset + (long long)first * (long long)per_feature *
                                                    (long long)sizeof(float)))) {
            fail("%s: write failed: %s", job->out_dir, strerror(errno));
            goto done;
        }
        progress_show(&p, first + B, "images");
    }
    job->seconds_predict = now_seconds() - p.start;
    status = 0;
done:
    if (npy_out_close(&resp) || npy_out_close(&feat))
        status = 1;
    free(images);
    free(rates);
    free(features);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Rows of a float32 matrix on disk, in a given order. */

static int read_rows(const npy_out *in, const int64_t *order, long long first, int count,
                     int cols, float *out)
{
    size_t row_bytes = (size_t)cols * sizeof(float);
    if (!order)
        return read_at(in->fd, out, (size_t)count * row_bytes,
                       in->offset + first * (long long)row_bytes);
    for (int i = 0; i < count; i++)
        if (read_at(in->fd, out + (size_t)i * cols, row_bytes,
                    in->offset + order[first + i] * (long long)row_bytes))
            return 1;
    return 0;
}

/* Copy the rows of a float32 NPY file into a new one in permuted order:
 * row i of the copy is row order[i] of the source. */
static int permute_rows(const char *from, const char *to, const int64_t *order, int ndim,
                        const int64_t *shape)
{
    long long rows = shape[0], cols = 1;
    for (int d = 1; d < ndim; d++)
        cols *= shape[d];
    npy_out in = {.fd = -1}, out = {.fd = -1};
    float *row = malloc((size_t)cols * sizeof(float));
    int status = 1;
    if (!row || npy_in_open(&in, from) ||
        npy_out_create(&out, to, NPY_FLOAT32, ndim, shape))
        goto done;
    for (long long i = 0; i < rows; i++)
        if (read_rows(&in, order, i, 1, (int)cols, row) ||
            write_at(out.fd, row, (size_t)cols * sizeof(float),
                     out.offset + i * cols * (long long)sizeof(float))) {
            fail("%s: copying rows failed", to);
            goto done;
        }
    status = 0;
done:
    if (npy_out_close(&in) || npy_out_close(&out))
        status = 1;
    free(row);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Similarity. S[i][j] is the Pearson correlation, across neurons, between
 * images i and j of the z-scored responses z[i][n] = (r[i][n] − mean_n) / sd_n
 * (mean and population sd of neuron n over the set; a neuron constant over
 * the set contributes 0). With u_i = (z_i − mean(z_i)) / ‖z_i − mean(z_i)‖,
 * S = U Uᵀ; an image whose z-scored vector is constant gets a zero row. The
 * normalized rows go to a scratch file, and S is produced strip by strip. */

static int neuron_statistics(const npy_out *in, long long N, int M, double *mean, double *sd)
{
    int chunk = EXPORT_CHUNK;
    float *rows = malloc((size_t)chunk * M * sizeof(float));
    double *sq = calloc((size_t)M, sizeof(double));
    int failed = !rows || !sq;
    memset(mean, 0, (size_t)M * sizeof(double));
    /* Two passes (mean, then squared deviations): exact enough in double for
     * any set size. */
    for (int pass = 0; pass < 2 && !failed; pass++)
        for (long long first = 0; first < N && !failed; first += chunk) {
            int B = N - first < chunk ? (int)(N - first) : chunk;
            failed = read_rows(in, NULL, first, B, M, rows);
            for (size_t i = 0; !failed && i < (size_t)B * M; i++) {
                size_t n = i % (size_t)M;
                if (pass == 0)
                    mean[n] += rows[i];
                else
                    sq[n] += (rows[i] - mean[n]) * (rows[i] - mean[n]);
            }
            if (pass == 0 && first + B >= N)
                for (int n = 0; n < M; n++)
                    mean[n] /= (double)N;
        }
    for (int n = 0; !failed && n < M; n++)
        sd[n] = sqrt(sq[n] / (double)N);
    free(rows);
    free(sq);
    return failed;
}

static void normalize_row(float *r, int M, const double *mean, const double *sd)
{
    double sum = 0;
    for (int n = 0; n < M; n++) {
        double z = sd[n] > 0 ? (r[n] - mean[n]) / sd[n] : 0.0;
        r[n] = (float)z;
        sum += z;
    }
    double centre = sum / M, norm = 0;
    for (int n = 0; n < M; n++)
        norm += (r[n] - centre) * (r[n] - centre);
    double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
    for (int n = 0; n < M; n++)
        r[n] = (float)((r[n] - centre) * scale);
}

/* U (N × M, normalized rows in `order`) written to a raw scratch file. */
static int write_unit_rows(const npy_out *in, const int64_t *order, long long N, int M,
                           const double *mean, const double *sd, npy_out *u)
{
    int chunk = EXPORT_CHUNK;
    float *rows = malloc((size_t)chunk * M * sizeof(float));
    int failed = !rows;
    for (long long first = 0; first < N && !failed; first += chunk) {
        int B = N - first < chunk ? (int)(N - first) : chunk;
        failed = read_rows(in, order, first, B, M, rows);
        for (int b = 0; !failed && b < B; b++)
            normalize_row(rows + (size_t)b * M, M, mean, sd);
        failed = failed || write_at(u->fd, rows, (size_t)B * M * sizeof(float),
                                    first * M * (long long)sizeof(float));
    }
    free(rows);
    return failed;
}

/* S rows [first, first + B) into `strip` (B × N), block by block of columns. */
static int similarity_strip(const npy_out *u, long long N, int M, long long first, int B,
                            float *rows, float *cols, float *strip)
{
    if (read_rows(u, NULL, first, B, M, rows))
        return 1;
    for (long long j = 0; j < N; j += SIMILARITY_BLOCK) {
        int J = N - j < SIMILARITY_BLOCK ? (int)(N - j) : SIMILARITY_BLOCK;
        if (read_rows(u, NULL, j, J, M, cols))
            return 1;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, J, M, 1.0f, rows, M, cols, M,
                    0.0f, strip + j, (int)N);
    }
    return 0;
}

static int similarity_export(export_job *job, const char *responses_path,
                             const int64_t *order, const char *name)
{
    long long N = job->count;
    int M = job->neurons;
    long long fit = (long long)(SIMILARITY_STRIP_BYTES / ((size_t)N * sizeof(float)));
    long long strip_rows = job->strip_rows ? job->strip_rows : fit;
    int S = strip_rows < 1 ? 1 : strip_rows > N ? (int)N : (int)strip_rows;
    int64_t shape[2] = {N, N};
    npy_out in = {.fd = -1}, out = {.fd = -1};
    npy_out u = {.fd = -1, .offset = 0};
    double *mean = malloc((size_t)M * sizeof(double)), *sd = malloc((size_t)M * sizeof(double));
    float *rows = malloc((size_t)S * M * sizeof(float));
    float *cols = malloc((size_t)SIMILARITY_BLOCK * M * sizeof(float));
    float *strip = malloc((size_t)S * N * sizeof(float));
    snprintf(u.path, sizeof u.path, "%s/.%s.scratch", job->out_dir, name);
    int status = 1;
    if (!mean || !sd || !rows || !cols || !strip) {
        fail("out of memory for the similarity of %lld images", N);
        goto done;
    }
    if (npy_in_open(&in, responses_path) ||
        npy_out_create(&out, out_path(job, name).s, NPY_FLOAT32, 2, shape))
        goto done;
    u.fd = open(u.path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (u.fd < 0) {
        fail("%s: cannot create: %s", u.path, strerror(errno));
        goto done;
    }
    if (neuron_statistics(&in, N, M, mean, sd) ||
        write_unit_rows(&in, order, N, M, mean, sd, &u)) {
        fail("%s: reading the responses back failed", responses_path);
        goto done;
    }
    progress p;
    progress_start(&p, name, N);
    for (long long first = 0; first < N; first += S) {
        int B = N - first < S ? (int)(N - first) : S;
        if (similarity_strip(&u, N, M, first, B, rows, cols, strip) ||
            write_at(out.fd, strip, (size_t)B * N * sizeof(float),
                     out.offset + first * N * (long long)sizeof(float))) {
            fail("%s: writing the similarity failed: %s", out.path, strerror(errno));
            goto done;
        }
        progress_show(&p, first + B, "rows");
    }
    job->seconds_similarity += now_seconds() - p.start;
    status = 0;
done:
    if (npy_out_close(&in) || npy_out_close(&out) || npy_out_close(&u))
        status = 1;
    unlink(u.path);
    free(mean);
    free(sd);
    free(rows);
    free(cols);
    free(strip);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Controls. */

static int make_permutation(export_job *job)
{
    job->permutation = malloc((size_t)job->count * sizeof(int64_t));
    if (!job->permutation)
        return fail("out of memory for a permutation of %d images", job->count);
    for (int i = 0; i < job->count; i++)
        job->permutation[i] = i;
    model_rng rng;
    model_rng_seed(&rng, job->seed);
    model_rng_shuffle_i64(&rng, job->permutation, job->count);
    char err[MODEL_ERR_SIZE];
    int64_t shape[1] = {job->count};
    if (npy_write(out_path(job, "permutation.npy").s, NPY_INT64, 1, shape, job->permutation, err))
        return fail("%s", err);
    add_output(job, "permutation.npy", 1, shape, "int64",
               "the shuffled control's order: row i of every *_shuffled.npy is row "
               "permutation[i] of the original (for the similarity, rows and columns)");
    return 0;
}

/* Mean and covariance (divisor N − 1) of the responses, in double. */
static int response_moments(const npy_out *in, long long N, int M, double *mean, double *cov)
{
    int chunk = EXPORT_CHUNK;
    float *rows = malloc((size_t)chunk * M * sizeof(float));
    double *centred = malloc((size_t)chunk * M * sizeof(double));
    double *sd = malloc((size_t)M * sizeof(double));
    int failed = !rows || !centred || !sd || neuron_statistics(in, N, M, mean, sd);
    memset(cov, 0, (size_t)M * M * sizeof(double));
    for (long long first = 0; first < N && !failed; first += chunk) {
        int B = N - first < chunk ? (int)(N - first) : chunk;
        failed = read_rows(in, NULL, first, B, M, rows);
        for (size_t i = 0; !failed && i < (size_t)B * M; i++)
            centred[i] = rows[i] - mean[i % (size_t)M];
        if (!failed)
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, M, B, 1.0, centred, M, 1.0, cov,
                        M);
    }
    for (size_t i = 0; !failed && i < (size_t)M; i++)
        for (size_t j = 0; j <= i; j++) {
            cov[i * M + j] /= (double)(N > 1 ? N - 1 : 1);
            cov[j * M + i] = cov[i * M + j];
        }
    free(rows);
    free(centred);
    free(sd);
    return failed;
}

/* Lower-triangular L with L Lᵀ = cov for a positive semi-definite cov: a
 * Cholesky factorization whose pivots at or below a tolerance (directions of
 * no variance, e.g. fewer images than neurons) give zero columns. */
static void cholesky_semidefinite(const double *cov, int M, float *L)
{
    double *l = calloc((size_t)M * M, sizeof(double));
    double max_diag = 0;
    for (int i = 0; i < M; i++)
        max_diag = cov[(size_t)i * M + i] > max_diag ? cov[(size_t)i * M + i] : max_diag;
    double tol = 1e-10 * max_diag;
    for (int j = 0; l && j < M; j++) {
        double d = cov[(size_t)j * M + j];
        for (int k = 0; k < j; k++)
            d -= l[(size_t)j * M + k] * l[(size_t)j * M + k];
        if (d <= tol)
            continue; /* column stays zero */
        double ljj = sqrt(d);
        l[(size_t)j * M + j] = ljj;
        for (int i = j + 1; i < M; i++) {
            double s = cov[(size_t)i * M + j];
            for (int k = 0; k < j; k++)
                s -= l[(size_t)i * M + k] * l[(size_t)j * M + k];
            l[(size_t)i * M + j] = s / ljj;
        }
    }
    for (size_t i = 0; i < (size_t)M * M; i++)
        L[i] = l ? (float)l[i] : 0.0f;
    free(l);
}

static int gaussian_export(export_job *job, const char *responses_path)
{
    long long N = job->count;
    int M = job->neurons, chunk = EXPORT_CHUNK;
    int64_t shape[2] = {N, M};
    npy_out in = {.fd = -1}, out = {.fd = -1};
    double *mean = malloc((size_t)M * sizeof(double));
    double *cov = malloc((size_t)M * M * sizeof(double));
    float *L = malloc((size_t)M * M * sizeof(float));
    float *z = malloc((size_t)chunk * M * sizeof(float));
    float *x = malloc((size_t)chunk * M * sizeof(float));
    int status = 1;
    if (!mean || !cov || !L || !z || !x) {
        fail("out of memory for the covariance of %d neurons", M);
        goto done;
    }
    if (npy_in_open(&in, responses_path))
        goto done;
    if (response_moments(&in, N, M, mean, cov)) {
        fail("%s: reading the responses back failed", responses_path);
        goto done;
    }
    cholesky_semidefinite(cov, M, L);
    if (npy_out_create(&out, out_path(job, "gaussian.npy").s, NPY_FLOAT32, 2, shape))
        goto done;
    model_rng rng;
    model_rng_seed(&rng, job->seed ^ 0x9e3779b97f4a7c15ULL);
    for (long long first = 0; first < N; first += chunk) {
        int B = N - first < chunk ? (int)(N - first) : chunk;
        for (size_t i = 0; i < (size_t)B * M; i++) {
            z[i] = (float)model_rng_normal(&rng);
            x[i] = (float)mean[i % (size_t)M];
        }
        /* x = mean + z Lᵀ: each row's covariance is L Lᵀ. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, M, M, 1.0f, z, M, L, M, 1.0f,
                    x, M);
        /* The responses are finite (model_predict refuses others) but a draw
         * from their covariance can still overflow float near FLT_MAX. */
        for (size_t i = 0; i < (size_t)B * M; i++)
            if (!isfinite(x[i])) {
                fail("%s: draw %lld, neuron %zu overflows float: responses this large have "
                     "no Gaussian control", out.path, first + (long long)(i / (size_t)M),
                     i % (size_t)M);
                goto done;
            }
        if (write_at(out.fd, x, (size_t)B * M * sizeof(float),
                     out.offset + first * M * (long long)sizeof(float))) {
            fail("%s: write failed: %s", out.path, strerror(errno));
            goto done;
        }
    }
    add_output(job, "gaussian.npy", 2, shape, "float32",
               "Gaussian control: independent draws from N(mean, covariance) of responses.npy "
               "(sample mean and covariance over the set, divisor N-1)");
    status = 0;
done:
    if (npy_out_close(&in) || npy_out_close(&out))
        status = 1;
    free(mean);
    free(cov);
    free(L);
    free(z);
    free(x);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Test correlations from the dataset the model was fitted on. */

static int neuron_quality(export_job *job)
{
    char err[MODEL_ERR_SIZE];
    dataset d;
    if (dataset_load(job->data_dir, &d, err))
        return fail("%s", err);
    int status = 1, n_test = dataset_count_tier(&d, TIER_TEST), N = d.neurons;
    size_t HW = (size_t)d.height * d.width;
    float *images = NULL, *resp = NULL, *pred = NULL;
    int64_t *ids = NULL;
    if (d.height != job->height || d.width != job->width || N != job->neurons) {
        fail("%s has %dx%d images and %d neurons; the model expects %dx%d and %d",
             job->data_dir, d.width, d.height, N, job->width, job->height, job->neurons);
        goto done;
    }
    if (n_test < 2) {
        fail("%s has no test trials to judge the neurons by", job->data_dir);
        goto done;
    }
    images = malloc((size_t)n_test * HW * sizeof(float));
    resp = malloc((size_t)n_test * N * sizeof(float));
    pred = malloc((size_t)n_test * N * sizeof(float));
    ids = malloc((size_t)n_test * sizeof(int64_t));
    job->metrics = malloc((size_t)N * sizeof *job->metrics);
    if (!images || !resp || !pred || !ids || !job->metrics) {
        fail("out of memory for the test trials of %s", job->data_dir);
        goto done;
    }
    for (int t = 0, k = 0; t < d.trials; t++) {
        if (d.tiers[t] != TIER_TEST)
            continue;
        memcpy(images + k * HW, d.images + (size_t)t * HW, HW * sizeof(float));
        memcpy(resp + (size_t)k * N, d.responses + (size_t)t * N, (size_t)N * sizeof(float));
        ids[k++] = d.image_ids[t];
    }
    if (model_predict(job->m, images, n_test, pred, err) ||
        metrics_evaluate(pred, resp, ids, n_test, N, job->metrics, err)) {
        fail("%s", err);
        goto done;
    }
    status = 0;
done:
    if (status) {
        free(job->metrics);
        job->metrics = NULL;
    }
    free(images);
    free(resp);
    free(pred);
    free(ids);
    dataset_free(&d);
    return status;
}

/* ------------------------------------------------------------------------ */
/* manifest.json */

/* Undefined metrics (a neuron constant over the test set) are null. */
static void manifest_metric(json_out *o, json_t *neurons, const export_job *job,
                            const char *key, int which)
{
    json_t *values = json_out_array(o, neurons, key);
    for (int n = 0; n < job->neurons; n++) {
        const neuron_metrics *x = &job->metrics[n];
        double v = which == 0 ? x->corr_to_average : which == 1 ? x->single_trial_corr
                                                                : x->feve;
        json_out_real_or_null(o, values, key, v);
    }
}

static void manifest_model(json_out *o, const export_job *job)
{
    const model_config *c = model_get_config(job->m);
    float mean, sd;
    model_get_standardization(job->m, &mean, &sd);
    json_t *m = json_out_object(o, o->root, "model");
    json_out_text(o, m, "path", job->model_real);
    json_out_text(o, m, "sha256", job->model_sha256);
    json_out_text(o, m, "kind", model_kind_name(c->kind));
    json_out_int(o, m, "input_height", c->height);
    json_out_int(o, m, "input_width", c->width);
    json_out_int(o, m, "neurons", c->neurons);
    json_out_real(o, m, "input_mean", mean);
    json_out_real(o, m, "input_std", sd);
}

static void manifest_images(json_out *o, const export_job *job)
{
    json_t *im = json_out_object(o, o->root, "images");
    json_out_text(o, im, "source", job->images_real);
    int npy = image_set_name(job->set, 0) == NULL;
    json_out_text(o, im, "kind", npy ? "npy" : "folder");
    json_out_int(o, im, "count", job->count);
    if (npy) {
        int h, w;
        image_set_size(job->set, 0, &h, &w);
        json_out_int(o, im, "original_height", h);
        json_out_int(o, im, "original_width", w);
        json_out_text(o, im, "order", "rows of the NPY array, in order");
        json_out_null(o, im, "names");
    } else {
        json_out_text(o, im, "order", "file names in byte order");
        json_t *names = json_out_array(o, im, "names");
        for (int i = 0; i < job->count; i++)
            json_out_text(o, names, "names (an image file's name)", image_set_name(job->set, i));
    }
    json_out_int(o, im, "pixels_outside_0_1", job->out_of_range_pixels);
    json_out_text(o, o->root, "preprocessing",
                  "luminance in [0,1]: PNG/JPEG decoded to gray with Rec. 709 "
                  "weights 0.2126 R + 0.7152 G + 0.0722 B on the encoded values (alpha ignored); NPY "
                  "uint8 divided by 255, float taken as is, N x H x W x 3 combined with the same "
                  "weights. Then the centre of each image cropped to the model's aspect ratio "
                  "(fractional crop) and resized to the model's input: area averaging when shrinking, "
                  "bilinear interpolation (pixel centres at i + 0.5, edges repeated) when enlarging. "
                  "The model standardizes the result with input_mean and input_std itself.");
}

static void manifest_neurons(json_out *o, const export_job *job)
{
    json_t *ns = json_out_object(o, o->root, "neurons");
    json_t *ids = json_out_array(o, ns, "ids");
    for (int n = 0; n < job->neurons; n++)
        json_out_int(o, ids, "ids", n);
    json_out_text(o, ns, "ids_are", "column index in responses.npy (the dataset's neuron order)");
    if (job->metrics) {
        json_out_text(o, ns, "data", job->data_dir);
        manifest_metric(o, ns, job, "test_correlation_to_average", 0);
        manifest_metric(o, ns, job, "test_single_trial_correlation", 1);
        manifest_metric(o, ns, job, "test_feve", 2);
    } else {
        json_out_null(o, ns, "test_correlation_to_average");
    }
}

static void manifest_files(json_out *o, const export_job *job)
{
    json_t *files = json_out_object(o, o->root, "files");
    for (int i = 0; i < job->n_outputs; i++) {
        const output_file *of = &job->outputs[i];
        json_t *file = json_out_object(o, files, of->name);
        json_t *shape = json_out_array(o, file, "shape");
        for (int d = 0; d < of->ndim; d++)
            json_out_int(o, shape, "shape", of->shape[d]);
        json_out_text(o, file, "dtype", of->dtype);
        json_out_text(o, file, "what", of->what);
    }
}

static int write_manifest(const export_job *job)
{
    path_text manifest = out_path(job, "manifest.json");
    json_out o;
    if (json_out_begin(&o))
        return fail("%s: %s", manifest.s, o.err);
    json_out_text(&o, o.root, "format", "inception export 1");
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    manifest_model(&o, job);
    manifest_images(&o, job);
    manifest_neurons(&o, job);
    manifest_files(&o, job);
    json_out_text(&o, o.root, "similarity",
                  "S[i][j] = Pearson correlation across neurons between images i "
                  "and j of the z-scored responses z[i][n] = (r[i][n] - mean_n) / sd_n, mean and "
                  "population sd of neuron n over this image set (a constant neuron contributes 0; an "
                  "image with a constant z-vector has a zero row). Li et al. 2019 take arctanh of the "
                  "off-diagonal entries as the target.");
    json_t *controls = json_out_object(&o, o.root, "controls");
    json_out_seed(&o, controls, "seed", job->seed);
    json_out_bool(&o, controls, "shuffled", job->shuffled);
    json_out_bool(&o, controls, "gaussian", job->gaussian);
    json_out_int(&o, o.root, "features_pool", job->pool);
    json_t *seconds = json_out_object(&o, o.root, "seconds");
    json_out_real(&o, seconds, "predict", job->seconds_predict);
    json_out_real(&o, seconds, "similarity", job->seconds_similarity);
    int status = json_out_write(&o, manifest.s);
    if (status)
        fail("%s: not written: %s", manifest.s, o.err);
    json_out_end(&o);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Options and the order of work. */

/* Set *flags[i] for each word of a comma-separated list; unknown words fail. */
static int parse_list(const char *option, const char *list, const char *const *words,
                      int **flags, int n)
{
    for (int i = 0; i < n; i++)
        *flags[i] = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strlen(words[i]) == len && !strncmp(p, words[i], len))
                found = *flags[i] = 1;
        if (!found) {
            fprintf(stderr, "inception export: --%s: unknown item '%.*s' (choose from", option,
                    (int)len, p);
            for (int i = 0; i < n; i++)
                fprintf(stderr, "%s%s", i ? ", " : " ", words[i]);
            fprintf(stderr, ")\n");
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

static int parse_options(int argc, char **argv, export_job *job)
{
    cli_option o[] = {{"model", 1, NULL},    {"images", 1, NULL}, {"out", 1, NULL},
                      {"what", 1, NULL},     {"pool", 1, NULL},   {"controls", 1, NULL},
                      {"seed", 1, NULL},     {"data", 1, NULL},   {"threads", 1, NULL},
                      {"strip-rows", 1, NULL}};
    if (cli_parse("export", argc, argv, o, COUNT(o)))
        return 1;
    job->model_path = cli_get(o, COUNT(o), "model");
    job->images_path = cli_get(o, COUNT(o), "images");
    job->out_dir = cli_get(o, COUNT(o), "out");
    job->data_dir = cli_get(o, COUNT(o), "data");
    if (!job->model_path || !job->images_path || !job->out_dir) {
        fprintf(stderr, "inception export: --model, --images and --out are required "
                        "(see --help)\n");
        return 1;
    }
    const char *what = cli_get(o, COUNT(o), "what"), *controls = cli_get(o, COUNT(o), "controls");
    static const char *const what_words[] = {"responses", "similarity", "features"};
    static const char *const control_words[] = {"shuffled", "gaussian"};
    int *what_flags[] = {&job->want_responses, &job->want_similarity, &job->want_features};
    int *control_flags[] = {&job->shuffled, &job->gaussian};
    job->want_responses = job->want_similarity = 1;
    job->pool = 1;
    job->threads = 2;
    job->seed = 1;
    if ((what && parse_list("what", what, what_words, what_flags, 3)) ||
        (controls && parse_list("controls", controls, control_words, control_flags, 2)))
        return 1;
    if (!job->want_responses && !job->want_similarity && !job->want_features) {
        fprintf(stderr, "inception export: --what names nothing to export\n");
        return 1;
    }
    return cli_get_int(o, COUNT(o), "pool", 0, 4096, &job->pool) ||
           cli_get_int(o, COUNT(o), "threads", 1, 256, &job->threads) ||
           cli_get_int(o, COUNT(o), "strip-rows", 0, INT32_MAX, &job->strip_rows) ||
           cli_get_u64(o, COUNT(o), "seed", &job->seed);
}

static int make_folder(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : fail("%s exists and is not a folder", dir);
    if (mkdir(dir, 0755) != 0)
        return fail("%s: cannot create the folder: %s", dir, strerror(errno));
    return 0;
}

/* Model, image set, output folder, checksum. */
static int open_inputs(export_job *job)
{
    char err[MODEL_ERR_SIZE];
    if (model_load(&job->m, job->model_path, err))
        return fail("%s", err);
    model_set_threads(job->m, job->threads);
    const model_config *c = model_get_config(job->m);
    job->height = c->height;
    job->width = c->width;
    job->neurons = c->neurons;
    if (job->want_features &&
        model_core_features_shape(job->m, job->pool, &job->feat_c, &job->feat_h, &job->feat_w,
                                  err))
        return fail("--what features: %s: %s", job->model_path, err);
    if (image_set_open(&job->set, job->images_path, err))
        return fail("%s", err);
    job->count = image_set_count(job->set);
    if (!realpath(job->model_path, job->model_real))
        snprintf(job->model_real, sizeof job->model_real, "%s", job->model_path);
    if (!realpath(job->images_path, job->images_real))
        snprintf(job->images_real, sizeof job->images_real, "%s", job->images_path);
    return make_folder(job->out_dir) || file_sha256(job->model_path, job->model_sha256) ||
           (job->data_dir && neuron_quality(job));
}

static void note_outputs(export_job *job)
{
    int64_t r[2] = {job->count, job->neurons}, s[2] = {job->count, job->count};
    int64_t f[4] = {job->count, job->feat_c, job->feat_h, job->feat_w};
    if (job->want_responses)
        add_output(job, "responses.npy", 2, r, "float32",
                   "predicted responses (spike counts per response window), images x neurons");
    if (job->want_features)
        add_output(job, "features.npy", 4, f, "float32",
                   "the shared core's output (after its last nonlinearity), images x channels "
                   "x height x width, averaged over features_pool blocks (0: whole map)");
    if (job->want_similarity)
        add_output(job, "similarity.npy", 2, s, "float32",
                   "representational similarity of the predicted population responses, images "
                   "x images (see \"similarity\")");
}

static int shuffled_controls(export_job *job, const char *responses_path)
{
    int64_t r[2] = {job->count, job->neurons}, s[2] = {job->count, job->count};
    int64_t f[4] = {job->count, job->feat_c, job->feat_h, job->feat_w};
    if (make_permutation(job))
        return 1;
    if (job->want_responses) {
        if (permute_rows(responses_path, out_path(job, "responses_shuffled.npy").s,
                         job->permutation, 2, r))
            return 1;
        add_output(job, "responses_shuffled.npy", 2, r, "float32",
                   "shuffled control: responses.npy rows in permutation order");
    }
    if (job->want_features) {
        if (permute_rows(out_path(job, "features.npy").s, out_path(job, "features_shuffled.npy").s,
                         job->permutation, 4, f))
            return 1;
        add_output(job, "features_shuffled.npy", 4, f, "float32",
                   "shuffled control: features.npy rows in permutation order");
    }
    if (job->want_similarity) {
        if (similarity_export(job, responses_path, job->permutation, "similarity_shuffled.npy"))
            return 1;
        add_output(job, "similarity_shuffled.npy", 2, s, "float32",
                   "shuffled control: S[permutation[i]][permutation[j]]");
    }
    return 0;
}

static int run_export(export_job *job)
{
    /* Responses are always computed (the similarity and the controls are
     * made from them); kept only when asked for. */
    char responses_path[4096];
    snprintf(responses_path, sizeof responses_path, "%s",
             out_path(job, job->want_responses ? "responses.npy" : ".responses.scratch.npy").s);
    printf("exporting %d images (resized to %dx%d) through a %s model of %d neurons to %s\n",
           job->count, job->width, job->height,
           model_kind_name(model_get_config(job->m)->kind), job->neurons, job->out_dir);
    note_outputs(job);
    int64_t s[2] = {job->count, job->count};
    int rc = predict_pass(job, responses_path) ||
             (job->want_similarity && similarity_export(job, responses_path, NULL,
                                                        "similarity.npy")) ||
             (job->shuffled && shuffled_controls(job, responses_path)) ||
             (job->gaussian && gaussian_export(job, responses_path));
    if (!rc && job->gaussian && job->want_similarity) {
        rc = similarity_export(job, out_path(job, "gaussian.npy").s, NULL,
                               "similarity_gaussian.npy");
        add_output(job, "similarity_gaussian.npy", 2, s, "float32",
                   "Gaussian control: the similarity of gaussian.npy");
    }
    if (!job->want_responses)
        unlink(responses_path);
    if (rc || write_manifest(job))
        return 1;
    if (job->out_of_range_pixels)
        fprintf(stderr, "inception export: warning: %d pixels outside [0,1]: float images are "
                        "taken as luminance in [0,1]\n", job->out_of_range_pixels);
    printf("wrote %d files and manifest.json to %s\n", job->n_outputs, job->out_dir);
    return 0;
}

int command_export(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(export_help, stdout);
        return 0;
    }
    export_job job;
    memset(&job, 0, sizeof job);
    if (parse_options(argc, argv, &job))
        return 2;
    int status = open_inputs(&job) || run_export(&job);
    free(job.permutation);
    free(job.metrics);
    image_set_destroy(job.set);
    model_destroy(job.m);
    return status;
}
