/* Forward and backward passes of the trainer (see train.h for the modes).
 *
 * A layer (stage 0 or a block) computes, on CNHW activations,
 *   z3 = W3 . col(x)       (dense 3x3; col = im2col with pad 1)
 *   z1 = W1 . colc(x)      (1x1: the centre-tap rows of the same columns)
 *   out = relu(Σ_b A_b[c] · src_b + B[c])   src = z3, z1, x (identity)
 * where the per-channel coefficients come from BN in training mode (batch
 * statistics, full mode) or from the folded inference-mode BN and α (α mode
 * and prediction). The combine step is one work unit per channel, which also
 * computes the statistics, so BN costs one pass over each branch.
 *
 * Backward per layer: g = g_out ⊙ [out > 0] and the per-channel sums Σg and
 * Σ g·src_b, from which come dα (α mode) or the BN gradients and dz_b (full
 * mode, written over z_b); then the weight gradients (full mode) and the
 * input gradient through the fused kernel (α mode: for 3x3 stride-1 layers
 * as a forward convolution of g with the kernel rotated 180° — im2col of g
 * and one GEMM, no col2im — otherwise GEMM into a column matrix and col2im)
 * or through both conv branches sharing one column matrix and one col2im
 * (full mode).
 *
 * Execution: in full mode (BN statistics need the whole batch) each step of
 * a layer is one parallel region over the batch. In α mode and for
 * prediction samples are independent, so the batch is cut into chunks of
 * HR__CHUNK samples and the whole pass of one chunk is one work unit on one
 * thread (helpers called with a NULL context): one parallel region per
 * step instead of a dozen per layer. Each element is computed the same way
 * in both (the micro-kernels sum over k in order), and the only sums across
 * chunks (loss, dα) are added in chunk order afterwards. The classifier is
 * plain loops: it is small, and BLAS must not be called from two threads.
 *
 * Split training runs the same chunk passes over a range of layers: a head
 * trainer layers [0, s], a tail trainer layers [s + 1, N] and the
 * classifier, the features crossing in NCHW between them (chunk_unit). */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

static const hr__bn *branch_bn(const hr__block *b, int br)
{
    return br == HR_BRANCH_DENSE ? &b->dense_bn : br == HR_BRANCH_1X1 ? &b->k1_bn : &b->id_bn;
}

static int has(const hr__tlayer *l, int br) { return (l->live >> br) & 1u; }

/* ---- BN folding (inference mode) ---- */

void hr__trainer_fold(hr_trainer *t)
{
    for (int i = t->lo; i < t->hi; i++) {
        hr__tlayer *l = &t->layers[i];
        const hr__block *b = l->b;
        for (int64_t c = 0; c < l->cout; c++) {
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                if (!has(l, br))
                    continue;
                const hr__bn *bn = branch_bn(b, br);
                float s = bn->weight[c] / sqrtf(bn->var[c] + t->eps), sh = bn->bias[c] - bn->mean[c] * s;
                if (br == HR_BRANCH_DENSE) {
                    for (int64_t k = 0; k < l->cig * 9; k++)
                        l->fw3[c * l->cig * 9 + k] = b->dense_w[c * l->cig * 9 + k] * s;
                    l->fb3[c] = sh;
                } else if (br == HR_BRANCH_1X1) {
                    for (int64_t k = 0; k < l->cig; k++)
                        l->fw1[c * l->cig + k] = b->k1_w[c * l->cig + k] * s;
                    l->fb1[c] = sh;
                } else {
                    l->fs_id[c] = s;
                    l->ft_id[c] = sh;
                }
            }
        }
    }
    t->folded_valid = 1;
}

/* ---- reductions ----
 * Double sums with eight interleaved accumulators, added up in a fixed
 * order: the compiler vectorises the lanes (one serial chain of double adds
 * would cost its latency per element), and the result depends only on n. */

static double sum8(const float *a, int64_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t m = 0;
    for (; m + 8 <= n; m += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[m + k];
    for (int k = 0; m < n; m++, k++)
        acc[k] += a[m];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double dot8(const float *a, const float *b, int64_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t m = 0;
    for (; m + 8 <= n; m += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)a[m + k] * b[m + k];
    for (int k = 0; m < n; m++, k++)
        acc[k] += (double)a[m] * b[m];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Σ (a - c)² */
static double sqdev8(const float *a, double c, int64_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t m = 0;
    for (; m + 8 <= n; m += 8)
        for (int k = 0; k < 8; k++) {
            double d = a[m + k] - c;
            acc[k] += d * d;
        }
    for (int k = 0; m < n; m++, k++) {
        double d = a[m] - c;
        acc[k] += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ---- chunk views ---- */

typedef struct span {
    int64_t s0, n;  /* samples [s0, s0 + n) */
    int64_t idx;    /* chunk number (0 for a whole-batch pass) */
} span;

typedef struct comb_job {
    hr_trainer *t;
    hr__tlayer *l;
    const float *x;  /* layer input (identity source) */
    float *out, *z3, *z1;
    float *gout;     /* backward: gradient w.r.t. the output, becomes the pre-ReLU gradient */
    float *gin;      /* backward: input gradient (identity's dz goes there), nullable */
    int64_t NP, idx;
    int bn_train;
} comb_job;

static comb_job comb_make(hr_trainer *t, hr__tlayer *l, const float *x, const span *sp, int bn_train)
{
    comb_job j;
    const int64_t off = sp->s0 * l->cout * l->P;
    memset(&j, 0, sizeof j);
    j.t = t, j.l = l, j.x = x, j.NP = sp->n * l->P, j.idx = sp->idx, j.bn_train = bn_train;
    j.out = l->out + off;
    j.z3 = l->z3 ? l->z3 + off : NULL;
    j.z1 = l->z1 ? l->z1 + off : NULL;
    return j;
}

static const float *source(const comb_job *j, int br, int64_t c)
{
    return (br == HR_BRANCH_DENSE ? j->z3 : br == HR_BRANCH_1X1 ? j->z1 : j->x) + c * j->NP;
}

static float *in_of(hr_trainer *t, int i, const span *sp)
{
    if (i == 0)
        return t->xin + sp->s0 * t->layers[0].cin * t->layers[0].H * t->layers[0].W;
    const hr__tlayer *p = &t->layers[i - 1];
    return p->out + sp->s0 * p->cout * p->P;
}

/* ---- forward ---- */

static void combine_forward(void *arg, int64_t c, int thread)
{
    const comb_job *j = arg;
    hr__tlayer *l = j->l;
    const int64_t M = j->NP;
    float A[HR_BRANCH_COUNT] = {0, 0, 0};
    double B = 0;
    float *o = j->out + c * M;
    (void)thread;
    for (int br = 0; br < HR_BRANCH_COUNT; br++) {
        if (!has(l, br))
            continue;
        const float a = l->alpha[br];
        if (j->bn_train) {
            const float *s = source(j, br, c);
            hr__bn *bn = (hr__bn *)branch_bn(l->b, br);
            const double mean = sum8(s, M) / (double)M, var = sqdev8(s, mean, M) / (double)M;
            const double is = 1.0 / sqrt(var + j->t->eps);
            const float mom = j->t->params.bn_momentum;
            l->mean[br][c] = (float)mean;
            l->invstd[br][c] = (float)is;
            bn->mean[c] = (float)((1.0 - mom) * bn->mean[c] + mom * mean);
            bn->var[c] = (float)((1.0 - mom) * bn->var[c] + mom * var * (double)M / (double)(M - 1));
            A[br] = (float)(a * bn->weight[c] * is);
            B += a * (bn->bias[c] - bn->weight[c] * is * mean);
        } else if (br == HR_BRANCH_DENSE) {
            A[br] = a;
            B += (double)a * l->fb3[c];
        } else if (br == HR_BRANCH_1X1) {
            A[br] = a;
            B += (double)a * l->fb1[c];
        } else {
            A[br] = a * l->fs_id[c];
            B += (double)a * l->ft_id[c];
        }
    }
    const float b = (float)B;
    int first = 1;
    for (int br = 0; br < HR_BRANCH_COUNT; br++) {
        if (!has(l, br))
            continue;
        const float *s = source(j, br, c), a = A[br];
        if (first)
            for (int64_t m = 0; m < M; m++)
                o[m] = b + a * s[m];
        else
            for (int64_t m = 0; m < M; m++)
                o[m] += a * s[m];
        first = 0;
    }
    for (int64_t m = 0; m < M; m++)
        o[m] = o[m] > 0 ? o[m] : 0;
}

static hr__col_geom layer_geom(const hr__tlayer *l, int64_t n)
{
    return hr__col_geom_make(l->cin, n, l->H, l->W, l->kk == 9 ? 3 : 1, l->stride, l->kk == 9 ? 1 : 0);
}

static void layer_forward(hr_trainer *t, hr_ctx *ctx, int i, const span *sp, int bn_train)
{
    hr__tlayer *l = &t->layers[i];
    const int64_t NP = sp->n * l->P, K = l->cig * l->kk;
    const float *x = in_of(t, i, sp);
    const float *w3 = bn_train ? l->b->dense_w : l->fw3, *w1 = bn_train ? l->b->k1_w : l->fw1;
    comb_job j = comb_make(t, l, x, sp, bn_train);
    if (l->live & (HR_BR_DENSE | HR_BR_1X1)) {
        const float *col = x;
        if (!l->direct) {
            hr__col_geom g = layer_geom(l, sp->n);
            float *cb = t->col + sp->s0 * t->col_ps;
            hr__im2col_cnhw(ctx, &g, x, cb);
            col = cb;
        }
        for (int64_t gi = 0; gi < l->groups; gi++) {
            const float *cg = col + gi * K * NP;
            if (has(l, HR_BRANCH_DENSE))
                hr__gemm(ctx, l->cog, NP, K, w3 + gi * l->cog * K, K, cg, NP, 0, j.z3 + gi * l->cog * NP, NP, NULL);
            if (has(l, HR_BRANCH_1X1))
                hr__gemm(ctx, l->cog, NP, l->cig, w1 + gi * l->cog * l->cig, l->cig, cg + l->centre * NP, l->kk * NP,
                         0, j.z1 + gi * l->cog * NP, NP, NULL);
        }
    }
    hr__pfor(ctx, l->cout, combine_forward, &j);
}

/* Rows s0.. of an NCHW tensor (C channels of HW values) into a chunk's CNHW
 * slice, and back: the layout change at the input and at the crossing. */
static void to_cnhw(const float *src, float *slice, int64_t C, int64_t HW, const span *sp)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < sp->n; i++)
            memcpy(slice + (c * sp->n + i) * HW, src + ((sp->s0 + i) * C + c) * HW, sizeof(float) * (size_t)HW);
}

static void to_nchw(const float *slice, float *dst, int64_t C, int64_t HW, const span *sp)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < sp->n; i++)
            memcpy(dst + ((sp->s0 + i) * C + c) * HW, slice + (c * sp->n + i) * HW, sizeof(float) * (size_t)HW);
}

/* The image (NCHW rows s0..) into the chunk's slice of xin. */
static void input_span(hr_trainer *t, const float *x, const span *sp)
{
    const hr__tlayer *first = &t->layers[0];
    const int64_t C = first->cin, HW = first->H * first->W;
    to_cnhw(x, t->xin + sp->s0 * C * HW, C, HW, sp);
}

static void layers_forward(hr_trainer *t, hr_ctx *ctx, const span *sp, int lo, int hi, int bn_train)
{
    for (int i = lo; i < hi; i++)
        layer_forward(t, ctx, i, sp, bn_train);
}

/* Pooling and the linear layer for the chunk's rows of feat and logits. */
static void classifier_span(hr_trainer *t, const span *sp)
{
    const hr__tlayer *last = &t->layers[t->nlayers - 1];
    const float *out = last->out + sp->s0 * last->cout * last->P;
    for (int64_t i = 0; i < sp->n; i++) {
        float *f = t->feat + (sp->s0 + i) * t->feat_c;
        for (int64_t c = 0; c < last->cout; c++) {
            const float *p = out + (c * sp->n + i) * last->P;
            double a = 0;
            for (int64_t q = 0; q < last->P; q++)
                a += p[q];
            f[c] = (float)(a / (double)last->P);
        }
        float *z = t->logits + (sp->s0 + i) * t->classes;
        for (int64_t k = 0; k < t->classes; k++) {
            const float *w = t->model->linear_w + k * t->feat_c;
            double a = t->model->linear_b[k];
            for (int64_t c = 0; c < t->feat_c; c++)
                a += (double)f[c] * w[c];
            z[k] = (float)a;
        }
    }
}

/* ---- backward ---- */

/* Channel c: g = g_out ⊙ [out > 0] in place, the sums Σg and Σ g·src_b,
 * then dα terms (α mode) or BN gradients and dz_b (full mode). */
static void combine_backward(void *arg, int64_t c, int thread)
{
    const comb_job *j = arg;
    hr__tlayer *l = j->l;
    const int64_t M = j->NP;
    const float *o = j->out + c * M;
    float *g = j->gout + c * M;
    double S[HR_BRANCH_COUNT] = {0, 0, 0};
    (void)thread;
    for (int64_t m = 0; m < M; m++)
        g[m] = o[m] > 0 ? g[m] : 0.0f;
    const double Sg = sum8(g, M);
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        if (has(l, br))
            S[br] = dot8(g, source(j, br, c), M);
    if (!j->bn_train) {
        /* branch output = src·scale + shift: Σ g·out_b = scale·S_b + shift·Σg */
        double *d3 = l->dal[HR_BRANCH_DENSE] + j->idx * l->cout, *d1 = l->dal[HR_BRANCH_1X1] + j->idx * l->cout;
        double *di = l->dal[HR_BRANCH_IDENTITY] + j->idx * l->cout;
        d3[c] = has(l, HR_BRANCH_DENSE) ? S[HR_BRANCH_DENSE] + l->fb3[c] * Sg : 0;
        d1[c] = has(l, HR_BRANCH_1X1) ? S[HR_BRANCH_1X1] + l->fb1[c] * Sg : 0;
        di[c] = has(l, HR_BRANCH_IDENTITY) ? l->fs_id[c] * S[HR_BRANCH_IDENTITY] + l->ft_id[c] * Sg : 0;
        return;
    }
    for (int br = 0; br < HR_BRANCH_COUNT; br++) {
        if (!has(l, br))
            continue;
        const hr__bn *bn = branch_bn(l->b, br);
        const double a = l->alpha[br], mu = l->mean[br][c], is = l->invstd[br][c];
        const double sx = S[br] - mu * Sg; /* Σ g·(src - mean) */
        l->gbn_w[br][c] = (float)(a * is * sx);
        l->gbn_b[br][c] = (float)(a * Sg);
        float *dz;
        const float *s = source(j, br, c);
        if (br == HR_BRANCH_IDENTITY) {
            if (!j->gin)
                continue;
            dz = j->gin + c * M;
        } else {
            dz = (float *)s;
        }
        const float k1 = (float)(bn->weight[c] * is * a), mg = (float)(Sg / (double)M);
        const float kx = (float)(is * is * sx / (double)M), fm = (float)mu;
        for (int64_t m = 0; m < M; m++)
            dz[m] = k1 * (g[m] - mg - (s[m] - fm) * kx);
    }
}

/* Builds the α-mode fused kernel Σ α_b K_b (BN folded) for the backward
 * GEMM, transposed per group: kf[g][k][j] = fused[g*cog + j][k]; or, for a
 * rot layer, rotated 180° with input and output channels swapped:
 * kf[g][ci][j*9 + 8 - t] = fused[g*cog + j][ci*9 + t]. */
static void build_fused_kernel(hr__tlayer *l)
{
    const int64_t K = l->cig * l->kk;
    memset(l->kf, 0, sizeof(float) * (size_t)(l->cout * K));
    for (int64_t co = 0; co < l->cout; co++) {
        const int64_t g = co / l->cog, jc = co % l->cog;
        float *base = l->kf + g * K * l->cog + jc;
#define KF(k) (*(l->rot ? base - jc + ((k) / 9) * l->cog * 9 + jc * 9 + 8 - (k) % 9 : base + (k) * l->cog))
        if (has(l, HR_BRANCH_DENSE))
            for (int64_t k = 0; k < K; k++)
                KF(k) = l->alpha[HR_BRANCH_DENSE] * l->fw3[co * K + k];
        if (has(l, HR_BRANCH_1X1))
            for (int64_t ci = 0; ci < l->cig; ci++)
                KF(ci * l->kk + l->centre) += l->alpha[HR_BRANCH_1X1] * l->fw1[co * l->cig + ci];
        if (has(l, HR_BRANCH_IDENTITY))
            KF((co % l->cig) * l->kk + l->centre) += l->alpha[HR_BRANCH_IDENTITY] * l->fs_id[co];
#undef KF
    }
}

/* Input gradient through the column matrix: dcol (or, for a direct layer,
 * gin itself) = Σ W^T · dz over the given operands, then col2im.
 * `accumulate` keeps what gin holds (the identity branch's share). wt3 is
 * already transposed per group ([g][K][cog], α mode); w3 / w1 are plain
 * [cout][K] weights transposed here (full mode, whole batch). */
static void data_grad(hr_trainer *t, hr_ctx *ctx, hr__tlayer *l, const span *sp, const float *wt3, const float *w3,
                      const float *dz3, const float *w1, const float *dz1, int accumulate, float *gin)
{
    const int64_t NP = sp->n * l->P, K = l->cig * l->kk;
    float *dst = l->direct ? gin : t->dcol + sp->s0 * t->dcol_ps;
    for (int64_t gi = 0; gi < l->groups; gi++) {
        float *d = dst + gi * K * NP;
        int acc = l->direct && accumulate;
        if (wt3 || w3) {
            const float *a = wt3 ? wt3 + gi * K * l->cog : t->wt;
            if (!wt3)
                hr__transpose(ctx, w3 + gi * l->cog * K, l->cog, K, K, 0, t->wt, l->cog);
            hr__gemm(ctx, K, NP, l->cog, a, l->cog, dz3 + gi * l->cog * NP, NP, acc, d, NP, NULL);
            acc = 1;
        }
        if (w1) {
            hr__transpose(ctx, w1 + gi * l->cog * l->cig, l->cog, l->cig, l->cig, 0, t->wt, l->cog);
            hr__gemm(ctx, l->cig, NP, l->cog, t->wt, l->cog, dz1 + gi * l->cog * NP, NP, acc, d + l->centre * NP,
                     l->kk * NP, NULL);
        }
    }
    if (!l->direct) {
        hr__col_geom g = layer_geom(l, sp->n);
        hr__col2im_cnhw(ctx, &g, dst, accumulate, gin);
    }
}

static void layer_backward(hr_trainer *t, hr_ctx *ctx, int i, const span *sp, float *gout, float *gin)
{
    hr__tlayer *l = &t->layers[i];
    const int64_t NP = sp->n * l->P, K = l->cig * l->kk;
    const int full = t->params.mode == HR_TRAIN_FULL;
    const float *x = in_of(t, i, sp);
    comb_job j = comb_make(t, l, x, sp, full);
    j.gout = gout;
    j.gin = gin;
    hr__pfor(ctx, l->cout, combine_backward, &j);
    if (!full) {
        if (gin && l->rot) {
            /* dx = conv(g, rotated kernel): im2col of the gradient, one GEMM
             * per group straight into gin */
            hr__col_geom g = hr__col_geom_make(l->cout, sp->n, l->OH, l->OW, 3, 1, 1);
            float *cb = t->dcol + sp->s0 * t->dcol_ps;
            hr__im2col_cnhw(ctx, &g, gout, cb);
            for (int64_t gi = 0; gi < l->groups; gi++)
                hr__gemm(ctx, l->cig, NP, l->cog * 9, l->kf + gi * l->cig * l->cog * 9, l->cog * 9,
                         cb + gi * l->cog * 9 * NP, NP, 0, gin + gi * l->cig * NP, NP, NULL);
        } else if (gin) {
            data_grad(t, ctx, l, sp, l->kf, NULL, gout, NULL, NULL, 0, gin);
        }
        return;
    }
    if (l->live & (HR_BR_DENSE | HR_BR_1X1)) {
        const float *col = x;
        if (!l->direct) {
            hr__col_geom g = layer_geom(l, sp->n);
            hr__im2col_cnhw(ctx, &g, x, t->col);
            col = t->col;
        }
        /* dW_g^T = col_g . dz_g^T (rows of the column matrix by rows of
         * dz^T), then transposed into the gradient */
        for (int64_t gi = 0; gi < l->groups; gi++) {
            const float *cg = col + gi * K * NP;
            if (has(l, HR_BRANCH_DENSE)) {
                hr__transpose(ctx, j.z3 + gi * l->cog * NP, l->cog, NP, NP, 0, t->dzt, l->cog);
                hr__gemm(ctx, K, l->cog, NP, cg, NP, t->dzt, l->cog, 0, t->dwt, l->cog, t->partial);
                hr__transpose(ctx, t->dwt, K, l->cog, l->cog, 0, l->gw3 + gi * l->cog * K, K);
            }
            if (has(l, HR_BRANCH_1X1)) {
                hr__transpose(ctx, j.z1 + gi * l->cog * NP, l->cog, NP, NP, 0, t->dzt, l->cog);
                hr__gemm(ctx, l->cig, l->cog, NP, cg + l->centre * NP, l->kk * NP, t->dzt, l->cog, 0, t->dwt, l->cog,
                         t->partial);
                hr__transpose(ctx, t->dwt, l->cig, l->cog, l->cog, 0, l->gw1 + gi * l->cog * l->cig, l->cig);
            }
        }
    }
    if (gin && (l->live & (HR_BR_DENSE | HR_BR_1X1)))
        data_grad(t, ctx, l, sp, NULL, has(l, HR_BRANCH_DENSE) ? l->b->dense_w : NULL, j.z3,
                  has(l, HR_BRANCH_1X1) ? l->b->k1_w : NULL, j.z1, has(l, HR_BRANCH_IDENTITY), gin);
}

/* Loss of the span's samples (sum into xent_sum[idx]) and the classifier's
 * backward pass, down to the gradient w.r.t. the last layer's output in the
 * chunk's slice of g[0]. n_total scales the mean. */
static void loss_span(hr_trainer *t, const span *sp, const int64_t *labels, int64_t n_total)
{
    const int full = t->params.mode == HR_TRAIN_FULL;
    hr__tlayer *last = &t->layers[t->nlayers - 1];
    const int64_t K = t->classes, C = t->feat_c;
    double xs = 0;
    int64_t correct = 0;
    for (int64_t i = sp->s0; i < sp->s0 + sp->n; i++) {
        const float *z = t->logits + i * K;
        float *dz = t->dlogits + i * K;
        double mx = z[0], se = 0;
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k] > z[best])
                best = k;
        mx = z[best];
        correct += best == labels[i];
        for (int64_t k = 0; k < K; k++)
            se += exp((double)z[k] - mx);
        const double lse = mx + log(se);
        xs += lse - z[labels[i]];
        for (int64_t k = 0; k < K; k++)
            dz[k] = (float)((exp((double)z[k] - lse) - (k == labels[i] ? 1.0 : 0.0)) / (double)n_total);
        float *df = t->dfeat + i * C;
        for (int64_t c = 0; c < C; c++) {
            double a = 0;
            for (int64_t k = 0; k < K; k++)
                a += (double)dz[k] * t->model->linear_w[k * C + c];
            df[c] = (float)a;
        }
    }
    t->xent_sum[sp->idx] = xs;
    t->correct[sp->idx] = correct;
    if (full) {
        for (int64_t k = 0; k < K; k++) {
            double b = 0;
            for (int64_t i = sp->s0; i < sp->s0 + sp->n; i++)
                b += t->dlogits[i * K + k];
            t->glin_b[k] = (float)b;
            for (int64_t c = 0; c < C; c++) {
                double a = 0;
                for (int64_t i = sp->s0; i < sp->s0 + sp->n; i++)
                    a += (double)t->dlogits[i * K + k] * t->feat[i * C + c];
                t->glin_w[k * C + c] = (float)a;
            }
        }
    }
    /* global average pooling backward into the chunk's slice of g[0] */
    float *g0 = t->g[0] + sp->s0 * t->act_ps;
    for (int64_t c = 0; c < last->cout; c++)
        for (int64_t i = 0; i < sp->n; i++) {
            const float v = (float)((double)t->dfeat[(sp->s0 + i) * C + c] / (double)last->P);
            float *p = g0 + (c * sp->n + i) * last->P;
            for (int64_t q = 0; q < last->P; q++)
                p[q] = v;
        }
}

/* Backward through layers top down to stop, the gradient w.r.t. layer
 * top's output in the chunk's slice of g[0]. The input gradient of layer
 * stop is computed only with gin_stop (the whole network's first trained
 * layer needs none; a tail's first layer sends it back to the head).
 * Returns the index of the g buffer holding the last gradient computed
 * (0 when there is no layer: the output gradient itself). */
static int layers_backward(hr_trainer *t, hr_ctx *ctx, const span *sp, int top, int stop, int gin_stop)
{
    int cur = 0;
    for (int i = top; i >= stop; i--) {
        float *gout = t->g[cur] + sp->s0 * t->act_ps;
        float *gin = i > stop || gin_stop ? t->g[1 - cur] + sp->s0 * t->act_ps : NULL;
        layer_backward(t, ctx, i, sp, gout, gin);
        cur = 1 - cur;
    }
    return cur;
}

/* What one chunk does (see chunk_unit). */
typedef enum run_op { RUN_WHOLE, RUN_HEAD_FWD, RUN_HEAD_BWD, RUN_TAIL } run_op;

typedef struct chunk_job {
    hr_trainer *t;
    run_op op;
    const float *in;        /* NCHW: the image (whole, head forward), the features (tail) or their gradient
                               (head backward) */
    float *out;             /* NCHW: the features (head forward), their gradient (tail with labels) */
    const int64_t *labels;  /* NULL: forward only */
    int64_t n;
} chunk_job;

/* The whole pass of one chunk. A part runs the whole network's steps for
 * its layers on the same chunks, so each of its values is computed as in
 * the whole pass; the features cross in NCHW at the output of layer s
 * (head) / the input of layer s + 1 (tail). Reads of `in` for a chunk come
 * before its writes to `out`, and chunks touch disjoint rows, so the two
 * may alias. */
static void chunk_unit(void *arg, int64_t c, int thread)
{
    const chunk_job *j = arg;
    hr_trainer *t = j->t;
    span sp = {c * HR__CHUNK, j->n - c * HR__CHUNK < HR__CHUNK ? j->n - c * HR__CHUNK : HR__CHUNK, c};
    (void)thread;
    switch (j->op) {
    case RUN_WHOLE:
        input_span(t, j->in, &sp);
        layers_forward(t, NULL, &sp, 0, t->nlayers, 0);
        classifier_span(t, &sp);
        if (j->labels) {
            loss_span(t, &sp, j->labels, j->n);
            layers_backward(t, NULL, &sp, t->nlayers - 1, 1, 0); /* stage 0 is frozen: no gradient */
        }
        break;
    case RUN_HEAD_FWD: {
        const hr__tlayer *l = &t->layers[t->hi - 1];
        input_span(t, j->in, &sp);
        layers_forward(t, NULL, &sp, 0, t->hi, 0);
        to_nchw(l->out + sp.s0 * l->cout * l->P, j->out, l->cout, l->P, &sp);
        break;
    }
    case RUN_HEAD_BWD: {
        const hr__tlayer *l = &t->layers[t->hi - 1];
        to_cnhw(j->in, t->g[0] + sp.s0 * t->act_ps, l->cout, l->P, &sp);
        layers_backward(t, NULL, &sp, t->hi - 1, 1, 0);
        break;
    }
    case RUN_TAIL: {
        const hr__tlayer *l = &t->layers[t->lo - 1];
        to_cnhw(j->in, l->out + sp.s0 * l->cout * l->P, l->cout, l->P, &sp);
        layers_forward(t, NULL, &sp, t->lo, t->hi, 0);
        classifier_span(t, &sp);
        if (j->labels) {
            loss_span(t, &sp, j->labels, j->n);
            int cur = layers_backward(t, NULL, &sp, t->hi - 1, t->lo, 1);
            to_nchw(t->g[cur] + sp.s0 * t->act_ps, j->out, l->cout, l->P, &sp);
        }
        break;
    }
    }
}

/* Folded weights up to date, and the fused kernels of layers [lo, hi) for
 * a backward pass (built per pass: α changes between steps). */
static void prepare(hr_trainer *t, int lo, int hi)
{
    if (!t->folded_valid)
        hr__trainer_fold(t);
    for (int i = lo; i < hi; i++)
        build_fused_kernel(&t->layers[i]);
}

static void run_chunks(hr_trainer *t, run_op op, const float *in, float *out, const int64_t *labels, int64_t n)
{
    chunk_job j = {t, op, in, out, labels, n};
    hr_ctx_parallel_for(t->ctx, (n + HR__CHUNK - 1) / HR__CHUNK, chunk_unit, &j);
}

double hr__trainer_alpha_grads(hr_trainer *t, int lo, int hi, int64_t n)
{
    const int64_t nch = (n + HR__CHUNK - 1) / HR__CHUNK;
    double l1 = 0;
    for (int i = lo > 1 ? lo : 1; i < hi; i++) {
        hr__tlayer *l = &t->layers[i];
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            if (!has(l, br)) {
                l->galpha[br] = 0;
                continue;
            }
            double a = 0;
            for (int64_t c = 0; c < nch; c++)
                for (int64_t k = 0; k < l->cout; k++)
                    a += l->dal[br][c * l->cout + k];
            const float v = l->alpha[br];
            l1 += fabs((double)v);
            l->galpha[br] = (float)(a + t->params.l1 * (v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0));
        }
    }
    return l1;
}

void hr__trainer_head_run(hr_trainer *t, const hr_tensor *x, hr_tensor *features, int for_backward)
{
    /* layer 1's kernel is not needed: the backward stops at its dα */
    prepare(t, 2, for_backward ? t->hi : 0);
    run_chunks(t, RUN_HEAD_FWD, x->data, features->data, NULL, x->shape[0]);
}

void hr__trainer_head_back(hr_trainer *t, const hr_tensor *grad_features, int64_t n)
{
    if (t->hi > 1)
        run_chunks(t, RUN_HEAD_BWD, grad_features->data, NULL, NULL, n);
}

void hr__trainer_tail_run(hr_trainer *t, const hr_tensor *features, const int64_t *labels,
                          hr_tensor *grad_features)
{
    prepare(t, t->lo, labels ? t->hi : 0);
    run_chunks(t, RUN_TAIL, features->data, labels ? grad_features->data : NULL, labels, features->shape[0]);
}

hr_status hr__trainer_run(hr_trainer *t, const hr_tensor *x, const int64_t *labels, int bn_train,
                          hr_train_stats *stats, hr_error *err)
{
    const int64_t n = x->shape[0];
    const hr__tlayer *first = &t->layers[0], *last = &t->layers[t->nlayers - 1];
    const int full = t->params.mode == HR_TRAIN_FULL;
    int64_t nch;
    char s[64];
    if (x->ndim != 4 || !hr_tensor_is_contiguous(x) || x->shape[1] != first->cin || x->shape[2] != first->H ||
        x->shape[3] != first->W || n < 1)
        return hr_error_set(err, HR_ERR_SHAPE, "trainer: input %s, expected [B, %lld, %lld, %lld]",
                            hr_tensor_shape_str(x, s, sizeof s), (long long)first->cin, (long long)first->H,
                            (long long)first->W);
    if (n > t->params.batch)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: batch of %lld exceeds the planned %lld", (long long)n,
                            (long long)t->params.batch);
    if (bn_train && n * last->P < 2)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "trainer: BatchNorm in training mode needs more than one value per channel "
                            "(batch %lld, last stage %lldx%lld)", (long long)n, (long long)last->OH,
                            (long long)last->OW);
    for (int64_t i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= t->classes)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: sample %lld has label %lld outside 0..%lld",
                                (long long)i, (long long)labels[i], (long long)(t->classes - 1));
    if (bn_train) {
        span sp = {0, n, 0};
        input_span(t, x->data, &sp);
        layers_forward(t, t->ctx, &sp, 0, t->nlayers, 1);
        classifier_span(t, &sp);
        if (labels) {
            loss_span(t, &sp, labels, n);
            layers_backward(t, t->ctx, &sp, t->nlayers - 1, 0, 0);
        }
        nch = 1;
    } else {
        if (labels && full)
            return hr_error_set(err, HR_ERR_INTERNAL, "trainer: full mode trains with BN in training mode");
        prepare(t, 2, labels ? t->nlayers : 0);
        run_chunks(t, RUN_WHOLE, x->data, NULL, labels, n);
        nch = (n + HR__CHUNK - 1) / HR__CHUNK;
    }
    if (!labels)
        return HR_OK;

    double xent = 0, l1 = 0;
    int64_t correct = 0;
    for (int64_t c = 0; c < nch; c++) {
        xent += t->xent_sum[c];
        correct += t->correct[c];
    }
    xent /= (double)n;
    if (!full)
        l1 = hr__trainer_alpha_grads(t, 1, t->nlayers, n);
    if (stats) {
        stats->xent = xent;
        stats->l1_sum = l1;
        stats->loss = xent + (full ? 0.0 : t->params.l1 * l1);
        stats->correct = correct;
        stats->n = n;
    }
    return HR_OK;
}
