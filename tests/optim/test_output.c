/* initial_throughput_config.json: the original's fields (so its readers
 * keep working), SPEC §6's results per method, orientation, link, mask,
 * pruned branches and notes; atomic write and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

static json_t *run_all(hr_lut *lut, const unsigned *live, hr_optim_params *prm, int methods, hr_optim_result *res)
{
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    hr_optim_report rep = {0};
    char *text = NULL;
    json_error_t jerr;
    HR_ASSERT_OK(hr_optim_problem_create(lut, live, prm, &p, &err), &err);
    rep.problem = p;
    rep.lut_file = "lut.json";
    for (int m = 0; m < HR_METHOD_COUNT; m++) {
        hr_optim_result_init(&res[m]);
        if (!(methods & (1 << m)))
            continue;
        HR_ASSERT_OK(m == HR_METHOD_GD ? hr_optim_gd(p, &res[m], &err)
                     : m == HR_METHOD_GRID ? hr_optim_grid(p, &res[m], &err)
                                           : hr_optim_exact(p, &res[m], &err),
                     &err);
        rep.results[m] = &res[m];
    }
    HR_ASSERT_OK(hr_optim_report_dumps(&rep, &text, &err), &err);
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    free(text);
    hr_optim_problem_destroy(p);
    return root;
}

#define GET(obj, key) json_object_get((obj), (key))
/* Reals are written with 15 significant digits. */
static int near(double a, double b)
{
    return fabs(a - b) <= 1e-14 * fmax(fabs(a), fabs(b));
}
#define NEAR(a, b) near((a), (b))

static void test_all_methods(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_result res[HR_METHOD_COUNT];
    prm.steps = 300;
    json_t *root = run_all(lut, NULL, &prm, 7, res);

    /* the original's fields */
    json_t *meta = GET(root, "metadata");
    assert_int_equal(json_integer_value(GET(meta, "step")), 2);
    assert_string_equal(json_string_value(GET(meta, "model")), "RepVGG-B3");
    assert_string_equal(json_string_value(GET(meta, "lut_file")), "lut.json");
    assert_int_equal(json_integer_value(GET(meta, "optimization_steps")), 300);
    assert_string_equal(json_string_value(GET(meta, "mask")), "exact");
    assert_null(GET(meta, "mask_note"));
    assert_string_equal(json_string_value(GET(meta, "primary_method")), "gd");
    assert_string_equal(json_string_value(GET(GET(root, "initial_config"), "alpha")), "all 1.0 (no pruning)");
    json_t *og = GET(root, "optimal_gamma");
    assert_int_equal(json_object_size(og), 27);
    for (int k = 0; k < 27; k++)
        assert_int_equal(json_integer_value(GET(og, lut->blocks[k].name)), res[HR_METHOD_GD].gamma[k]);
    assert_int_equal(json_integer_value(GET(root, "optimal_lambda")), res[HR_METHOD_GD].eval.placement);
    json_t *fl = GET(root, "final_loss");
    assert_true(NEAR(json_real_value(GET(fl, "total")), res[HR_METHOD_GD].final_loss.total));
    /* head = client: the head-side time is time_client, the tail roofline is the server's */
    assert_true(NEAR(json_real_value(GET(fl, "time_client")), res[HR_METHOD_GD].final_loss.time_head));
    assert_true(NEAR(json_real_value(GET(fl, "time_server")), res[HR_METHOD_GD].final_loss.time_tail));
    assert_true(NEAR(json_real_value(GET(fl, "roofline_server")), res[HR_METHOD_GD].final_loss.roofline_tail));
    assert_non_null(GET(fl, "trans"));
    json_t *gd = GET(root, "gamma_distribution");
    json_int_t sum = 0;
    const char *key;
    json_t *v;
    json_object_foreach(gd, key, v) sum += json_integer_value(v);
    assert_int_equal(sum, 27);
    json_t *hist = GET(root, "optimization_history");
    assert_int_equal(json_array_size(hist), 3);
    assert_int_equal(json_integer_value(GET(json_array_get(hist, 2), "step")), 200);
    assert_non_null(GET(json_array_get(hist, 0), "intensity"));

    /* SPEC §6 additions */
    assert_string_equal(json_string_value(GET(root, "head")), "client");
    json_t *link = GET(root, "link");
    assert_true(NEAR(json_real_value(GET(link, "bandwidth_mbit_s")), 100));
    assert_true(NEAR(json_real_value(GET(link, "latency_ms")), 1));
    assert_true(NEAR(json_real_value(GET(link, "per_message_ms")), 0));
    assert_non_null(strstr(json_string_value(GET(link, "interpretation")), "bandwidth_mbps"));
    json_t *results = GET(root, "results");
    assert_int_equal(json_object_size(results), 3);
    const char *mn[3] = {"gd", "grid", "exact"};
    for (int m = 0; m < 3; m++) {
        json_t *r = GET(results, mn[m]);
        assert_non_null(r);
        assert_int_equal(json_object_size(GET(r, "optimal_gamma")), 27);
        const char *fields[] = {"placement", "head_ms", "link_ms", "tail_ms", "latency_ms", "cycle_ms", "fps",
                                "pipelined_fps", "objective", "objective_value", "gap_to_exact_pct"};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            assert_non_null(GET(r, fields[f]));
        assert_string_equal(json_string_value(GET(r, "objective")), "latency");
        assert_true(NEAR(json_real_value(GET(r, "latency_ms")), res[m].eval.latency_ms));
        assert_true(NEAR(json_real_value(GET(r, "gap_to_exact_pct")), res[m].gap_to_exact_pct));
    }
    assert_int_equal(json_array_size(GET(GET(results, "grid"), "all_split_results")), 8);
    assert_int_equal(json_integer_value(GET(json_array_get(GET(GET(results, "grid"), "all_split_results"), 0),
                                            "split_point")),
                     8);
    assert_int_equal(json_array_size(GET(GET(results, "exact"), "all_placements")), 30);
    /* raw wins the latency objective on this LUT (the image is 147 KB) */
    assert_string_equal(json_string_value(GET(GET(results, "exact"), "placement")), "raw");
    json_t *perf = GET(root, "performance");
    assert_true(NEAR(json_real_value(GET(perf, "total_time_ms")), res[HR_METHOD_GD].eval.latency_ms));
    assert_true(NEAR(json_real_value(GET(perf, "client_time_ms")), res[HR_METHOD_GD].eval.head_ms));
    json_decref(root);
    for (int m = 0; m < 3; m++)
        hr_optim_result_deinit(&res[m]);
    hr_lut_destroy(lut);
}

static void test_exact_only_subset_server(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_result res[HR_METHOD_COUNT];
    unsigned live[27];
    hr_error err = {0};
    const char *names[] = {"stage3.7.hyper_identity"};
    HR_ASSERT_OK(hr_optim_existing_branches(lut, live, &err), &err);
    HR_ASSERT_OK(hr_pruned_apply_names(lut, names, 1, live, &err), &err);
    prm.head = HR_DEVICE_SERVER;
    prm.mask = HR_MASK_SUBSET;
    prm.objective = HR_OBJECTIVE_CYCLE;
    prm.link_override = 1;
    prm.link = lut->link;
    prm.link.bandwidth_mbit_s = 1000;
    prm.link.source = HR_BW_MBIT;
    json_t *root = run_all(lut, live, &prm, 1 << HR_METHOD_EXACT, res);
    json_t *meta = GET(root, "metadata");
    assert_string_equal(json_string_value(GET(meta, "mask")), "subset");
    assert_non_null(strstr(json_string_value(GET(meta, "mask_note")), "changes the network's function"));
    assert_string_equal(json_string_value(GET(meta, "primary_method")), "exact");
    assert_string_equal(json_string_value(GET(root, "head")), "server");
    assert_string_equal(json_string_value(GET(GET(root, "link"), "source")), "command line");
    assert_true(NEAR(json_real_value(GET(GET(root, "link"), "bandwidth_mbit_s")), 1000));
    json_t *pw = GET(GET(root, "initial_config"), "pruned_weights");
    assert_int_equal(json_array_size(pw), 1);
    assert_string_equal(json_string_value(json_array_get(pw, 0)), "stage3.7.hyper_identity");
    assert_null(GET(root, "final_loss"));
    assert_null(GET(GET(root, "results"), "gd"));
    assert_string_equal(json_string_value(GET(GET(GET(root, "results"), "exact"), "objective")), "cycle");
    json_t *notes = GET(root, "notes");
    int subset_note = 0;
    for (size_t i = 0; i < json_array_size(notes); i++)
        subset_note |= strstr(json_string_value(json_array_get(notes, i)), "subset mask") != NULL;
    assert_true(subset_note);
    /* with head = server the loss keys keep the original's meaning */
    assert_non_null(GET(GET(meta, "loss_weights"), "time_server"));
    json_decref(root);
    hr_optim_result_deinit(&res[HR_METHOD_EXACT]);
    hr_lut_destroy(lut);
}

static void test_save_and_errors(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    hr_optim_result r;
    hr_optim_report rep = {0};
    char path[600], *text = NULL;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, NULL, &p, &err), &err);
    hr_optim_result_init(&r);
    rep.problem = p;
    assert_int_equal(hr_optim_report_dumps(&rep, &text, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "no result"));
    HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);
    rep.results[HR_METHOD_EXACT] = &r;
    snprintf(path, sizeof path, "%s/initial_throughput_config.json", hr_test_tmpdir());
    HR_ASSERT_OK(hr_optim_report_save(path, &rep, &err), &err);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(GET(root, "optimal_lambda")), 0); /* raw */
    assert_string_equal(json_string_value(GET(root, "optimal_placement")), "raw");
    json_decref(root);
    assert_int_equal(hr_optim_report_save("/nonexistent/dir/out.json", &rep, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/out.json"));
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_methods),
        cmocka_unit_test(test_exact_only_subset_server),
        cmocka_unit_test(test_save_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
