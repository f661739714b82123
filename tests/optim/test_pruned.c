/* --pruned inputs: the original's name list, a joint result, α maps (flat
 * and per domain, with threshold), and every malformed case; masks built
 * from them steer the optimizers (exact mask: a pruned block takes a γ of
 * exactly its remaining branches). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

static hr_lut *lut;
static unsigned existing[27];

static int setup(void **state)
{
    hr_error err = {0};
    (void)state;
    lut = ot_ref_lut();
    HR_ASSERT_OK(hr_optim_existing_branches(lut, existing, &err), &err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hr_lut_destroy(lut);
    return 0;
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", hr_test_tmpdir(), name);
    hr_test_write_file(path, text, strlen(text));
    return path;
}

static void expect_names_fail(const char *const *names, int n, const char *needle)
{
    unsigned live[27];
    hr_error err = {0};
    memcpy(live, existing, sizeof live);
    assert_int_equal(hr_pruned_apply_names(lut, names, n, live, &err), HR_ERR_INVALID_ARG);
    if (!strstr(err.msg, needle)) {
        print_error("message '%s' lacks '%s'\n", err.msg, needle);
        fail();
    }
    assert_memory_equal(live, existing, sizeof live); /* untouched */
}

static void test_names(void **state)
{
    (void)state;
    unsigned live[27];
    hr_error err = {0};
    const char *ok[] = {"stage2.3.hyper_1x1", "stage3.10.hyper_dense", "stage3.10.hyper_identity"};
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_apply_names(lut, ok, 3, live, &err), &err);
    assert_int_equal(live[7], HR_BR_DENSE | HR_BR_IDENTITY);
    assert_int_equal(live[20], HR_BR_1X1);
    for (int k = 0; k < 27; k++)
        if (k != 7 && k != 20)
            assert_int_equal(live[k], existing[k]);

    expect_names_fail((const char *[]){"stage9.1.hyper_dense"}, 1, "names block stage9.1, which the LUT does not have");
    expect_names_fail((const char *[]){"stage2.3.hyper_3x3"}, 1, "unknown branch 'hyper_3x3'");
    expect_names_fail((const char *[]){"stage2.3"}, 1, "unknown branch '3'");
    expect_names_fail((const char *[]){"hyper_dense"}, 1, "is not a hyper-weight name");
    expect_names_fail((const char *[]){"stage1.0.hyper_dense", "stage1.0.hyper_1x1"}, 2,
                      "leaves block stage1.0 without a live branch");
    expect_names_fail((const char *[]){"stage2.3.hyper_1x1", NULL}, 2, "pruned name 1 is missing");

    /* the original's virtual identity (stage1.0 has none) is never a
     * branch: skipped, and it does not count towards emptying its block */
    const char *virt[] = {"stage1.0.hyper_identity", "stage1.0.hyper_dense"};
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_apply_names(lut, virt, 2, live, &err), &err);
    assert_int_equal(live[0], HR_BR_1X1);
    for (int k = 1; k < 27; k++)
        assert_int_equal(live[k], existing[k]);
}

static void test_files(void **state)
{
    (void)state;
    unsigned live[27];
    hr_error err = {0};
    hr_pruned_params pp = hr_pruned_params_default();
    char path[600];

    /* the original's list */
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_load(write_tmp("list.json", "[\"stage3.7.hyper_identity\", \"stage1.1.hyper_dense\"]"),
                                lut, NULL, live, &err),
                 &err);
    assert_int_equal(live[17], HR_BR_DENSE | HR_BR_1X1);
    assert_int_equal(live[1], HR_BR_1X1 | HR_BR_IDENTITY);

    /* a joint result of the original */
    memcpy(live, existing, sizeof live);
    snprintf(path, sizeof path, "%s/optim/domain_0_joint.json", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_pruned_load(path, lut, NULL, live, &err), &err);
    assert_int_equal(live[17], HR_BR_DENSE | HR_BR_1X1);     /* stage3.7.hyper_identity */
    assert_int_equal(live[7], HR_BR_DENSE | HR_BR_IDENTITY); /* stage2.3.hyper_1x1 */
    assert_int_equal(live[22], HR_BR_1X1 | HR_BR_IDENTITY);  /* stage3.12.hyper_dense */
    /* a top-level pruned_weights */
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_load(write_tmp("pw.json", "{\"pruned_weights\": [\"stage4.0.hyper_1x1\"]}"), lut, NULL,
                                live, &err),
                 &err);
    assert_int_equal(live[26], HR_BR_DENSE);

    /* the original's α file: two domains, one must be chosen */
    snprintf(path, sizeof path, "%s/optim/trained_hyper_weights.json", HR_FIXTURES_DIR);
    memcpy(live, existing, sizeof live);
    assert_int_equal(hr_pruned_load(path, lut, NULL, live, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "holds 2 domains (domain_0, …): choose one with --domain"));
    pp.domain = "7";
    assert_int_equal(hr_pruned_load(path, lut, &pp, live, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no domain '7'"));
    pp.domain = "0";
    pp.threshold = 0.35; /* stage3.3.hyper_1x1 0.3038, stage3.15.hyper_identity 0.3396 */
    HR_ASSERT_OK(hr_pruned_load(path, lut, &pp, live, &err), &err);
    assert_int_equal(live[13], HR_BR_DENSE | HR_BR_IDENTITY);
    assert_int_equal(live[25], HR_BR_DENSE | HR_BR_1X1);
    int changed = 0;
    for (int k = 0; k < 27; k++)
        changed += live[k] != existing[k];
    assert_int_equal(changed, 2);
    /* the default threshold 0.01 prunes nothing there; stage1.0's recorded
     * identity α (the block has none) is ignored */
    memcpy(live, existing, sizeof live);
    pp.domain = "domain_1";
    pp.threshold = 0.01;
    HR_ASSERT_OK(hr_pruned_load(path, lut, &pp, live, &err), &err);
    assert_memory_equal(live, existing, sizeof live);

    /* a flat α map */
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_load(write_tmp("alpha.json", "{\"stage2.1.hyper_1x1\": 0.004, \"stage2.1.hyper_dense\": "
                                                        "-0.5, \"stage2.2.hyper_identity\": -0.001}"),
                                lut, NULL, live, &err),
                 &err);
    assert_int_equal(live[5], HR_BR_DENSE | HR_BR_IDENTITY);
    assert_int_equal(live[6], HR_BR_DENSE | HR_BR_1X1);
}

static void expect_file_fail(const char *text, const hr_pruned_params *pp, hr_status st, const char *needle)
{
    unsigned live[27];
    hr_error err = {0};
    memcpy(live, existing, sizeof live);
    const char *path = write_tmp("bad.json", text);
    assert_int_equal(hr_pruned_load(path, lut, pp, live, &err), st);
    if (!strstr(err.msg, needle) || !strstr(err.msg, path)) {
        print_error("message '%s' lacks '%s' or the path\n", err.msg, needle);
        fail();
    }
    assert_memory_equal(live, existing, sizeof live);
}

static void test_bad_files(void **state)
{
    (void)state;
    unsigned live[27];
    hr_error err = {0};
    hr_pruned_params pp = hr_pruned_params_default();

    expect_file_fail("[\"stage2.3.hyper_dense\",", NULL, HR_ERR_FORMAT, "bad.json:1:");
    expect_file_fail("[\"stage2.3.hyper_dense\", 7]", NULL, HR_ERR_FORMAT, "pruned list[1] is not a string");
    expect_file_fail("[\"stage12.3.hyper_dense\"]", NULL, HR_ERR_INVALID_ARG, "block stage12.3");
    expect_file_fail("{\"stage1_accuracy\": {\"pruned_weights\": \"x\"}}", NULL, HR_ERR_FORMAT, "not a list");
    expect_file_fail("{\"stage1_accuracy\": {\"pruned_weights\": [\"stage1.1.hyper_idx\"]}}", NULL,
                     HR_ERR_INVALID_ARG, "unknown branch 'hyper_idx'");
    expect_file_fail("{\"stage2.3.hyper_dense\": \"0.1\"}", NULL, HR_ERR_FORMAT,
                     "α of 'stage2.3.hyper_dense' is not a number");
    expect_file_fail("{\"stage2.9.hyper_dense\": 0.1}", NULL, HR_ERR_INVALID_ARG, "block stage2.9");
    expect_file_fail("{\"stage1.0.hyper_dense\": 0, \"stage1.0.hyper_1x1\": 0.001}", NULL, HR_ERR_INVALID_ARG,
                     "without a live branch");
    expect_file_fail("42", NULL, HR_ERR_FORMAT, "bad.json:1:");
    pp.domain = "3";
    expect_file_fail("{\"stage2.3.hyper_dense\": 0.1}", &pp, HR_ERR_INVALID_ARG, "single map");
    pp = hr_pruned_params_default();
    pp.threshold = -1;
    memcpy(live, existing, sizeof live);
    assert_int_equal(hr_pruned_load(write_tmp("empty.json", "[]"), lut, &pp, live, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "pruning threshold -1"));

    assert_int_equal(hr_pruned_load("/nonexistent/pruned.json", lut, NULL, live, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/pruned.json"));
}

/* Pruned masks reach the optimizers: under the exact mask a block with a
 * pruned branch only takes γ of exactly its remaining branches. */
static void test_masks_steer_optimizers(void **state)
{
    (void)state;
    unsigned live[27];
    hr_error err = {0};
    const char *names[] = {"stage2.3.hyper_1x1", "stage3.12.hyper_dense", "stage3.12.hyper_identity"};
    memcpy(live, existing, sizeof live);
    HR_ASSERT_OK(hr_pruned_apply_names(lut, names, 3, live, &err), &err);
    for (int hd = 0; hd < 2; hd++) {
        hr_optim_params prm = hr_optim_params_default();
        hr_optim_problem *p = NULL;
        hr_optim_result r[3];
        prm.head = (hr_device)hd;
        prm.steps = 300;
        HR_ASSERT_OK(hr_optim_problem_create(lut, live, &prm, &p, &err), &err);
        for (int m = 0; m < 3; m++)
            hr_optim_result_init(&r[m]);
        HR_ASSERT_OK(hr_optim_gd(p, &r[0], &err), &err);
        HR_ASSERT_OK(hr_optim_grid(p, &r[1], &err), &err);
        HR_ASSERT_OK(hr_optim_exact(p, &r[2], &err), &err);
        for (int m = 0; m < 3; m++) {
            assert_true(r[m].gamma[7] == 5 || r[m].gamma[7] == 6); /* dense+identity */
            assert_int_equal(r[m].gamma[22], 1);                   /* 1x1 alone: SOLO_K1 */
            for (int k = 0; k < 27; k++)
                assert_true(hr_gamma_valid(r[m].gamma[k], live[k], HR_MASK_EXACT));
            hr_optim_result_deinit(&r[m]);
        }
        hr_optim_problem_destroy(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_masks_steer_optimizers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
