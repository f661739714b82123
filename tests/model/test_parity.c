// ctest-labels: numeric
/* PyTorch parity: the fixtures of tests/fixtures/make_fixtures.py (random
 * RepVGG-style weights, random BN statistics and α, one pruned branch), read
 * from .pth without Python, must give PyTorch's logits within 1e-4 relative,
 * in the training-time form under every uniform γ the blocks allow, in the
 * deploy form, and split at every point (head + tail == whole). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/model.h"

typedef struct npy {
    int ndim;
    int64_t shape[HR_MAX_DIMS];
    float *data;
} npy;

static npy load_npy(const char *name)
{
    npy a;
    char path[512];
    hr_error err = {0};
    snprintf(path, sizeof path, "%s/%s", HR_FIXTURES_DIR, name);
    HR_ASSERT_OK(hr_npy_load(path, &a.ndim, a.shape, &a.data, &err), &err);
    return a;
}

static hr_model *load_model(hr_ctx *ctx, const char *arch, const char *pth)
{
    char path[512];
    hr_error err = {0};
    hr_tensor_map *map;
    hr_model *m;
    snprintf(path, sizeof path, "%s/%s", HR_FIXTURES_DIR, pth);
    HR_ASSERT_OK(hr_pth_load(path, &map, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, arch, NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_load(m, map, &err), &err);
    hr_tensor_map_destroy(map);
    return m;
}

static void check_logits(hr_model *m, const npy *in, const npy *want, const char *what)
{
    hr_error err = {0};
    int64_t B = in->shape[0], K = hr_model_num_classes(m);
    float *y = malloc(sizeof(float) * (size_t)(B * K));
    hr_tensor tx = hr_tensor_view(in->data, 4, in->shape), ty = hr_tensor_view(y, 2, (int64_t[]){B, K});
    hr_tensor tw = hr_tensor_view(want->data, want->ndim, want->shape);
    memset(y, 0xff, sizeof(float) * (size_t)(B * K));
    HR_ASSERT_OK(hr_model_forward(m, &tx, &ty, &err), &err);
    HR_ASSERT_CLOSE(&ty, &tw, 1e-4, what);
    free(y);
}

static void parity(const char *arch, const char *stem, int threads)
{
    char name[128], what[160];
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    npy in = load_npy("tiny_input.npy"), out, dout;
    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    snprintf(name, sizeof name, "%s_out.npy", stem);
    out = load_npy(name);
    snprintf(name, sizeof name, "%s_deploy_out.npy", stem);
    dout = load_npy(name);

    /* Training-time checkpoint, deploy γ. */
    snprintf(name, sizeof name, "%s.pth", stem);
    hr_model *m = load_model(ctx, arch, name);
    /* The fixture prunes stage2.1's 1x1 branch (α = 0). */
    hr_block_info b21 = hr_model_block(m, hr_model_find_block(m, "stage2.1"));
    assert_int_equal(b21.live, HR_BR_DENSE | HR_BR_IDENTITY);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    snprintf(what, sizeof what, "%s deploy gamma", stem);
    check_logits(m, &in, &out, what);

    /* Every γ applied uniformly where valid (exact mask), others deploy. */
    for (int g = 0; g < HR_GAMMA_COUNT; g++) {
        int applied = 0;
        HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
        for (int i = 0; i < hr_model_num_blocks(m); i++)
            if (hr_gamma_valid(g, hr_model_block(m, i).live, HR_MASK_EXACT)) {
                HR_ASSERT_OK(hr_model_apply_gamma(m, i, g, HR_MASK_EXACT, NULL, &err), &err);
                applied++;
            }
        snprintf(what, sizeof what, "%s gamma %d on %d blocks", stem, g, applied);
        check_logits(m, &in, &out, what);
    }

    /* Split at every point: stage 0 + blocks [0, s) then blocks [s, N) + classifier. */
    {
        int N = hr_model_num_blocks(m);
        int64_t B = in.shape[0], K = hr_model_num_classes(m);
        hr_block_info s0 = hr_model_block(m, -1), last = hr_model_block(m, N - 1);
        float *a = malloc(sizeof(float) * 65536), *b = malloc(sizeof(float) * 65536), *y = malloc(sizeof(float) * 64);
        hr_tensor tx = hr_tensor_view(in.data, 4, in.shape), ty = hr_tensor_view(y, 2, (int64_t[]){B, K});
        hr_tensor tw = hr_tensor_view(out.data, out.ndim, out.shape);
        HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
        for (int s = 0; s <= N; s++) {
            hr_tensor ta = hr_tensor_4d(a, B, s0.cout, s0.out_h, s0.out_w);
            HR_ASSERT_OK(hr_model_forward_stage0(m, &tx, &ta, &err), &err);
            hr_block_info cut = hr_model_block(m, s < N ? s : N - 1);
            hr_tensor tc = s < N ? hr_tensor_4d(b, B, cut.cin, cut.in_h, cut.in_w)
                                 : hr_tensor_4d(b, B, last.cout, last.out_h, last.out_w);
            HR_ASSERT_OK(hr_model_forward_range(m, 0, s, &ta, &tc, &err), &err);
            if (s == 4 && strcmp(stem, "tiny") == 0) {
                npy feat = load_npy("tiny_feat.npy");
                hr_tensor tf = hr_tensor_view(feat.data, feat.ndim, feat.shape);
                HR_ASSERT_CLOSE(&tc, &tf, 1e-4, "tiny head output at split 4 (stage2 output)");
                free(feat.data);
            }
            hr_tensor td = hr_tensor_4d(a, B, last.cout, last.out_h, last.out_w);
            HR_ASSERT_OK(hr_model_forward_range(m, s, N, &tc, &td, &err), &err);
            HR_ASSERT_OK(hr_model_forward_classifier(m, &td, &ty, &err), &err);
            snprintf(what, sizeof what, "%s split at %d", stem, s);
            HR_ASSERT_CLOSE(&ty, &tw, 1e-4, what);
        }
        free(a), free(b), free(y);
    }
    hr_model_destroy(m);

    /* Deploy-form checkpoint (rbr_reparam). */
    snprintf(name, sizeof name, "%s_deploy.pth", stem);
    m = load_model(ctx, arch, name);
    assert_true(hr_model_block(m, 0).deploy_only);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    assert_int_equal(hr_model_apply_gamma(m, 1, 13, HR_MASK_EXACT, NULL, &err), HR_ERR_INVALID_ARG);
    snprintf(what, sizeof what, "%s deploy checkpoint", stem);
    check_logits(m, &in, &dout, what);
    hr_model_destroy(m);

    free(in.data), free(out.data), free(dout.data);
    hr_ctx_destroy(ctx);
}

static void test_parity_tiny(void **state)
{
    (void)state;
    parity("repvgg-tiny", "tiny", 1);
}

static void test_parity_grouped(void **state)
{
    (void)state;
    parity("repvgg-tiny-g2", "tiny_g2", 2);
}

/* Export → safetensors → load gives the same logits (weights round trip). */
static void test_safetensors_round_trip(void **state)
{
    char path[600];
    hr_error err = {0};
    hr_ctx *ctx;
    hr_tensor_map *map, *back;
    hr_model *m, *m2;
    npy in = load_npy("tiny_input.npy"), out = load_npy("tiny_out.npy");
    (void)state;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    m = load_model(ctx, "repvgg-tiny", "tiny.pth");
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, map, &err), &err);
    snprintf(path, sizeof path, "%s/w.safetensors", hr_test_tmpdir());
    HR_ASSERT_OK(hr_safetensors_save(path, map, NULL, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_safetensors_load(path, &back, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m2, &err), &err);
    HR_ASSERT_OK(hr_model_load(m2, back, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m2, &err), &err);
    check_logits(m2, &in, &out, "safetensors round trip");
    /* A checkpoint of another architecture is rejected, naming a tensor. */
    hr_model *wrong;
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny-g2", NULL, &wrong, &err), &err);
    assert_int_not_equal(hr_model_load(wrong, back, &err), HR_OK);
    assert_non_null(strstr(err.msg, "tensor"));
    hr_model_destroy(wrong);
    hr_model_destroy(m);
    hr_model_destroy(m2);
    hr_tensor_map_destroy(map);
    hr_tensor_map_destroy(back);
    free(in.data), free(out.data);
    hr_ctx_destroy(ctx);
}

/* The lean build (block by block, sources freed) gives the same logits, and
 * checks γ validity per block. */
static void test_lean_build(void **state)
{
    char path[512];
    hr_error err = {0};
    hr_ctx *ctx;
    hr_tensor_map *map, *other;
    hr_model *m;
    npy in = load_npy("tiny_input.npy"), out = load_npy("tiny_out.npy");
    int gammas[7] = {3, 9, -1, 5, -1, 12, -1};
    (void)state;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    snprintf(path, sizeof path, "%s/tiny.pth", HR_FIXTURES_DIR);
    HR_ASSERT_OK(hr_pth_load(path, &map, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_build_deploy(m, map, 0, NULL, HR_MASK_EXACT, &err), &err);
    check_logits(m, &in, &out, "lean build, deploy gamma");
    HR_ASSERT_OK(hr_model_build_deploy(m, map, 0, gammas, HR_MASK_EXACT, &err), &err);
    check_logits(m, &in, &out, "lean build, mixed gamma");
    assert_int_equal(hr_model_block(m, 1).gamma, 9);
    /* Sources are gone: γ cannot change and nothing can be exported. */
    assert_int_equal(hr_model_apply_gamma(m, 1, 13, HR_MASK_EXACT, NULL, &err), HR_ERR_UNSUPPORTED);
    HR_ASSERT_OK(hr_tensor_map_create(&other, &err), &err);
    assert_int_equal(hr_model_export(m, other, &err), HR_ERR_UNSUPPORTED);
    /* stage2.1 has its 1x1 pruned: γ 13 is invalid there, and the error says where. */
    gammas[3] = 13;
    assert_int_equal(hr_model_build_deploy(m, map, 0, gammas, HR_MASK_EXACT, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stage2.1: gamma 13"));
    hr_tensor_map_destroy(other);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    free(in.data), free(out.data);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_tiny),
        cmocka_unit_test(test_parity_grouped),
        cmocka_unit_test(test_safetensors_round_trip),
        cmocka_unit_test(test_lean_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
