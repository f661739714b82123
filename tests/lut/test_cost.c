/* The cost model (SPEC §4) against the original tool's real report: every
 * FLOPs / Bytes / Intensity cell and roofline status of all 27 tables x 14
 * γ of full_gamma_analysis.md (RepVGG-B3 at 224x224) must print exactly as
 * the report printed it; plus the weight-inclusive and grouped counts and
 * the comm sizes on hand-computed cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "lut/lut_internal.h"
#include "lut_test_util.h"

static void block_shapes(const hr_model *m, int i, int64_t in[4], int64_t out[4])
{
    hr_block_info b = hr_model_block(m, i);
    in[0] = out[0] = 1;
    in[1] = b.cin;
    in[2] = b.in_h;
    in[3] = b.in_w;
    out[1] = b.cout;
    out[2] = b.out_h;
    out[3] = b.out_w;
}

static void test_reference_report_cells(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    lt_report *r = calloc(1, sizeof *r);
    char *text = lt_read_file(HR_FIXTURES_DIR "/lut/full_gamma_analysis.md", NULL);
    int rows = 0, cells = 0;

    assert_non_null(r);
    assert_non_null(text);
    assert_int_equal(lt_parse_report(text, r), 0);
    assert_int_equal(r->ntables, 27);
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-b3", NULL, &m, &err), &err);
    for (int t = 0; t < r->ntables; t++) {
        const lt_table *tb = &r->t[t];
        int i = hr_model_find_block(m, tb->block);
        int64_t in[4], out[4];
        assert_true(i >= 0);
        assert_int_equal(tb->nrows, HR_GAMMA_COUNT);
        block_shapes(m, i, in, out);
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            hr_block_cost c = hr_block_cost_eval(g, in, out, hr_model_block(m, i).groups);
            char f[32], b[32], it[32], st[48], id[8];
            snprintf(id, sizeof id, "%d", g);
            hr__report_si(c.flops, f, sizeof f);
            hr__report_si(c.bytes, b, sizeof b);
            snprintf(it, sizeof it, "%.2f", c.intensity);
            hr__report_status(c.flops, c.intensity, tb->knee, st, sizeof st);
            const char *want[9] = {id, hr_gamma_get(g)->name, NULL, f, b, it, NULL, NULL, st};
            for (int col = 0; col < 9; col++) {
                if (!want[col])
                    continue;
                if (strcmp(tb->cell[g][col], want[col]) != 0) {
                    print_error("%s @ %s gamma %d column %d: report '%s', model '%s'\n", tb->block, tb->device, g,
                                col, tb->cell[g][col], want[col]);
                    fail();
                }
                cells++;
            }
            assert_int_equal(atoi(tb->cell[g][2]), c.streams);
            rows++;
        }
    }
    assert_int_equal(rows, 378);
    assert_int_equal(cells, 378 * 6);
    /* The SPEC's worked example. */
    {
        int64_t in[4], out[4];
        block_shapes(m, 0, in, out);
        hr_block_cost c = hr_block_cost_eval(0, in, out, 1);
        assert_true(c.flops == 693633024.0);
        assert_true(c.bytes == 5619712.0);
        assert_true(fabs(c.intensity - 123.42857142857143) < 1e-12);
    }
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    free(text);
    free(r);
}

static void test_weights_groups_comm(void **state)
{
    (void)state;
    /* stage3.1 of B3: 768 -> 768 at 14x14, stride 1, all three branches. */
    const int64_t in[4] = {1, 768, 14, 14}, out[4] = {1, 768, 14, 14};
    hr_block_cost c13 = hr_block_cost_eval(HR_GAMMA_FUSED_ALL, in, out, 1);
    hr_block_cost c9 = hr_block_cost_eval(HR_GAMMA_PARA_ALL, in, out, 1);
    hr_block_cost c2 = hr_block_cost_eval(HR_GAMMA_SOLO_ID, in, out, 1);
    hr_block_cost g4 = hr_block_cost_eval(HR_GAMMA_PARA_ALL, in, out, 4);
    const double act = 768.0 * 196 * 4;

    assert_true(c13.flops == 2.0 * 768 * 196 * 768 * 9);
    assert_true(c13.bytes == 2 * act);
    assert_true(c13.bytes_w == 2 * act + 4.0 * 768 * 768 * 9); /* ~21 MB of weights */
    assert_true(fabs(c13.intensity_w - c13.flops / c13.bytes_w) < 1e-9);
    assert_true(c9.streams == 3 && c9.bytes == 4 * act);
    assert_true(c9.bytes_w == 4 * act + 4.0 * (768.0 * 768 * 9 + 768.0 * 768 + 2 * 768));
    assert_true(c2.flops == 0 && c2.intensity == 0 && c2.bytes_w == 2 * act + 4.0 * 2 * 768);
    /* Groups: the original's count ignores them, the grouped one does not. */
    assert_true(g4.flops == c9.flops);
    assert_true(g4.flops_grouped == c9.flops / 4);
    assert_true(g4.bytes_w == 4 * act + 4.0 * (768.0 * 192 * 9 + 768.0 * 192 + 2 * 768));
    /* Comm size: n tensors of the output, MB = 1e6 bytes. */
    assert_true(fabs(hr_block_comm_mb(out, 1) - act / 1e6) < 1e-12);
    assert_true(fabs(hr_block_comm_mb(out, 3) - 3 * act / 1e6) < 1e-12);
    assert_true(hr_block_comm_mb(out, 0) == 0 && hr_block_comm_mb(out, 4) == 0);
    /* Out-of-range γ: zeros, no crash. */
    hr_block_cost z = hr_block_cost_eval(14, in, out, 1);
    assert_true(z.flops == 0 && z.bytes == 0 && z.streams == 0);
    z = hr_block_cost_eval(-1, in, out, 1);
    assert_true(z.flops == 0);
}

static void test_report_formats(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(hr__report_si(693633024, b, sizeof b), "693.63M");
    assert_string_equal(hr__report_si(2.08e9, b, sizeof b), "2.08G");
    assert_string_equal(hr__report_si(23040, b, sizeof b), "23.04K");
    assert_string_equal(hr__report_si(0, b, sizeof b), "0");
    assert_string_equal(hr__report_si(512, b, sizeof b), "512");
    assert_string_equal(hr__report_status(1, 123.43, 16.1, b, sizeof b), "Comp-bound (766.6%)");
    assert_string_equal(hr__report_status(1, 13.71, 16.1, b, sizeof b), "Balanced   (85.2%)");
    assert_string_equal(hr__report_status(1, 8.73, 16.1, b, sizeof b), "Mem-bound  (54.2%)");
    assert_string_equal(hr__report_status(1, 16.1 * 0.8, 16.1, b, sizeof b), "Balanced   (80.0%)");
    assert_string_equal(hr__report_status(0, 0, 16.1, b, sizeof b), "No compute");
}

static void test_block_name_order(void **state)
{
    (void)state;
    int s, i;
    assert_true(hr_block_name_cmp("stage3.2", "stage3.10") < 0);
    assert_true(hr_block_name_cmp("stage3.15", "stage4.0") < 0);
    assert_true(hr_block_name_cmp("stage1.0", "stage1.0") == 0);
    assert_true(hr_block_name_cmp("stage2.0", "bogus") < 0);
    assert_true(hr__block_name_parse("stage12.34", &s, &i) && s == 12 && i == 34);
    assert_false(hr__block_name_parse("stage1.", &s, &i));
    assert_false(hr__block_name_parse("stage1.2x", &s, &i));
    assert_false(hr__block_name_parse("stage.2", &s, &i));
    assert_false(hr__block_name_parse("Stage1.2", &s, &i));
    assert_false(hr__block_name_parse("stage-1.2", &s, &i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_report_cells),
        cmocka_unit_test(test_weights_groups_comm),
        cmocka_unit_test(test_report_formats),
        cmocka_unit_test(test_block_name_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
