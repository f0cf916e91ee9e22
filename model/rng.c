/* rng.c: xoshiro256** (Blackman & Vigna) seeded through splitmix64. Small,
 * fast and reproducible across platforms, unlike rand(). */
#include "model.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t model_rng_stream(uint64_t seed, uint64_t stream)
{
    uint64_t x = seed + 0x9e3779b97f4a7c15ULL * stream;
    return splitmix64(&x);
}

void model_rng_seed(model_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t model_rng_next(model_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double model_rng_uniform(model_rng *rng)
{
    return (double)(model_rng_next(rng) >> 11) * 0x1.0p-53;
}

double model_rng_normal(model_rng *rng)
{
    /* Box-Muller; the second value is dropped to keep the state simple. */
    double u1 = model_rng_uniform(rng), u2 = model_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

unsigned model_rng_poisson(model_rng *rng, double mean)
{
    if (!(mean > 0.0))
        return 0;
    if (mean < 30.0) {
        /* Knuth's product of uniforms: exact, fine for small means. */
        double limit = exp(-mean), p = 1.0;
        unsigned k = 0;
        do {
            k++;
            p *= model_rng_uniform(rng);
        } while (p > limit);
        return k - 1;
    }
    /* Large means: normal approximation with continuity correction. */
    double x = floor(mean + sqrt(mean) * model_rng_normal(rng) + 0.5);
    return x < 0 ? 0 : (unsigned)x;
}

/* Position i swaps with a uniform j in [0, i]: all n! orders come out equally
 * often (the uniform's 53 bits make the bias of the scaling negligible). */
void model_rng_shuffle_i64(model_rng *rng, int64_t *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(model_rng_uniform(rng) * (double)(i + 1));
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
