/* test_rng.c: model_rng_shuffle_i64, the one Fisher–Yates shuffle the run's
 * schedules and export's shuffled control use: a permutation, reproducible
 * from the seed, every order equally likely (counted over many shuffles). */
#include "test.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void iota(int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = i;
}

static int is_permutation(const int64_t *v, int n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = seen != NULL;
    for (int i = 0; ok && i < n; i++) {
        ok = v[i] >= 0 && v[i] < n && !seen[v[i]];
        if (ok)
            seen[v[i]] = 1;
    }
    free(seen);
    return ok;
}

static int fixed_points(const int64_t *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += v[i] == i;
    return k;
}

static void test_permutation_and_seed(void)
{
    enum { N = 1000 };
    static int64_t a[N], b[N], c[N];
    model_rng r;
    iota(a, N);
    iota(b, N);
    iota(c, N);
    model_rng_seed(&r, 7);
    model_rng_shuffle_i64(&r, a, N);
    model_rng_seed(&r, 7);
    model_rng_shuffle_i64(&r, b, N);
    model_rng_seed(&r, 8);
    model_rng_shuffle_i64(&r, c, N);
    CHECK(is_permutation(a, N), "a shuffle of 0..%d is a permutation of it", N - 1);
    /* A random permutation has 1 fixed point on average; 10 is beyond 1e-6. */
    CHECK(fixed_points(a, N) < 10, "it moves the elements (%d of %d in place)",
          fixed_points(a, N), N);
    CHECK(!memcmp(a, b, sizeof a), "the same seed gives the same order");
    CHECK(memcmp(a, c, sizeof a) != 0, "another seed gives another order");

    int64_t one[1] = {42};
    model_rng_shuffle_i64(&r, one, 1);
    model_rng_shuffle_i64(&r, one, 0);
    CHECK(one[0] == 42, "one element or none: left alone");
}

/* Index of a permutation of 0..3 among the 24 (Lehmer code). */
static int rank4(const int64_t *v)
{
    int rank = 0;
    for (int i = 0; i < 4; i++) {
        int smaller = 0;
        for (int j = i + 1; j < 4; j++)
            smaller += v[j] < v[i];
        rank = rank * (4 - i) + smaller;
    }
    return rank;
}

static void test_uniform_orders(void)
{
    enum { TRIALS = 240000 };
    int count[24] = {0};
    model_rng r;
    model_rng_seed(&r, 2024);
    for (int t = 0; t < TRIALS; t++) {
        int64_t v[4];
        iota(v, 4);
        model_rng_shuffle_i64(&r, v, 4);
        count[rank4(v)]++;
    }
    /* Chi-square with 23 degrees of freedom: 60 is far in the tail (p < 1e-4),
     * while a biased shuffle (e.g. j drawn from [0, n) each time) gives
     * thousands here. */
    double expect = TRIALS / 24.0, chi2 = 0.0;
    int min = TRIALS, max = 0;
    for (int k = 0; k < 24; k++) {
        chi2 += (count[k] - expect) * (count[k] - expect) / expect;
        min = count[k] < min ? count[k] : min;
        max = count[k] > max ? count[k] : max;
    }
    CHECK(min > 0 && chi2 < 60.0, "all 24 orders of 4 equally often over %d shuffles "
          "(chi-square %.1f, counts %d..%d, %.0f expected)", TRIALS, chi2, min, max, expect);
}

int main(void)
{
    test_permutation_and_seed();
    test_uniform_orders();
    return test_done();
}
