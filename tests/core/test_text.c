/* hr__text_clean: a peer's text made printable (issue 15): every byte
 * outside 0x20..0x7e becomes '?', truncation keeps the NUL, NULL is "". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/text.h"

static void test_clean(void **state)
{
    char buf[32];
    (void)state;
    assert_string_equal(hr__text_clean(buf, sizeof buf, "edge-7 [10.0.0.2]"), "edge-7 [10.0.0.2]");
    assert_string_equal(hr__text_clean(buf, sizeof buf, "a\nb\r\x1b[31mred\x7f\x9b\xc3\xa9"), "a?b??[31mred????");
    assert_string_equal(hr__text_clean(buf, sizeof buf, NULL), "");
    assert_string_equal(hr__text_clean(buf, 4, "abcdef"), "abc");
    assert_string_equal(hr__text_clean(buf, 1, "abc"), "");
    /* in place */
    strcpy(buf, "x\ty");
    assert_string_equal(hr__text_clean(buf, sizeof buf, buf), "x?y");
    assert_null(hr__text_clean(NULL, 8, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_clean)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
