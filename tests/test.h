/* A minimal TAP test harness: each CHECK prints one "ok"/"not ok" line, and
 * test_done() prints the plan and returns the exit status. meson runs every
 * test executable with protocol 'tap', so each CHECK counts as one test. */
#ifndef INCEPTION_TEST_H
#define INCEPTION_TEST_H

#include <math.h>
#include <stdio.h>

typedef struct test_state {
    int run;
    int failed;
} test_state;

static test_state test_global_state; /* one per test executable, never shared */

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        test_global_state.run++;                                              \
        if (cond) {                                                           \
            printf("ok %d - ", test_global_state.run);                        \
        } else {                                                              \
            test_global_state.failed++;                                       \
            printf("not ok %d - (%s:%d: %s) ", test_global_state.run,         \
                   __FILE__, __LINE__, #cond);                                \
        }                                                                     \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        fflush(stdout);                                                       \
    } while (0)

/* Relative-or-absolute closeness, for comparing two computations of one number. */
#define CHECK_CLOSE(a, b, tol, ...)                                           \
    do {                                                                      \
        double check_a_ = (a), check_b_ = (b);                                \
        double check_scale_ = fabs(check_a_) > fabs(check_b_) ?               \
                              fabs(check_a_) : fabs(check_b_);                \
        double check_err_ = fabs(check_a_ - check_b_) /                       \
                            (check_scale_ > 1.0 ? check_scale_ : 1.0);        \
        CHECK(check_err_ <= (tol), __VA_ARGS__);                              \
        if (!(check_err_ <= (tol)))                                           \
            printf("#   %.9g vs %.9g (error %.3g > %.3g)\n", check_a_,        \
                   check_b_, check_err_, (double)(tol));                      \
    } while (0)

static inline int test_done(void)
{
    printf("1..%d\n", test_global_state.run);
    return test_global_state.failed ? 1 : 0;
}

#endif
