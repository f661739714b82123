// ctest-labels: numeric
/* The trainer: α gradients (code 1) and full-mode gradients (base training)
 * against central finite differences of the trainer's own loss (the float
 * forward of a ReLU network makes differences noisy where a step moves
 * activations across zero, so these use an aggregate measure; the exact
 * checks are test_parity.c's, against PyTorch, at 1e-4), consistency
 * of its inference forward with the model's fused forward, bit-identical
 * results for 1 and 2 threads, SGD semantics, pruned α and error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/model.h"
#include "hyperrep/train.h"
#include "hyperrep/weights.h"
#include "model/model_internal.h"

static hr_ctx *make_ctx(int threads)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_error err = {0};
    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    return ctx;
}

/* A random model with random BN statistics and α, one branch pruned. */
static hr_model *make_model(hr_ctx *ctx, const char *arch, uint64_t seed, int prune)
{
    hr_model *m;
    hr_error err = {0};
    hr_test_rng rng;
    HR_ASSERT_OK(hr_model_create(ctx, arch, NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, seed, &err), &err);
    hr_test_rng_seed(&rng, seed);
    for (int i = -1; i < m->nblocks; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        hr__bn *bns[3] = {&b->dense_bn, &b->k1_bn, &b->id_bn};
        for (int k = 0; k < 3; k++)
            if (bns[k]->weight) {
                hr_test_fill(&rng, bns[k]->weight, b->cout, 0.5f, 1.5f);
                hr_test_fill(&rng, bns[k]->bias, b->cout, -0.2f, 0.2f);
                hr_test_fill(&rng, bns[k]->mean, b->cout, -0.2f, 0.2f);
                hr_test_fill(&rng, bns[k]->var, b->cout, 0.5f, 2.0f);
            }
        if (i >= 0)
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (b->existing >> br & 1u)
                    b->alpha[br] = hr_test_uniform(&rng, 0.3f, 1.5f);
    }
    if (prune)
        HR_ASSERT_OK(hr_model_set_alpha(m, 3, HR_BRANCH_1X1, 0.0f, &err), &err);
    return m;
}

typedef struct batch {
    float *x;
    int64_t labels[8];
    int64_t n;
    hr_tensor t;
} batch;

static batch make_batch(const hr_model *m, int64_t n, uint64_t seed)
{
    batch b;
    hr_test_rng rng;
    int64_t c = hr_model_in_channels(m), s = hr_model_input_size(m);
    hr_test_rng_seed(&rng, seed);
    b.n = n;
    b.x = malloc(sizeof(float) * (size_t)(n * c * s * s));
    hr_test_fill(&rng, b.x, n * c * s * s, -1.5f, 1.5f);
    for (int64_t i = 0; i < n; i++)
        b.labels[i] = (int64_t)(hr_test_uniform(&rng, 0, 10)) % hr_model_num_classes(m);
    b.t = hr_tensor_4d(b.x, n, c, s, s);
    return b;
}

static double loss_of(hr_trainer *t, const batch *b)
{
    hr_train_stats s;
    hr_error err = {0};
    HR_ASSERT_OK(hr_trainer_compute(t, &b->t, b->labels, &s, &err), &err);
    return s.loss;
}

static void test_alpha_gradients_fd(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(2);
    const char *archs[] = {"repvgg-tiny", "repvgg-tiny-g2"};
    for (int a = 0; a < 2; a++) {
        hr_model *m = make_model(ctx, archs[a], 3 + a, 1);
        hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
        hr_trainer *t;
        hr_error err = {0};
        batch b = make_batch(m, 3, 17);
        p.batch = 4;
        HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
        /* every live α of blocks 0..N-1 is a parameter; the pruned one is not */
        int expect = 0;
        for (int i = 0; i < hr_model_num_blocks(m); i++)
            expect += __builtin_popcount(hr_model_block(m, i).live);
        assert_int_equal(hr_trainer_num_params(t), expect);
        assert_null(hr_trainer_find_param(t, "stage2.1.hyper_1x1"));
        loss_of(t, &b);
        float *grad = malloc(sizeof(float) * (size_t)expect);
        for (int i = 0; i < expect; i++)
            grad[i] = hr_trainer_param(t, i)->grad[0];
        double maxd = 0, maxg = 0, sd = 0, sn = 0;
        for (int i = 0; i < expect; i++) {
            const hr_train_param *pp = hr_trainer_param(t, i);
            float keep = *pp->value;
            const float h = 2e-3f;
            *pp->value = keep + h;
            double lp = loss_of(t, &b);
            *pp->value = keep - h;
            double lm = loss_of(t, &b);
            *pp->value = keep;
            double num = (lp - lm) / (2.0 * h);
            if (fabs(num - grad[i]) > maxd)
                maxd = fabs(num - grad[i]);
            if (fabs(num) > maxg)
                maxg = fabs(num);
            sd += fabs(num - grad[i]);
            sn += fabs(num);
        }
        print_message("%s: α gradients vs finite differences: max %.2e, aggregate %.2e\n", archs[a], maxd / maxg,
                      sd / sn);
        if (maxd / maxg > 2e-2 || sd / sn > 1e-2)
            fail_msg("%s: α gradient differs from finite differences by %.3e (aggregate %.3e)", archs[a], maxd / maxg,
                     sd / sn);
        free(grad);
        free(b.x);
        hr_trainer_destroy(t);
        hr_model_destroy(m);
    }
    hr_ctx_destroy(ctx);
}

/* Full mode: sampled entries of every parameter against finite
 * differences (BN in training mode; the loss is smooth except at ReLU kinks,
 * so a handful of entries per tensor with a moderate step). */
static void test_full_gradients_fd(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(2);
    hr_model *m = make_model(ctx, "repvgg-tiny-g2", 9, 0);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    hr_trainer *t;
    hr_error err = {0};
    batch b = make_batch(m, 4, 23);
    hr_test_rng rng;
    p.batch = 4;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    assert_non_null(hr_trainer_find_param(t, "stage0.rbr_dense.conv.weight"));
    assert_non_null(hr_trainer_find_param(t, "stage1.1.rbr_identity.bias"));
    assert_non_null(hr_trainer_find_param(t, "linear.weight"));
    hr_test_rng_seed(&rng, 4);
    loss_of(t, &b);
    int np = hr_trainer_num_params(t), bad = 0;
    double worst = 0, sd = 0, sn = 0;
    for (int i = 0; i < np; i++) {
        const hr_train_param *pp = hr_trainer_param(t, i);
        float *g = malloc(sizeof(float) * (size_t)pp->numel);
        memcpy(g, pp->grad, sizeof(float) * (size_t)pp->numel);
        double maxd = 0, maxg = 0;
        for (int s = 0; s < 6; s++) {
            int64_t k = (int64_t)hr_test_uniform(&rng, 0, (float)pp->numel) % pp->numel;
            float keep = pp->value[k];
            const float h = 2e-3f;
            pp->value[k] = keep + h;
            double lp = loss_of(t, &b);
            pp->value[k] = keep - h;
            double lm = loss_of(t, &b);
            pp->value[k] = keep;
            double num = (lp - lm) / (2.0 * h);
            if (fabs(num - g[k]) > maxd)
                maxd = fabs(num - g[k]);
            if (fabs(num) > maxg)
                maxg = fabs(num);
            sd += fabs(num - g[k]);
            sn += fabs(num);
        }
        double rel = maxd / (maxg > 1e-3 ? maxg : 1e-3);
        if (rel > worst)
            worst = rel;
        if (rel > 0.25) {
            print_message("%s: rel %.3e (max |grad| %.3e)\n", pp->name, rel, maxg);
            bad++;
        }
        free(g);
    }
    print_message("full mode: %d tensors, worst relative difference %.3e, aggregate %.3e\n", np, worst, sd / sn);
    assert_int_equal(bad, 0);
    assert_true(sd / sn < 3e-2);
    free(b.x);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* The α-mode forward (BN folded per branch) equals the model's fused deploy
 * forward, and the α written back by sync are the model's. */
static void test_predict_matches_model(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(2);
    hr_model *m = make_model(ctx, "repvgg-tiny-g2", 5, 1);
    hr_trainer *t;
    hr_error err = {0};
    batch b = make_batch(m, 3, 31);
    float got[30], want[30];
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    p.batch = 3;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    hr_tensor tg = hr_tensor_view(got, 2, (int64_t[]){3, 10}), tw = hr_tensor_view(want, 2, (int64_t[]){3, 10});
    HR_ASSERT_OK(hr_trainer_predict(t, &b.t, &tg, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    HR_ASSERT_OK(hr_model_forward(m, &b.t, &tw, &err), &err);
    HR_ASSERT_CLOSE(&tg, &tw, 1e-4, "trainer predict vs model forward");
    /* a few steps, then sync: the model's α follow, the pruned one stays 0 */
    for (int s = 0; s < 3; s++)
        HR_ASSERT_OK(hr_trainer_step(t, &b.t, b.labels, 0.05f, NULL, &err), &err);
    HR_ASSERT_OK(hr_trainer_sync(t, &err), &err);
    assert_true(hr_model_block(m, 3).alpha[HR_BRANCH_1X1] == 0.0f);
    assert_true(hr_trainer_alpha(t, 3, HR_BRANCH_1X1) == 0.0f);
    assert_true(hr_model_block(m, 0).alpha[HR_BRANCH_DENSE] == hr_trainer_alpha(t, 0, HR_BRANCH_DENSE));
    HR_ASSERT_OK(hr_trainer_predict(t, &b.t, &tg, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    HR_ASSERT_OK(hr_model_forward(m, &b.t, &tw, &err), &err);
    HR_ASSERT_CLOSE(&tg, &tw, 1e-4, "after training: trainer predict vs model forward");
    assert_int_equal(hr_trainer_set_alpha(t, 3, HR_BRANCH_1X1, 1.0f, &err), HR_ERR_INVALID_ARG);
    free(b.x);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* Same gradients and the same trained weights with 1 and 2 threads. */
static void test_thread_independence(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        float *vals[2] = {NULL, NULL};
        int64_t total = 0;
        double losses[2];
        for (int th = 0; th < 2; th++) {
            hr_ctx *ctx = make_ctx(th + 1);
            hr_model *m = make_model(ctx, "repvgg-tiny-g2", 11, mode == 0);
            hr_trainer_params p = hr_trainer_params_default((hr_train_mode)mode);
            hr_trainer *t;
            hr_error err = {0};
            hr_train_stats st;
            batch b = make_batch(m, 5, 41);
            p.batch = 5;
            p.weight_decay = 1e-4f;
            HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
            for (int s = 0; s < 3; s++)
                HR_ASSERT_OK(hr_trainer_step(t, &b.t, b.labels, 0.01f, &st, &err), &err);
            losses[th] = st.loss;
            total = 0;
            for (int i = 0; i < hr_trainer_num_params(t); i++)
                total += hr_trainer_param(t, i)->numel;
            vals[th] = malloc(sizeof(float) * (size_t)total);
            total = 0;
            for (int i = 0; i < hr_trainer_num_params(t); i++) {
                const hr_train_param *pp = hr_trainer_param(t, i);
                memcpy(vals[th] + total, pp->value, sizeof(float) * (size_t)pp->numel);
                total += pp->numel;
            }
            free(b.x);
            hr_trainer_destroy(t);
            hr_model_destroy(m);
            hr_ctx_destroy(ctx);
        }
        assert_true(losses[0] == losses[1]);
        assert_memory_equal(vals[0], vals[1], sizeof(float) * (size_t)total);
        free(vals[0]);
        free(vals[1]);
    }
}

/* SGD: buf = m·buf + g + wd·w; w -= lr·buf (weight decay only on weights). */
static void test_sgd_semantics(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny", 13, 0);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    hr_trainer *t;
    hr_error err = {0};
    batch b = make_batch(m, 4, 43);
    p.batch = 4;
    p.momentum = 0.5f;
    p.weight_decay = 0.1f;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    const hr_train_param *w = hr_trainer_find_param(t, "linear.weight"), *bb = hr_trainer_find_param(t, "linear.bias");
    assert_true(w->decay && !bb->decay);
    float w0 = w->value[3], b0 = bb->value[1];
    HR_ASSERT_OK(hr_trainer_compute(t, &b.t, b.labels, NULL, &err), &err);
    float gw = w->grad[3], gb = bb->grad[1];
    hr_trainer_update(t, 0.2f);
    assert_true(fabsf(w->value[3] - (w0 - 0.2f * (gw + 0.1f * w0))) < 1e-6f);
    assert_true(fabsf(bb->value[1] - (b0 - 0.2f * gb)) < 1e-6f);
    float m1 = w->momentum[3], w1 = w->value[3];
    HR_ASSERT_OK(hr_trainer_compute(t, &b.t, b.labels, NULL, &err), &err);
    float gw2 = w->grad[3];
    hr_trainer_update(t, 0.2f);
    assert_true(fabsf(w->value[3] - (w1 - 0.2f * (0.5f * m1 + gw2 + 0.1f * w1))) < 1e-6f);
    /* momentum state round trip */
    hr_tensor_map *map;
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    HR_ASSERT_OK(hr_trainer_export_state(t, map, &err), &err);
    float keep = w->momentum[3];
    hr_trainer_reset_momentum(t);
    assert_true(w->momentum[3] == 0.0f);
    HR_ASSERT_OK(hr_trainer_import_state(t, map, &err), &err);
    assert_true(w->momentum[3] == keep);
    hr_tensor_map_destroy(map);
    /* schedules */
    assert_true(fabs(hr_lr_at(HR_LR_COSINE, 0.1, 0, 10) - 0.1) < 1e-12);
    assert_true(fabs(hr_lr_at(HR_LR_COSINE, 0.1, 5, 10) - 0.05) < 1e-12);
    assert_true(fabs(hr_lr_at(HR_LR_COSINE, 0.1, 10, 10)) < 1e-12);
    assert_true(fabs(hr_lr_at(HR_LR_STEP, 0.1, 6, 10) - 0.01) < 1e-12);
    assert_int_equal(hr_lr_schedule_parse("cosine"), HR_LR_COSINE);
    assert_int_equal(hr_lr_schedule_parse("linear"), -1);
    free(b.x);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* Full training lowers the loss on a fixed batch; the running statistics
 * move. */
static void test_full_training_learns(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(2);
    hr_model *m = make_model(ctx, "repvgg-tiny", 15, 0);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    hr_trainer *t;
    hr_error err = {0};
    hr_train_stats st;
    batch b = make_batch(m, 8, 47);
    p.batch = 8;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    float rm0 = m->blocks[0].dense_bn.mean[0];
    HR_ASSERT_OK(hr_trainer_step(t, &b.t, b.labels, 0.05f, &st, &err), &err);
    double first = st.loss;
    for (int s = 0; s < 30; s++)
        HR_ASSERT_OK(hr_trainer_step(t, &b.t, b.labels, 0.05f, &st, &err), &err);
    assert_true(st.loss < 0.5 * first);
    assert_true(m->blocks[0].dense_bn.mean[0] != rm0);
    /* the model's weights are the trained ones: export/import works after sync */
    HR_ASSERT_OK(hr_trainer_sync(t, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    free(b.x);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny", 19, 0);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t = NULL;
    hr_error err = {0};
    batch b = make_batch(m, 4, 53);
    p.batch = 0;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_INVALID_ARG);
    assert_null(t);
    p.batch = 2;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    assert_int_equal(hr_trainer_compute(t, &b.t, b.labels, NULL, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "exceeds"));
    hr_tensor two = hr_tensor_4d(b.x, 2, 3, 48, 48);
    b.labels[1] = 10;
    assert_int_equal(hr_trainer_compute(t, &two, b.labels, NULL, &err), HR_ERR_INVALID_ARG);
    hr_tensor wrong = hr_tensor_4d(b.x, 2, 3, 40, 40);
    assert_int_equal(hr_trainer_compute(t, &wrong, b.labels, NULL, &err), HR_ERR_SHAPE);
    hr_trainer_destroy(t);
    hr_trainer_destroy(NULL);
    /* a lean deployment build has no training-time weights */
    hr_model *lean;
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &lean, &err), &err);
    HR_ASSERT_OK(hr_model_build_deploy(lean, NULL, 1, NULL, HR_MASK_EXACT, &err), &err);
    assert_int_equal(hr_trainer_create(lean, &p, &t, &err), HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "stage0"));
    hr_model_destroy(lean);
    free(b.x);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* Checkpoints: a round trip keeps the weights, the momentum and the
 * progress; a progress that is not an epoch count is refused by name. */
static void test_checkpoint(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny", 23, 0), *m2 = make_model(ctx, "repvgg-tiny", 29, 0);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    hr_trainer *t;
    hr_tensor_map *st = NULL, *mine = NULL, *theirs = NULL;
    hr_error err = {0};
    hr_train_stats ts;
    int64_t ep = -1;
    double minutes = -1;
    batch b = make_batch(m, 4, 61);
    const char *path = hr_test_tmp_path("ckpt.safetensors");
    p.batch = 4;
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    HR_ASSERT_OK(hr_trainer_step(t, &b.t, b.labels, 0.05f, &ts, &err), &err);
    HR_ASSERT_OK(hr_train_checkpoint_save(path, m, t, "repvgg-tiny", 3, 1.5, &err), &err);
    HR_ASSERT_OK(hr_train_checkpoint_load(path, m2, &st, &ep, &minutes, &err), &err);
    assert_int_equal(ep, 3);
    assert_true(minutes == 1.5);
    assert_non_null(hr_tensor_map_find(st, "train.epochs_done"));
    /* the loaded model exports what the saved one does */
    HR_ASSERT_OK(hr_tensor_map_create(&mine, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_create(&theirs, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, mine, &err), &err);
    HR_ASSERT_OK(hr_model_export(m2, theirs, &err), &err);
    assert_int_equal(hr_tensor_map_count(mine), hr_tensor_map_count(theirs));
    for (size_t i = 0; i < hr_tensor_map_count(mine); i++) {
        const hr_named_tensor *a = hr_tensor_map_at(mine, i), *c = hr_tensor_map_find(theirs, a->name);
        assert_non_null(c);
        assert_memory_equal(a->data, c->data, sizeof(float) * (size_t)hr_named_tensor_numel(a));
    }
    hr_tensor_map_destroy(st);
    st = NULL;
    /* out-of-range progress: refused when saving, and when read from a file */
    assert_int_equal(hr_train_checkpoint_save(path, m, t, "repvgg-tiny", -1, 0, &err), HR_ERR_INVALID_ARG);
    static const float bad[] = {INFINITY, NAN, 1e30f, 2.5f, -1.0f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t one[1] = {1};
        hr_tensor_map *f = NULL;
        HR_ASSERT_OK(hr_tensor_map_create(&f, &err), &err);
        HR_ASSERT_OK(hr_model_export(m, f, &err), &err);
        HR_ASSERT_OK(hr_tensor_map_add(f, "train.epochs_done", 1, one, &bad[i], &err), &err);
        HR_ASSERT_OK(hr_safetensors_save(path, f, NULL, NULL, 0, &err), &err);
        hr_tensor_map_destroy(f);
        ep = 77;
        assert_int_equal(hr_train_checkpoint_load(path, m2, &st, &ep, &minutes, &err), HR_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "train.epochs_done"));
        assert_null(st);
        assert_int_equal(ep, 77);
    }
    /* trained weights alone are not a checkpoint */
    HR_ASSERT_OK(hr_train_weights_save(path, m, t, NULL, NULL, 0, &err), &err);
    assert_int_equal(hr_train_checkpoint_load(path, m2, &st, &ep, &minutes, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a train-base checkpoint"));
    hr_tensor_map_destroy(mine);
    hr_tensor_map_destroy(theirs);
    free(b.x);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_model_destroy(m2);
    hr_ctx_destroy(ctx);
}

/* Trained α files: JSON (flat, per domain) and safetensors, recognised by
 * content; what is missing or malformed is named. */
static void test_alpha_file(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny", 31, 0);
    hr_error err = {0};
    char name[96], buf[4096];
    size_t n = 0;
    int nb = hr_model_num_blocks(m);
    /* flat JSON: every existing branch 0.5 + block/10, the 1x1 of block 1 at 0 */
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"domain_2\": {");
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            hr_block_info bi = hr_model_block(m, k);
            if (!(bi.existing >> br & 1u) && !hr_branch_is_virtual(bi.existing, (hr_branch)br))
                continue;
            double v = k == 1 && br == HR_BRANCH_1X1 ? 0.0 : 0.5 + k / 10.0;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\": %g", n > 14 ? ", " : "",
                                  hr_model_alpha_name(m, k, (hr_branch)br, name, sizeof name), v);
        }
    snprintf(buf + n, sizeof buf - n, "}}");
    const char *path = hr_test_tmp_path("alpha.json");
    hr_test_write_file(path, buf, strlen(buf));
    HR_ASSERT_OK(hr_alpha_file_apply(m, path, 2, &err), &err);
    assert_true(m->blocks[1].alpha[HR_BRANCH_1X1] == 0.0f);
    assert_true(fabsf(m->blocks[2].alpha[HR_BRANCH_DENSE] - 0.7f) < 1e-6f);
    /* one domain in the file: taken without a choice; another asked for: not found */
    HR_ASSERT_OK(hr_alpha_file_apply(m, path, -1, &err), &err);
    assert_int_equal(hr_alpha_file_apply(m, path, 3, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "domain_3"));
    /* safetensors, as the joint writes it */
    hr_tensor_map *map;
    const int64_t one = 1;
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (hr_model_block(m, k).existing >> br & 1u) {
                float v = 0.25f + (float)k;
                HR_ASSERT_OK(hr_tensor_map_add(map, hr_model_alpha_name(m, k, (hr_branch)br, name, sizeof name), 1,
                                               &one, &v, &err), &err);
            }
    const char *st_path = hr_test_tmp_path("alpha.safetensors");
    HR_ASSERT_OK(hr_safetensors_save(st_path, map, NULL, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_alpha_file_apply(m, st_path, 7, &err), &err);
    assert_true(m->blocks[1].alpha[HR_BRANCH_1X1] == 1.25f);
    hr_tensor_map_destroy(map);
    /* malformed */
    const char *bad_value = "{\"stage1.0.hyper_dense\": \"x\"}", *two = "{\"domain_0\": {}, \"domain_1\": {}}";
    hr_test_write_file(path, bad_value, strlen(bad_value));
    assert_int_equal(hr_alpha_file_apply(m, path, -1, &err), HR_ERR_FORMAT);
    if (!strstr(err.msg, "hyper_dense is missing or not a number"))
        fail_msg("%s", err.msg);
    hr_test_write_file(path, two, strlen(two));
    assert_int_equal(hr_alpha_file_apply(m, path, -1, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "several domains"));
    hr_test_write_file(path, "  ", 2);
    assert_int_equal(hr_alpha_file_apply(m, path, -1, &err), HR_ERR_FORMAT);
    hr_test_write_file(path, "\x10\0\0\0\0\0\0\0{}", 10);
    assert_int_not_equal(hr_alpha_file_apply(m, path, -1, &err), HR_OK);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(hr_alpha_file_apply(m, hr_test_tmp_path("absent.json"), -1, &err), HR_ERR_IO);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpha_gradients_fd), cmocka_unit_test(test_full_gradients_fd),
        cmocka_unit_test(test_predict_matches_model), cmocka_unit_test(test_thread_independence),
        cmocka_unit_test(test_sgd_semantics), cmocka_unit_test(test_full_training_learns),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_checkpoint), cmocka_unit_test(test_alpha_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
