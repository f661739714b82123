/* Sets of domains as text (hr_domains_parse): the forms of docs/CLI.md, and
 * everything else refused with the text named and the mask untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hr_test.h"
#include "hyperrep/data.h"

static void test_forms(void **state)
{
    static const struct {
        const char *text;
        unsigned mask;
    } good[] = {{"0-9", 0x3ffu}, {"3", 1u << 3}, {"1,3,5", 0x2au}, {"2-4,7", 0x9cu}, {"9-9", 1u << 9},
                {"0,0,0", 1u}, {"7,1-2", 0x86u}};
    hr_error err = {0};
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        unsigned m = 0;
        HR_ASSERT_OK(hr_domains_parse(good[i].text, &m, &err), &err);
        if (m != good[i].mask)
            fail_msg("'%s' -> 0x%x, want 0x%x", good[i].text, m, good[i].mask);
    }
}

static void test_refused(void **state)
{
    static const char *bad[] = {"", "10", "-1", "3-", "-3", "4-2", "1,,2", "1,", ",1", " 1", "1 ", "a",
                                "0-10", "0009", "1;2", "+1"};
    hr_error err = {0};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned m = 0xdead;
        assert_int_equal(hr_domains_parse(bad[i], &m, &err), HR_ERR_INVALID_ARG);
        if (!strstr(err.msg, "0-9") || m != 0xdead)
            fail_msg("'%s': %s (mask 0x%x)", bad[i], err.msg, m);
    }
    assert_int_equal(hr_domains_parse(NULL, NULL, &err), HR_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forms), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
