// ctest-labels: numeric
/* Split training of α (head trainer + tail trainer, SPEC §10) against the
 * whole trainer, for every split s in 0..N of the small models, with
 * pruned branches: the α gradients and the loss, five SGD steps, split
 * inference, thread-count independence, the gradient w.r.t. the features
 * against central finite differences, and the error paths. */
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
#include "model/model_internal.h"

#define NB 11 /* samples per batch: one full chunk of 8 and a partial one */

static const char *const archs[] = {"repvgg-tiny", "repvgg-tiny-g2"};

static hr_ctx *make_ctx(int threads)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_error err = {0};
    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    return ctx;
}

/* A random model with random BN statistics and α; three branches pruned:
 * the dense branch of stage1.1 (which leaves a direct 1x1 + identity
 * layer), the 1x1 branch of stage2.1 and the identity of stage3.1. */
static hr_model *make_model(hr_ctx *ctx, const char *arch, uint64_t seed)
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
    HR_ASSERT_OK(hr_model_set_alpha(m, 1, HR_BRANCH_DENSE, 0.0f, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, 3, HR_BRANCH_1X1, 0.0f, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, 5, HR_BRANCH_IDENTITY, 0.0f, &err), &err);
    return m;
}

typedef struct batch {
    float *x;
    int64_t labels[NB];
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

static hr_trainer *make_trainer(hr_model *m, hr_train_part part, int split, int64_t nmax)
{
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t;
    hr_error err = {0};
    p.batch = nmax;
    p.part = part;
    p.split = split;
    p.l1 = 0.01f; /* large enough to matter beside the cross-entropy */
    HR_ASSERT_OK(hr_trainer_create(m, &p, &t, &err), &err);
    assert_int_equal(hr_trainer_part(t), part);
    return t;
}

/* Storage for the crossing tensor of a batch of n. */
typedef struct xing {
    float *data;
    hr_tensor t;
    int64_t numel;
} xing;

static xing make_xing(const hr_trainer *t, int64_t n)
{
    xing f;
    int64_t sh[4];
    hr_trainer_features_shape(t, n, sh);
    f.numel = sh[0] * sh[1] * sh[2] * sh[3];
    f.data = calloc((size_t)f.numel, sizeof(float));
    f.t = hr_tensor_view(f.data, 4, sh);
    return f;
}

static double rel_diff(double a, double b)
{
    double d = fabs(a - b), s = fabs(b) > 1e-6 ? fabs(b) : 1e-6;
    return d / s;
}

/* One split step: head forward, tail compute, head backward. */
static void split_compute(hr_trainer *h, hr_trainer *t, const batch *b, xing *f, xing *g, hr_train_stats *hs,
                          hr_train_stats *ts)
{
    hr_error err = {0};
    HR_ASSERT_OK(hr_trainer_head_forward(h, &b->t, &f->t, &err), &err);
    HR_ASSERT_OK(hr_trainer_tail_compute(t, &f->t, b->labels, &g->t, ts, &err), &err);
    HR_ASSERT_OK(hr_trainer_head_backward(h, &g->t, hs, &err), &err);
}

/* Everything a split run produces, for comparing thread counts bit for bit. */
typedef struct record {
    float *v;
    size_t n, cap;
} record;

static void rec_add(record *r, const float *v, int64_t n)
{
    if (r->n + (size_t)n > r->cap) {
        r->cap = (r->n + (size_t)n) * 2;
        r->v = realloc(r->v, r->cap * sizeof(float));
        assert_non_null(r->v);
    }
    memcpy(r->v + r->n, v, sizeof(float) * (size_t)n);
    r->n += (size_t)n;
}

/* (a) gradients and loss, (c) split inference, for every split; returns
 * the record of the run for (d). */
static record run_all_splits(const char *arch, int threads)
{
    hr_ctx *ctx = make_ctx(threads);
    hr_model *m = make_model(ctx, arch, 7);
    const int N = hr_model_num_blocks(m);
    const int64_t K = hr_model_num_classes(m);
    batch b = make_batch(m, NB, 29);
    hr_trainer *w = make_trainer(m, HR_PART_ALL, 0, NB);
    hr_train_stats ws, hs, ts;
    hr_error err = {0};
    record rec = {NULL, 0, 0};
    float *lw = malloc(sizeof(float) * (size_t)(NB * K)), *ls = malloc(sizeof(float) * (size_t)(NB * K));
    hr_tensor tlw = hr_tensor_view(lw, 2, (int64_t[]){NB, K}), tls = hr_tensor_view(ls, 2, (int64_t[]){NB, K});

    HR_ASSERT_OK(hr_trainer_compute(w, &b.t, b.labels, &ws, &err), &err);
    HR_ASSERT_OK(hr_trainer_predict(w, &b.t, &tlw, &err), &err);
    const int np = hr_trainer_num_params(w);
    assert_true(np > 10);
    assert_null(hr_trainer_find_param(w, "stage1.1.hyper_dense"));
    double worst = 0;
    for (int s = 0; s <= N; s++) {
        hr_trainer *h = make_trainer(m, HR_PART_HEAD, s, NB), *t = make_trainer(m, HR_PART_TAIL, s, NB);
        xing f = make_xing(h, NB), g = make_xing(t, NB);
        assert_int_equal(f.numel, g.numel);
        assert_int_equal(hr_trainer_split(h), s);
        split_compute(h, t, &b, &f, &g, &hs, &ts);
        /* every α of the whole trainer is in exactly one part, same gradient */
        assert_int_equal(hr_trainer_num_params(h) + hr_trainer_num_params(t), np);
        for (int i = 0; i < np; i++) {
            const hr_train_param *pw = hr_trainer_param(w, i);
            const hr_train_param *ph = hr_trainer_find_param(h, pw->name), *pt = hr_trainer_find_param(t, pw->name);
            assert_true((ph != NULL) != (pt != NULL));
            const hr_train_param *pp = ph ? ph : pt;
            double r = rel_diff(pp->grad[0], pw->grad[0]);
            if (r > worst)
                worst = r;
            if (r > 1e-5)
                fail_msg("%s split %d: %s gradient %.9g (%s) vs whole %.9g", arch, s, pw->name, pp->grad[0],
                         ph ? "head" : "tail", pw->grad[0]);
        }
        for (int blk = 0; blk < N; blk++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                const hr_trainer *own = blk < s ? h : t, *other = blk < s ? t : h;
                assert_true(hr_trainer_alpha(own, blk, (hr_branch)br) == hr_trainer_alpha(w, blk, (hr_branch)br));
                assert_true(hr_trainer_alpha(other, blk, (hr_branch)br) == 0.0f);
            }
        /* loss = xent + l1·(Σ head + Σ tail) */
        assert_true(rel_diff(ts.xent, ws.xent) <= 1e-12);
        assert_true(rel_diff(hs.l1_sum + ts.l1_sum, ws.l1_sum) <= 1e-9);
        assert_true(rel_diff(ts.loss + hs.loss, ws.loss) <= 1e-9);
        assert_true(rel_diff(ts.loss, ts.xent + (double)0.01f * ts.l1_sum) <= 1e-12);
        assert_int_equal(ts.correct, ws.correct);
        assert_int_equal(ts.n, NB);
        assert_int_equal(hs.n, NB);
        if (s == 0)
            assert_true(hs.l1_sum == 0.0 && hr_trainer_num_params(h) == 0);
        if (s == N)
            assert_true(ts.l1_sum == 0.0 && hr_trainer_num_params(t) == 0);
        {
            /* the gradient may overwrite the features in place */
            xing same = make_xing(t, NB);
            hr_train_stats as;
            memcpy(same.data, f.data, sizeof(float) * (size_t)f.numel);
            HR_ASSERT_OK(hr_trainer_tail_compute(t, &same.t, b.labels, &same.t, &as, &err), &err);
            assert_memory_equal(same.data, g.data, sizeof(float) * (size_t)g.numel);
            assert_true(as.loss == ts.loss);
            free(same.data);
        }
        rec_add(&rec, f.data, f.numel);
        rec_add(&rec, g.data, g.numel);
        for (int i = 0; i < hr_trainer_num_params(h); i++)
            rec_add(&rec, hr_trainer_param(h, i)->grad, 1);
        for (int i = 0; i < hr_trainer_num_params(t); i++)
            rec_add(&rec, hr_trainer_param(t, i)->grad, 1);
        /* (c) split inference (features into a fresh buffer: no reuse of the
         * training pass) */
        memset(f.data, 0, sizeof(float) * (size_t)f.numel);
        HR_ASSERT_OK(hr_trainer_head_predict(h, &b.t, &f.t, &err), &err);
        HR_ASSERT_OK(hr_trainer_tail_predict(t, &f.t, &tls, &err), &err);
        HR_ASSERT_CLOSE(&tls, &tlw, 1e-5, "head_predict + tail_predict vs predict");
        rec_add(&rec, ls, NB * K);
        free(f.data);
        free(g.data);
        hr_trainer_destroy(h);
        hr_trainer_destroy(t);
    }
    print_message("%s, %d thread(s): splits 0..%d, worst α-gradient difference %.3g\n", arch, threads, N, worst);
    free(lw);
    free(ls);
    free(b.x);
    hr_trainer_destroy(w);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rec;
}

/* (a), (c) and (d): 1 and 3 threads give the same bits. */
static void test_split_equals_whole(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++) {
        record r1 = run_all_splits(archs[a], 1), r3 = run_all_splits(archs[a], 3);
        assert_int_equal(r1.n, r3.n);
        assert_memory_equal(r1.v, r3.v, sizeof(float) * r1.n);
        free(r1.v);
        free(r3.v);
    }
}

/* (b) five SGD steps on different batches: the α of both parts follow the
 * whole trainer's; sync writes each part's α into its model and leaves the
 * other part's blocks there as they were. */
static void test_split_sgd(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(2);
    for (int a = 0; a < 2; a++) {
        const uint64_t seed = 13 + (uint64_t)a;
        hr_model *m0 = make_model(ctx, archs[a], seed);
        const int N = hr_model_num_blocks(m0);
        for (int s = 0; s <= N; s++) {
            hr_model *m = make_model(ctx, archs[a], seed), *mh = make_model(ctx, archs[a], seed),
                     *mt = make_model(ctx, archs[a], seed);
            hr_trainer *w = make_trainer(m, HR_PART_ALL, 0, NB), *h = make_trainer(mh, HR_PART_HEAD, s, NB),
                       *t = make_trainer(mt, HR_PART_TAIL, s, NB);
            hr_train_stats ws, hs, ts;
            hr_error err = {0};
            xing f = make_xing(h, NB), g = make_xing(t, NB);
            for (int step = 0; step < 5; step++) {
                batch b = make_batch(m, NB - step % 2, 100 + (uint64_t)step); /* 11 and 10 samples */
                f.t.shape[0] = g.t.shape[0] = b.n;
                f.t = hr_tensor_view(f.data, 4, f.t.shape);
                g.t = hr_tensor_view(g.data, 4, g.t.shape);
                HR_ASSERT_OK(hr_trainer_step(w, &b.t, b.labels, 0.05f, &ws, &err), &err);
                split_compute(h, t, &b, &f, &g, &hs, &ts);
                hr_trainer_update(h, 0.05f);
                hr_trainer_update(t, 0.05f);
                assert_true(rel_diff(ts.loss + hs.loss, ws.loss) <= 1e-9);
                free(b.x);
            }
            int moved = 0;
            for (int blk = 0; blk < N; blk++)
                for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                    float want = hr_trainer_alpha(w, blk, (hr_branch)br);
                    float got = hr_trainer_alpha(blk < s ? h : t, blk, (hr_branch)br);
                    if (rel_diff(got, want) > 1e-5)
                        fail_msg("%s split %d: block %d branch %d α %.9g vs whole %.9g", archs[a], s, blk, br, got,
                                 want);
                    assert_true(hr_trainer_alpha(blk < s ? t : h, blk, (hr_branch)br) == 0.0f);
                    moved += want != hr_model_block(m0, blk).alpha[br];
                }
            assert_true(moved > 10); /* the comparison is not vacuous */
            HR_ASSERT_OK(hr_trainer_sync(w, &err), &err);
            HR_ASSERT_OK(hr_trainer_sync(h, &err), &err);
            HR_ASSERT_OK(hr_trainer_sync(t, &err), &err);
            for (int blk = 0; blk < N; blk++) {
                hr_block_info bw = hr_model_block(m, blk), b0 = hr_model_block(m0, blk);
                hr_block_info bo = hr_model_block(blk < s ? mh : mt, blk), bx = hr_model_block(blk < s ? mt : mh, blk);
                for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                    assert_true(rel_diff(bo.alpha[br], bw.alpha[br]) <= 1e-5);
                    assert_true(bx.alpha[br] == b0.alpha[br]);
                }
            }
            free(f.data);
            free(g.data);
            hr_trainer_destroy(w);
            hr_trainer_destroy(h);
            hr_trainer_destroy(t);
            hr_model_destroy(m);
            hr_model_destroy(mh);
            hr_model_destroy(mt);
        }
        hr_model_destroy(m0);
    }
    hr_ctx_destroy(ctx);
}

/* dL/d(features) of the tail against central differences of its loss at
 * the largest-gradient entries and a few random ones (the l1 term does not
 * depend on the features). Splits 0 (first tail layer strided, an input
 * gradient the whole pass never needs), 3 and N (classifier only). */
static void test_feature_gradient_fd(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny-g2", 31);
    const int N = hr_model_num_blocks(m);
    const int splits[] = {0, 3, N};
    batch b = make_batch(m, 2, 37);
    hr_error err = {0};
    hr_test_rng rng;
    hr_test_rng_seed(&rng, 5);
    for (int k = 0; k < 3; k++) {
        const int s = splits[k];
        hr_trainer *h = make_trainer(m, HR_PART_HEAD, s, 2), *t = make_trainer(m, HR_PART_TAIL, s, 2);
        xing f = make_xing(h, 2), g = make_xing(t, 2), scratch = make_xing(t, 2);
        hr_train_stats st;
        HR_ASSERT_OK(hr_trainer_head_forward(h, &b.t, &f.t, &err), &err);
        HR_ASSERT_OK(hr_trainer_tail_compute(t, &f.t, b.labels, &g.t, &st, &err), &err);
        /* 6 largest |gradient| entries, 6 random ones */
        int64_t pts[12];
        for (int q = 0; q < 6; q++) {
            int64_t best = -1;
            for (int64_t e = 0; e < g.numel; e++) {
                int taken = 0;
                for (int r = 0; r < q; r++)
                    taken |= pts[r] == e;
                if (!taken && (best < 0 || fabsf(g.data[e]) > fabsf(g.data[best])))
                    best = e;
            }
            pts[q] = best;
        }
        for (int q = 6; q < 12; q++)
            pts[q] = (int64_t)hr_test_uniform(&rng, 0, (float)g.numel) % g.numel;
        double sd = 0, sn = 0, worst_top = 0;
        for (int q = 0; q < 12; q++) {
            const int64_t e = pts[q];
            const float keep = f.data[e], hstep = 1e-2f;
            hr_train_stats sp, sm;
            f.data[e] = keep + hstep;
            HR_ASSERT_OK(hr_trainer_tail_compute(t, &f.t, b.labels, &scratch.t, &sp, &err), &err);
            f.data[e] = keep - hstep;
            HR_ASSERT_OK(hr_trainer_tail_compute(t, &f.t, b.labels, &scratch.t, &sm, &err), &err);
            f.data[e] = keep;
            const double num = (sp.loss - sm.loss) / (2.0 * hstep), an = g.data[e];
            sd += fabs(num - an);
            sn += fabs(num);
            if (q < 6 && rel_diff(an, num) > worst_top)
                worst_top = rel_diff(an, num);
        }
        print_message("split %d: feature gradient vs finite differences: top entries %.2e, aggregate %.2e "
                      "(max |g| %.3e)\n", s, worst_top, sd / sn, (double)fabsf(g.data[pts[0]]));
        assert_true(fabsf(g.data[pts[0]]) > 0);
        if (worst_top > 1.5e-2 || sd / sn > 3e-3)
            fail_msg("split %d: feature gradient differs from finite differences by %.3e (aggregate %.3e)", s,
                     worst_top, sd / sn);
        free(f.data);
        free(g.data);
        free(scratch.data);
        hr_trainer_destroy(h);
        hr_trainer_destroy(t);
    }
    free(b.x);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* A part trainer needs only its own blocks' training-time weights: a tail
 * over a model whose stage 0 and head blocks are deploy-only (sources
 * dropped) trains like a tail over the intact model. */
static void test_part_needs_own_blocks_only(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *full = make_model(ctx, "repvgg-tiny", 41), *lean = make_model(ctx, "repvgg-tiny", 41);
    const int s = 3;
    hr_error err = {0};
    hr_trainer *t = NULL;
    hr_train_stats sl, sf;
    batch b = make_batch(full, 4, 43);
    for (int i = 0; i < s; i++)
        HR_ASSERT_OK(hr_model_apply_gamma(lean, i, hr_gamma_deploy(hr_model_block(lean, i).live), HR_MASK_EXACT, NULL,
                                          &err), &err);
    hr_model_drop_sources(lean); /* stage 0 and blocks [0, s) */
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    p.batch = 4;
    assert_int_equal(hr_trainer_create(lean, &p, &t, &err), HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "stage0"));
    p.part = HR_PART_HEAD;
    p.split = 0;
    assert_int_equal(hr_trainer_create(lean, &p, &t, &err), HR_ERR_UNSUPPORTED);
    p.part = HR_PART_TAIL;
    p.split = s - 1;
    assert_int_equal(hr_trainer_create(lean, &p, &t, &err), HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, hr_model_block(lean, s - 1).name));
    assert_null(t);
    hr_trainer *h = make_trainer(full, HR_PART_HEAD, s, 4);
    hr_trainer *tl = make_trainer(lean, HR_PART_TAIL, s, 4), *tf = make_trainer(full, HR_PART_TAIL, s, 4);
    xing f = make_xing(h, 4), gl = make_xing(tl, 4), gf = make_xing(tf, 4);
    HR_ASSERT_OK(hr_trainer_head_forward(h, &b.t, &f.t, &err), &err);
    HR_ASSERT_OK(hr_trainer_tail_compute(tl, &f.t, b.labels, &gl.t, &sl, &err), &err);
    HR_ASSERT_OK(hr_trainer_tail_compute(tf, &f.t, b.labels, &gf.t, &sf, &err), &err);
    assert_true(sl.loss == sf.loss);
    assert_memory_equal(gl.data, gf.data, sizeof(float) * (size_t)gl.numel);
    assert_int_equal(hr_trainer_num_params(tl), hr_trainer_num_params(tf));
    for (int i = 0; i < hr_trainer_num_params(tl); i++)
        assert_true(hr_trainer_param(tl, i)->grad[0] == hr_trainer_param(tf, i)->grad[0]);
    free(f.data);
    free(gl.data);
    free(gf.data);
    free(b.x);
    hr_trainer_destroy(h);
    hr_trainer_destroy(tl);
    hr_trainer_destroy(tf);
    hr_model_destroy(lean);
    hr_model_destroy(full);
    hr_ctx_destroy(ctx);
}

/* (e) error paths. */
static void test_split_errors(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(1);
    hr_model *m = make_model(ctx, "repvgg-tiny", 19);
    const int N = hr_model_num_blocks(m);
    hr_trainer_params p = hr_trainer_params_default(HR_TRAIN_FULL);
    hr_trainer *t = NULL;
    hr_error err = {0};
    hr_train_stats st;
    batch b = make_batch(m, 4, 53);

    /* creation */
    p.batch = 4;
    p.part = HR_PART_HEAD;
    p.split = 2;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_UNSUPPORTED);
    p.part = HR_PART_TAIL;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_UNSUPPORTED);
    p = hr_trainer_params_default(HR_TRAIN_ALPHA);
    p.batch = 4;
    p.part = HR_PART_HEAD;
    p.split = N + 1;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "split"));
    p.part = HR_PART_TAIL;
    p.split = -1;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_INVALID_ARG);
    p.part = (hr_train_part)7;
    p.split = 1;
    assert_int_equal(hr_trainer_create(m, &p, &t, &err), HR_ERR_INVALID_ARG);
    assert_null(t);

    hr_trainer *h = make_trainer(m, HR_PART_HEAD, 2, 4), *tl = make_trainer(m, HR_PART_TAIL, 2, 4),
               *w = make_trainer(m, HR_PART_ALL, 2, 4);
    xing f = make_xing(h, 4), g = make_xing(tl, 4);
    float logits[40];
    hr_tensor tlog = hr_tensor_view(logits, 2, (int64_t[]){4, 10});

    /* the whole-network calls on part trainers */
    assert_int_equal(hr_trainer_compute(h, &b.t, b.labels, &st, &err), HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "head"));
    assert_int_equal(hr_trainer_compute(tl, &b.t, b.labels, &st, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_step(tl, &b.t, b.labels, 0.1f, &st, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_predict(h, &b.t, &tlog, &err), HR_ERR_UNSUPPORTED);
    /* part calls on the wrong trainer */
    assert_int_equal(hr_trainer_head_forward(tl, &b.t, &f.t, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_head_forward(w, &b.t, &f.t, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_head_predict(tl, &b.t, &f.t, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_head_backward(w, &g.t, &st, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_tail_compute(h, &f.t, b.labels, &g.t, &st, &err), HR_ERR_UNSUPPORTED);
    assert_int_equal(hr_trainer_tail_predict(w, &f.t, &tlog, &err), HR_ERR_UNSUPPORTED);
    /* a whole trainer reports the crossing at its split too */
    {
        int64_t a[4], c[4];
        hr_trainer_features_shape(w, 3, a);
        hr_trainer_features_shape(h, 3, c);
        assert_memory_equal(a, c, sizeof a);
        assert_int_equal(hr_trainer_split(w), 0);
    }

    /* backward before any forward */
    assert_int_equal(hr_trainer_head_backward(h, &g.t, &st, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "head_forward"));

    /* wrong shapes: features of the wrong width, input of the wrong size,
     * gradient of another batch */
    int64_t sh[4];
    hr_trainer_features_shape(h, 4, sh);
    hr_tensor badf = hr_tensor_4d(f.data, 4, sh[1] / 2, sh[2], sh[3]);
    assert_int_equal(hr_trainer_head_forward(h, &b.t, &badf, &err), HR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "expected"));
    assert_int_equal(hr_trainer_tail_compute(tl, &badf, b.labels, &g.t, &st, &err), HR_ERR_SHAPE);
    assert_int_equal(hr_trainer_tail_predict(tl, &badf, &tlog, &err), HR_ERR_SHAPE);
    assert_int_equal(hr_trainer_tail_compute(tl, &f.t, b.labels, &badf, &st, &err), HR_ERR_SHAPE);
    hr_tensor badx = hr_tensor_4d(b.x, 4, 3, 40, 40);
    assert_int_equal(hr_trainer_head_forward(h, &badx, &f.t, &err), HR_ERR_SHAPE);
    hr_tensor fewer = hr_tensor_4d(f.data, 3, sh[1], sh[2], sh[3]);
    assert_int_equal(hr_trainer_head_forward(h, &b.t, &fewer, &err), HR_ERR_SHAPE);
    hr_tensor flat = hr_tensor_view(f.data, 2, (int64_t[]){4, sh[1] * sh[2] * sh[3]});
    assert_int_equal(hr_trainer_tail_compute(tl, &flat, b.labels, &g.t, &st, &err), HR_ERR_SHAPE);
    HR_ASSERT_OK(hr_trainer_head_forward(h, &b.t, &f.t, &err), &err);
    assert_int_equal(hr_trainer_head_backward(h, &fewer, &st, &err), HR_ERR_SHAPE);
    hr_tensor badlog = hr_tensor_view(logits, 2, (int64_t[]){4, 9});
    assert_int_equal(hr_trainer_tail_predict(tl, &f.t, &badlog, &err), HR_ERR_SHAPE);

    /* labels, batch size */
    assert_int_equal(hr_trainer_tail_compute(tl, &f.t, NULL, &g.t, &st, &err), HR_ERR_INVALID_ARG);
    b.labels[2] = 10;
    assert_int_equal(hr_trainer_tail_compute(tl, &f.t, b.labels, &g.t, &st, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "label"));
    b.labels[2] = 1;
    batch big = make_batch(m, 5, 59);
    hr_tensor bigf = hr_tensor_4d(f.data, 5, sh[1], sh[2], sh[3]);
    assert_int_equal(hr_trainer_head_forward(h, &big.t, &bigf, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_int_equal(hr_trainer_tail_compute(tl, &bigf, big.labels, &bigf, &st, &err), HR_ERR_INVALID_ARG);

    /* head_predict drops the pending backward */
    HR_ASSERT_OK(hr_trainer_tail_compute(tl, &f.t, b.labels, &g.t, &st, &err), &err);
    HR_ASSERT_OK(hr_trainer_head_backward(h, &g.t, &st, &err), &err);
    HR_ASSERT_OK(hr_trainer_head_predict(h, &b.t, &f.t, &err), &err);
    assert_int_equal(hr_trainer_head_backward(h, &g.t, &st, &err), HR_ERR_INVALID_ARG);

    /* α outside the part */
    assert_int_equal(hr_trainer_set_alpha(h, 2, HR_BRANCH_DENSE, 1.0f, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "head"));
    HR_ASSERT_OK(hr_trainer_set_alpha(h, 1, HR_BRANCH_1X1, 0.7f, &err), &err);
    assert_int_equal(hr_trainer_set_alpha(tl, 1, HR_BRANCH_1X1, 1.0f, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_trainer_set_alpha(tl, 2, HR_BRANCH_DENSE, 0.7f, &err), &err);
    assert_true(hr_trainer_alpha(tl, 1, HR_BRANCH_1X1) == 0.0f);
    assert_true(hr_trainer_alpha(h, 1, HR_BRANCH_1X1) == 0.7f);

    free(f.data);
    free(g.data);
    free(b.x);
    free(big.x);
    hr_trainer_destroy(h);
    hr_trainer_destroy(tl);
    hr_trainer_destroy(w);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_equals_whole), cmocka_unit_test(test_split_sgd),
        cmocka_unit_test(test_feature_gradient_fd), cmocka_unit_test(test_part_needs_own_blocks_only),
        cmocka_unit_test(test_split_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
