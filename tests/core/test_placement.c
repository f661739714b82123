/* Placements (placement.h): every text form round-trips, and whatever is
 * not raw, local or a split in range is refused with the text named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hr_test.h"
#include "hyperrep/placement.h"

static void test_round_trip(void **state)
{
    char buf[16];
    hr_error err = {0};
    int v = 99;
    (void)state;
    assert_string_equal(hr_placement_format(HR_PLACEMENT_RAW, buf, sizeof buf), "raw");
    assert_string_equal(hr_placement_format(HR_PLACEMENT_LOCAL, buf, sizeof buf), "local");
    assert_string_equal(hr_placement_format(7, buf, sizeof buf), "7");
    for (int p = HR_PLACEMENT_LOCAL; p <= 21; p++) {
        HR_ASSERT_OK(hr_placement_parse(hr_placement_format(p, buf, sizeof buf), 21, &v, &err), &err);
        assert_int_equal(v, p);
    }
    /* the ends of the range */
    HR_ASSERT_OK(hr_placement_parse("0", 0, &v, &err), &err);
    assert_int_equal(v, 0);
    HR_ASSERT_OK(hr_placement_parse("007", 7, &v, &err), &err);
    assert_int_equal(v, 7);
}

static void test_refused(void **state)
{
    static const char *bad[] = {"", "-1", "+3", " 3", "3 ", "8", "99999999999999999999", "Raw", "LOCAL", "3x", "1e1"};
    hr_error err = {0};
    int v = 42;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(hr_placement_parse(bad[i], 7, &v, &err), HR_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "0..7"));
        assert_int_equal(v, 42);
    }
    assert_int_equal(hr_placement_parse("middle", 7, &v, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "'middle'"));
    assert_int_equal(hr_placement_parse(NULL, 7, &v, &err), HR_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
