/* export_similarity.c: the export's similarity of predicted population
 * responses, and its controls: the shuffled order and the Gaussian vectors
 * (export_internal.h). */
#include "export_internal.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Similarity. S[i][j] is the Pearson correlation, across neurons, between
 * images i and j of the z-scored responses z[i][n] = (r[i][n] − mean_n) / sd_n
 * (mean and population sd of neuron n over the set; a neuron constant over
 * the set contributes 0). With u_i = (z_i − mean(z_i)) / ‖z_i − mean(z_i)‖,
 * S = U Uᵀ; an image whose z-scored vector is constant gets a zero row. The
 * normalized rows go to a scratch file, and S is produced strip by strip. */

static int neuron_statistics(const export_npy *in, long long N, int M, double *mean, double *sd)
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
            failed = export_read_rows(in, NULL, first, B, M, rows);
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
static int write_unit_rows(const export_npy *in, const int64_t *order, long long N, int M,
                           const double *mean, const double *sd, export_npy *u)
{
    int chunk = EXPORT_CHUNK;
    float *rows = malloc((size_t)chunk * M * sizeof(float));
    int failed = !rows;
    for (long long first = 0; first < N && !failed; first += chunk) {
        int B = N - first < chunk ? (int)(N - first) : chunk;
        failed = export_read_rows(in, order, first, B, M, rows);
        for (int b = 0; !failed && b < B; b++)
            normalize_row(rows + (size_t)b * M, M, mean, sd);
        failed = failed || export_write_at(u->fd, rows, (size_t)B * M * sizeof(float),
                                    first * M * (long long)sizeof(float));
    }
    free(rows);
    return failed;
}

/* S rows [first, first + B) into `strip` (B × N), block by block of columns. */
static int similarity_strip(const export_npy *u, long long N, int M, long long first, int B,
                            float *rows, float *cols, float *strip)
{
    if (export_read_rows(u, NULL, first, B, M, rows))
        return 1;
    for (long long j = 0; j < N; j += EXPORT_SIMILARITY_BLOCK) {
        int J = N - j < EXPORT_SIMILARITY_BLOCK ? (int)(N - j) : EXPORT_SIMILARITY_BLOCK;
        if (export_read_rows(u, NULL, j, J, M, cols))
            return 1;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, J, M, 1.0f, rows, M, cols, M,
                    0.0f, strip + j, (int)N);
    }
    return 0;
}

int export_similarity(export_job *job, const char *responses_path, const int64_t *order,
                      const char *name)
{
    long long N = job->count;
    int M = job->neurons;
    long long fit = (long long)(EXPORT_STRIP_BYTES / ((size_t)N * sizeof(float)));
    long long strip_rows = job->c.strip_rows ? job->c.strip_rows : fit;
    int S = strip_rows < 1 ? 1 : strip_rows > N ? (int)N : (int)strip_rows;
    int64_t shape[2] = {N, N};
    export_npy in = {.fd = -1}, out = {.fd = -1};
    export_npy u = {.fd = -1, .offset = 0};
    double *mean = malloc((size_t)M * sizeof(double)), *sd = malloc((size_t)M * sizeof(double));
    float *rows = malloc((size_t)S * M * sizeof(float));
    float *cols = malloc((size_t)EXPORT_SIMILARITY_BLOCK * M * sizeof(float));
    float *strip = malloc((size_t)S * N * sizeof(float));
    snprintf(u.path, sizeof u.path, "%s/.%s.scratch", job->c.out_dir, name);
    int status = 1;
    if (!mean || !sd || !rows || !cols || !strip) {
        controller_fail(job->err, "out of memory for the similarity of %lld images", N);
        goto done;
    }
    if (export_npy_open_read(&in, responses_path, job->err) ||
        export_npy_create(&out, export_out_path(job, name).s, NPY_FLOAT32, 2, shape, job->err))
        goto done;
    u.fd = open(u.path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (u.fd < 0) {
        controller_fail(job->err, "%s: cannot create: %s", u.path, strerror(errno));
        goto done;
    }
    if (neuron_statistics(&in, N, M, mean, sd) ||
        write_unit_rows(&in, order, N, M, mean, sd, &u)) {
        controller_fail(job->err, "%s: reading the responses back failed", responses_path);
        goto done;
    }
    export_progress p;
    export_progress_start(&p, job, name, N);
    for (long long first = 0; first < N; first += S) {
        int B = N - first < S ? (int)(N - first) : S;
        if (similarity_strip(&u, N, M, first, B, rows, cols, strip) ||
            export_write_at(out.fd, strip, (size_t)B * N * sizeof(float),
                     out.offset + first * N * (long long)sizeof(float))) {
            controller_fail(job->err, "%s: writing the similarity failed: %s", out.path,
                            strerror(errno));
            goto done;
        }
        export_progress_show(&p, first + B, "rows");
    }
    job->seconds_similarity += export_now() - p.start;
    status = 0;
done:
    if (export_npy_close(&in, job->err) || export_npy_close(&out, job->err) ||
        export_npy_close(&u, job->err))
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

int export_make_permutation(export_job *job)
{
    job->permutation = malloc((size_t)job->count * sizeof(int64_t));
    if (!job->permutation)
        return controller_fail(job->err, "out of memory for a permutation of %d images",
                               job->count);
    for (int i = 0; i < job->count; i++)
        job->permutation[i] = i;
    model_rng rng;
    model_rng_seed(&rng, job->c.seed);
    model_rng_shuffle_i64(&rng, job->permutation, job->count);
    int64_t shape[1] = {job->count};
    if (npy_write(export_out_path(job, "permutation.npy").s, NPY_INT64, 1, shape, job->permutation,
                  job->err))
        return 1;
    export_add_output(job, "permutation.npy", 1, shape, "int64",
               "the shuffled control's order: row i of every *_shuffled.npy is row "
               "permutation[i] of the original (for the similarity, rows and columns)");
    return 0;
}

/* Mean and covariance (divisor N − 1) of the responses, in double. */
static int response_moments(const export_npy *in, long long N, int M, double *mean, double *cov)
{
    int chunk = EXPORT_CHUNK;
    float *rows = malloc((size_t)chunk * M * sizeof(float));
    double *centred = malloc((size_t)chunk * M * sizeof(double));
    double *sd = malloc((size_t)M * sizeof(double));
    int failed = !rows || !centred || !sd || neuron_statistics(in, N, M, mean, sd);
    memset(cov, 0, (size_t)M * M * sizeof(double));
    for (long long first = 0; first < N && !failed; first += chunk) {
        int B = N - first < chunk ? (int)(N - first) : chunk;
        failed = export_read_rows(in, NULL, first, B, M, rows);
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

int export_gaussian(export_job *job, const char *responses_path)
{
    long long N = job->count;
    int M = job->neurons, chunk = EXPORT_CHUNK;
    int64_t shape[2] = {N, M};
    export_npy in = {.fd = -1}, out = {.fd = -1};
    double *mean = malloc((size_t)M * sizeof(double));
    double *cov = malloc((size_t)M * M * sizeof(double));
    float *L = malloc((size_t)M * M * sizeof(float));
    float *z = malloc((size_t)chunk * M * sizeof(float));
    float *x = malloc((size_t)chunk * M * sizeof(float));
    int status = 1;
    if (!mean || !cov || !L || !z || !x) {
        controller_fail(job->err, "out of memory for the covariance of %d neurons", M);
        goto done;
    }
    if (export_npy_open_read(&in, responses_path, job->err))
        goto done;
    if (response_moments(&in, N, M, mean, cov)) {
        controller_fail(job->err, "%s: reading the responses back failed", responses_path);
        goto done;
    }
    cholesky_semidefinite(cov, M, L);
    if (export_npy_create(&out, export_out_path(job, "gaussian.npy").s, NPY_FLOAT32, 2, shape,
                          job->err))
        goto done;
    model_rng rng;
    model_rng_seed(&rng, job->c.seed ^ 0x9e3779b97f4a7c15ULL);
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
                controller_fail(job->err, "%s: draw %lld, neuron %zu overflows float: responses "
                                          "this large have no Gaussian control", out.path,
                                first + (long long)(i / (size_t)M), i % (size_t)M);
                goto done;
            }
        if (export_write_at(out.fd, x, (size_t)B * M * sizeof(float),
                     out.offset + first * M * (long long)sizeof(float))) {
            controller_fail(job->err, "%s: write failed: %s", out.path, strerror(errno));
            goto done;
        }
    }
    export_add_output(job, "gaussian.npy", 2, shape, "float32",
               "Gaussian control: independent draws from N(mean, covariance) of responses.npy "
               "(sample mean and covariance over the set, divisor N-1)");
    status = 0;
done:
    if (export_npy_close(&in, job->err) || export_npy_close(&out, job->err))
        status = 1;
    free(mean);
    free(cov);
    free(L);
    free(z);
    free(x);
    return status;
}
