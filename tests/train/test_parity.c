// ctest-labels: numeric
/* PyTorch parity of code 1's gradients: tests/fixtures/make_fixtures.py
 * saves, for the tiny fixture models and tiny_input.npy, the loss
 * (cross-entropy + 0.001·Σ|α|, BN in eval mode, backbone frozen) and dL/dα of
 * every hyper_* after one forward/backward; the trainer must match them
 * within 1e-4 relative (max |difference| / max |reference|, the loss on its
 * own). The pruned α (stage2.1.hyper_1x1 = 0) is not a parameter of ours: its
 * branch is never computed. Base training's gradients (tiny_full_grad.*) are
 * checked the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/model.h"
#include "hyperrep/train.h"

static void check_fixture(const char *tag, const char *arch, int threads)
{
    char path[512];
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_model *m;
    hr_tensor_map *map;
    hr_trainer *t;
    hr_train_stats st;
    json_error_t je;
    int ndim;
    int64_t shape[HR_MAX_DIMS];
    float *x;

    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    snprintf(path, sizeof path, "%s/%s_alpha_grad.json", HR_FIXTURES_DIR, tag);
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s: %s", path, je.text);
    snprintf(path, sizeof path, "%s/%s.pth", HR_FIXTURES_DIR, tag);
    HR_ASSERT_OK(hr_pth_load(path, &map, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, arch, NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_load(m, map, &err), &err);
    snprintf(path, sizeof path, "%s/tiny_input.npy", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_npy_load(path, &ndim, shape, &x, &err), &err);
    assert_int_equal(ndim, 4);
    hr_tensor tx = hr_tensor_4d(x, shape[0], shape[1], shape[2], shape[3]);
    json_t *jl = json_object_get(root, "labels");
    int64_t labels[8];
    assert_int_equal((int64_t)json_array_size(jl), shape[0]);
    for (size_t i = 0; i < json_array_size(jl); i++)
        labels[i] = json_integer_value(json_array_get(jl, i));

    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    p.batch = shape[0];
    p.l1 = (float)json_real_value(json_object_get(root, "l1_lambda"));
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    HR_ASSERT_OK(hr_trainer_compute(t, &tx, labels, &st, &err), &err);

    double ref_loss = json_real_value(json_object_get(root, "loss"));
    double loss_rel = fabs(st.loss - ref_loss) / fabs(ref_loss);
    json_t *grads = json_object_get(root, "grad"), *alphas = json_object_get(root, "alpha");
    const char *name;
    json_t *v;
    double maxd = 0, maxr = 0;
    int matched = 0;
    json_object_foreach(grads, name, v) {
        double ref = json_real_value(v);
        const hr_train_param *pp = hr_trainer_find_param(t, name);
        if (json_real_value(json_object_get(alphas, name)) == 0.0) {
            assert_null(pp); /* pruned: never computed */
            continue;
        }
        assert_non_null(pp);
        if (fabs(pp->grad[0] - ref) > maxd)
            maxd = fabs(pp->grad[0] - ref);
        if (fabs(ref) > maxr)
            maxr = fabs(ref);
        matched++;
    }
    assert_int_equal(matched, hr_trainer_num_params(t));
    print_message("%s (%d threads): loss %.6f vs %.6f (rel %.2e); %d α gradients, rel %.2e\n", tag, threads, st.loss,
                  ref_loss, loss_rel, matched, maxd / maxr);
    assert_true(loss_rel <= 1e-4);
    assert_true(maxd / maxr <= 1e-4);

    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_tensor_map_destroy(map);
    free(x);
    json_decref(root);
    hr_ctx_destroy(ctx);
}

/* Base training: every weight's gradient (BN in training mode) and the
 * running statistics after the pass, against PyTorch. Tensors are compared
 * one by one (max |difference| / max |reference| <= 1e-4). The branch with
 * α = 0 is not computed by us, so its tensors are skipped. */
static void test_full_mode(void **state)
{
    char path[512];
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_model *m;
    hr_tensor_map *map, *ref;
    hr_trainer *t;
    hr_train_stats st;
    json_error_t je;
    int ndim;
    int64_t shape[HR_MAX_DIMS], labels[2] = {3, 7};
    float *x;
    (void)state;

    cp.threads = 2;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    snprintf(path, sizeof path, "%s/tiny_full_grad.json", HR_FIXTURES_DIR);
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s: %s", path, je.text);
    snprintf(path, sizeof path, "%s/tiny.pth", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_pth_load(path, &map, &err), &err);
    snprintf(path, sizeof path, "%s/tiny_full_grad.pth", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_pth_load(path, &ref, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_load(m, map, &err), &err);
    snprintf(path, sizeof path, "%s/tiny_input.npy", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_npy_load(path, &ndim, shape, &x, &err), &err);
    hr_tensor tx = hr_tensor_4d(x, shape[0], shape[1], shape[2], shape[3]);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    p.batch = shape[0];
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    HR_ASSERT_OK(hr_trainer_compute(t, &tx, labels, &st, &err), &err);
    double ref_loss = json_real_value(json_object_get(root, "loss"));
    print_message("full mode: loss %.6f vs %.6f\n", st.loss, ref_loss);
    assert_true(fabs(st.loss - ref_loss) <= 1e-4 * fabs(ref_loss));

    double worst = 0;
    const char *worst_name = "";
    int compared = 0;
    for (int i = 0; i < hr_trainer_num_params(t); i++) {
        const hr_train_param *pp = hr_trainer_param(t, i);
        const hr_named_tensor *r = hr_tensor_map_find(ref, pp->name);
        assert_non_null(r);
        assert_int_equal(hr_named_tensor_numel(r), pp->numel);
        hr_tensor a = hr_tensor_view(pp->grad, 1, (int64_t[]){pp->numel});
        hr_tensor b = hr_tensor_view((float *)r->data, 1, (int64_t[]){pp->numel});
        double e = hr_tensor_rel_error(&a, &b);
        if (e > worst)
            worst = e, worst_name = pp->name;
        compared++;
    }
    /* running statistics of the live branches' BN */
    hr_tensor_map *now;
    HR_ASSERT_OK(hr_tensor_map_create(&now, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, now, &err), &err);
    for (size_t i = 0; i < hr_tensor_map_count(ref); i++) {
        const hr_named_tensor *r = hr_tensor_map_at(ref, i);
        if (!strstr(r->name, "running_") || strstr(r->name, "stage2.1.rbr_1x1"))
            continue;
        const hr_named_tensor *g = hr_tensor_map_find(now, r->name);
        assert_non_null(g);
        hr_tensor a = hr_tensor_view((float *)g->data, 1, (int64_t[]){hr_named_tensor_numel(g)});
        hr_tensor b = hr_tensor_view((float *)r->data, 1, (int64_t[]){hr_named_tensor_numel(r)});
        double e = hr_tensor_rel_error(&a, &b);
        if (e > worst)
            worst = e, worst_name = r->name;
        compared++;
    }
    print_message("full mode: %d tensors, worst rel %.2e (%s)\n", compared, worst, worst_name);
    assert_true(worst <= 1e-4);
    hr_tensor_map_destroy(now);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_tensor_map_destroy(map);
    hr_tensor_map_destroy(ref);
    free(x);
    json_decref(root);
    hr_ctx_destroy(ctx);
}

static void test_tiny(void **state)
{
    (void)state;
    check_fixture("tiny", "repvgg-tiny", 1);
    check_fixture("tiny", "repvgg-tiny", 2);
}

static void test_tiny_g2(void **state)
{
    (void)state;
    check_fixture("tiny_g2", "repvgg-tiny-g2", 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiny), cmocka_unit_test(test_tiny_g2), cmocka_unit_test(test_full_mode)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
