/* The 10 domain corruptions of SPEC §8: the table, determinism by
 * (seed, domain, pool, index), and the statistics of the noise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/data.h"

static void test_table(void **state)
{
    static const double levels[10] = {0.20, 0.22, 0.24, 0.20, 0.22, 0.18, 0.50, 0.25, 0.35, 0.40};
    (void)state;
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        const hr_domain_info *di = hr_domain_get(d);
        assert_non_null(di);
        assert_int_equal(di->id, d);
        assert_int_equal(di->kind, d >= 3 && d <= 5 ? HR_NOISE_SALT_PEPPER : HR_NOISE_GAUSSIAN);
        assert_float_equal(di->level, levels[d], 1e-12);
        assert_true(strlen(di->name) > 0 && strlen(di->description) > 0);
    }
    assert_null(hr_domain_get(-1));
    assert_null(hr_domain_get(10));
}

static float *constant(int64_t n, float v)
{
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = v;
    return x;
}

static void test_determinism(void **state)
{
    const int64_t n = 3 * 32 * 32;
    float *a = constant(n, 0.5f), *b = constant(n, 0.5f);
    (void)state;
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] = 0.5f;
        hr_domain_corrupt(d, 7, HR_POOL_TRAIN, 123, a, 3, 32, 32);
        hr_domain_corrupt(d, 7, HR_POOL_TRAIN, 123, b, 3, 32, 32);
        assert_memory_equal(a, b, (size_t)n * sizeof *a);
        /* Any other key gives other noise. */
        for (int v = 0; v < 4; v++) {
            for (int64_t i = 0; i < n; i++)
                b[i] = 0.5f;
            hr_domain_corrupt(d, v == 0 ? 8 : 7, v == 1 ? HR_POOL_TEST : HR_POOL_TRAIN, v == 2 ? 124 : 123, b, 3, 32,
                              32);
            if (v == 3)
                hr_domain_corrupt((d + 1) % HR_NUM_DOMAINS == 4 ? 5 : (d + 1) % HR_NUM_DOMAINS, 7, HR_POOL_TRAIN,
                                  123, b, 3, 32, 32);
            assert_true(memcmp(a, b, (size_t)n * sizeof *a) != 0);
        }
    }
    free(a);
    free(b);
}

static void test_clean_clips(void **state)
{
    float x[4] = {-0.5f, 0.25f, 1.5f, NAN};
    (void)state;
    hr_domain_corrupt(HR_DOMAIN_CLEAN, 1, HR_POOL_TRAIN, 0, x, 1, 2, 2);
    assert_true(x[0] == 0.0f && x[1] == 0.25f && x[2] == 1.0f && x[3] == 0.0f);
}

/* Standard deviation of clip(0.5 + sigma·Z, 0, 1): sigma times that of Z
 * clipped at ±a, a = 0.5/sigma. */
static double clipped_sigma(double sigma)
{
    double a = 0.5 / sigma, tail = 0.5 * erfc(a / sqrt(2.0)), pdf = exp(-0.5 * a * a) / 2.5066282746310002;
    return sigma * sqrt((1.0 - 2.0 * tail) - 2.0 * a * pdf + 2.0 * a * a * tail);
}

static void test_gaussian_statistics(void **state)
{
    const int64_t h = 512, w = 512, n = h * w;
    float *x = malloc((size_t)n * sizeof *x);
    (void)state;
    assert_non_null(x);
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        const hr_domain_info *di = hr_domain_get(d);
        double sum = 0.0, sq = 0.0, mean, sd, want, small = 0.0;
        if (di->kind != HR_NOISE_GAUSSIAN)
            continue;
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.5f;
        hr_domain_corrupt(d, 42, HR_POOL_TRAIN, (int64_t)d, x, 1, h, w);
        for (int64_t i = 0; i < n; i++) {
            assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
            sum += x[i];
            sq += (double)x[i] * x[i];
        }
        mean = sum / (double)n;
        sd = sqrt(sq / (double)n - mean * mean);
        want = clipped_sigma(di->level);
        print_message("domain %d: sigma %.2f, measured %.4f, expected after clipping %.4f (mean %.4f)\n", d,
                      di->level, sd, want, mean);
        assert_float_equal(mean, 0.5, 0.003);
        assert_true(fabs(sd - want) < 0.01 * want);
        /* Unclipped spread, from a dark base where clipping at 1 is rare:
         * the deviation of the upper half recovers sigma. */
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.0f;
        hr_domain_corrupt(d, 42, HR_POOL_TRAIN, 1000 + (int64_t)d, x, 1, h, w);
        for (int64_t i = 0; i < n; i++)
            small += (double)x[i] * x[i];
        /* E[max(σZ, 0)²] = σ²/2 (clipping at 1 removes < 3% even at σ 0.5). */
        sd = sqrt(2.0 * small / (double)n);
        print_message("           half-normal estimate of sigma %.4f\n", sd);
        assert_true(fabs(sd - di->level) < (di->level > 0.3 ? 0.06 : 0.01) * di->level);
    }
    free(x);
}

static void test_salt_pepper_statistics(void **state)
{
    const int64_t c = 3, h = 256, w = 256, hw = h * w;
    float *x = malloc((size_t)(c * hw) * sizeof *x);
    (void)state;
    assert_non_null(x);
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        const hr_domain_info *di = hr_domain_get(d);
        int64_t hits = 0, salt = 0;
        double rate, se;
        if (di->kind != HR_NOISE_SALT_PEPPER)
            continue;
        for (int64_t i = 0; i < c * hw; i++)
            x[i] = 0.5f;
        hr_domain_corrupt(d, 42, HR_POOL_TEST, 77, x, c, h, w);
        for (int64_t j = 0; j < hw; j++) {
            float v = x[j];
            /* A hit pixel is white or black on every channel. */
            assert_true(x[hw + j] == v && x[2 * hw + j] == v);
            if (v == 0.5f)
                continue;
            assert_true(v == 0.0f || v == 1.0f);
            hits++;
            salt += v == 1.0f;
        }
        rate = (double)hits / (double)hw;
        se = sqrt(di->level * (1.0 - di->level) / (double)hw);
        print_message("domain %d: p %.2f, hit rate %.4f, salt share %.4f\n", d, di->level, rate,
                      (double)salt / (double)hits);
        assert_true(fabs(rate - di->level) < 4.0 * se);
        assert_true(fabs((double)salt / (double)hits - 0.5) < 4.0 * sqrt(0.25 / (double)hits));
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_clean_clips),
        cmocka_unit_test(test_gaussian_statistics),
        cmocka_unit_test(test_salt_pepper_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
