/* The γ report: ours, made from the TX2 fixture LUT, prints the same legend
 * and, for every table the original's report has (27 blocks on the device
 * that ran them), the same γ, name, streams, FLOPs, Bytes, Intensity,
 * latency and roofline status cells; it adds the other device's table and
 * the Intensity_w columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "lut_test_util.h"

static void test_report_matches_reference(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    char *ours = NULL, *ref = lt_read_file(HR_FIXTURES_DIR "/lut/full_gamma_analysis.md", NULL);
    lt_report *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    int compared = 0;

    assert_non_null(ref);
    assert_non_null(a);
    assert_non_null(b);
    HR_ASSERT_OK(hr_lut_load(HR_FIXTURES_DIR "/lut/hardware_lut_tx2.json", &lut, &err), &err);
    HR_ASSERT_OK(hr_lut_report_gamma(lut, &ours, &err), &err);
    assert_int_equal(lt_parse_report(ours, a), 0);
    assert_int_equal(lt_parse_report(ref, b), 0);
    assert_int_equal(a->ntables, 2 * 27);
    assert_int_equal(a->nlegend, 14);
    for (int g = 0; g < 14; g++)
        assert_string_equal(a->legend[g], b->legend[g]);
    assert_non_null(strstr(ours, "# γ Configuration Analysis Report"));
    assert_non_null(strstr(ours, "**Note:** some entries are synthetic."));
    for (int t = 0; t < b->ntables; t++) {
        const lt_table *rt = &b->t[t], *ot = lt_find(a, rt->block, rt->device);
        assert_non_null(ot);
        assert_true(ot->knee == rt->knee);
        assert_int_equal(ot->ncols, 12);
        for (int g = 0; g < 14; g++)
            for (int col = 0; col < 9; col++) {
                if (col == 7) /* throughput: the reference divides the unrounded latency */
                    continue;
                if (strcmp(ot->cell[g][col], rt->cell[g][col]) != 0) {
                    print_error("%s @ %s gamma %d column %d: ours '%s', reference '%s'\n", rt->block, rt->device, g,
                                col, ot->cell[g][col], rt->cell[g][col]);
                    fail();
                }
                compared++;
            }
    }
    assert_int_equal(compared, 27 * 14 * 8);
    /* Tables are in network order, server before client. */
    assert_string_equal(a->t[0].block, "stage1.0");
    assert_string_equal(a->t[0].device, "SERVER");
    assert_string_equal(a->t[1].device, "CLIENT");
    assert_string_equal(a->t[2 * 12].block, "stage3.2");
    /* Intensity_w is below Intensity wherever there are FLOPs. */
    for (int t = 0; t < a->ntables; t++)
        for (int g = 0; g < 14; g++)
            if (strcmp(a->t[t].cell[g][3], "0") != 0)
                assert_true(atof(a->t[t].cell[g][10]) <= atof(a->t[t].cell[g][5]));
    hr_lut_destroy(lut);
    free(ours);
    free(ref);
    free(a);
    free(b);
}

static void test_report_needs_shapes(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    char *text = NULL;
    HR_ASSERT_OK(hr_lut_create(2, &lut, &err), &err);
    snprintf(lut->blocks[0].name, sizeof lut->blocks[0].name, "stage1.0");
    assert_int_equal(hr_lut_report_gamma(lut, &text, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stage1.0 has no shapes"));
    assert_null(text);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_matches_reference),
        cmocka_unit_test(test_report_needs_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
