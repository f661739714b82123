/* hr_link_fit_bounded: a real fit where the round trips grow with size, a
 * lower bound (best size / time seen) where they do not, and the same
 * errors as hr_link_fit for inputs no fit can use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "hyperrep/lut.h"

static void test_fit_or_bound(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_link l;
    int bounded = -1;
    /* 80 Mbit/s is 100 ms per MB; plus 2 ms */
    const double mb[4] = {0.1, 0.5, 1, 2}, grow[4] = {12, 52, 102, 202};
    assert_int_equal(hr_link_fit_bounded(mb, grow, 4, &l, &bounded, &err), HR_OK);
    assert_int_equal(bounded, 0);
    assert_true(fabs(l.bandwidth_mbit_s - 80.0) < 1e-6);
    assert_true(fabs(l.latency_ms - 2.0) < 1e-6);
    /* loopback-like: times do not grow; the best throughput is 2 MB in 0.4 ms */
    const double flat[4] = {0.5, 0.45, 0.42, 0.4};
    assert_int_equal(hr_link_fit(mb, flat, 4, &l, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_link_fit_bounded(mb, flat, 4, &l, &bounded, &err), HR_OK);
    assert_int_equal(bounded, 1);
    assert_true(fabs(l.k_ms_per_mb - 0.2) < 1e-12);
    assert_true(fabs(l.bandwidth_mbit_s - 40000.0) < 1e-6);
    assert_true(l.latency_ms == 0 && l.measured == 1);
    /* no fit and no bound: one size only, or a non-finite time */
    const double same[3] = {1, 1, 1}, t3[3] = {3, 2, 1};
    assert_int_equal(hr_link_fit_bounded(same, t3, 3, &l, &bounded, &err), HR_ERR_INVALID_ARG);
    const double bad[4] = {12, NAN, 102, 202};
    assert_int_equal(hr_link_fit_bounded(mb, bad, 4, &l, &bounded, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(bounded, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fit_or_bound)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
