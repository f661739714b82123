/* 6.1 gradient method (the original tool's step 2): per block a softmax over
 * its valid γ, a sigmoid soft split z_k = sigmoid(σ(k + offset − λ)), and
 *
 *   L = w_h Σ(1−z_k)E_k[T_head] + w_t Σ z_k E_k[T_tail] + w_tr L_trans
 *       + w_I L_I + w_rc L_rc + w_rs L_rs
 *
 * minimised with Adam on θ and λ, gradients derived by hand (checked against
 * central differences in tests/optim/test_gd.c). Only the γ valid under the
 * mask are stored: an invalid γ has p = 0 and contributes neither to the
 * loss nor to the gradient, so leaving it out is exact and keeps the inner
 * loops short (5 entries per block under the exact mask instead of 14). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

hr_status hr__gd_init(hr__gd *g, const hr_optim_problem *p, hr_error *err)
{
    const hr_optim_params *q = &p->params;
    int n = p->n, T = p->total;
    size_t count = (size_t)T * 4 + 3 * (size_t)(T + 1) + 3 * (size_t)n + 15 * (size_t)n;
    double *d;

    memset(g, 0, sizeof *g);
    g->mem = d = calloc(count, sizeof(double));
    if (!d)
        return hr_error_set(err, HR_ERR_NOMEM, "gradient method: out of memory for %d entries", T);
    g->n = n;
    g->total = T;
    g->off = p->off;
    g->flops = p->flops;
    g->bytes = p->bytes;
    g->streams = p->streams;
#define TAKE(ptr, len) (ptr = d, d += (len))
    TAKE(g->t_head, T);
    TAKE(g->t_tail, T);
    TAKE(g->p, T);
    TAKE(g->theta, T);
    TAKE(g->m, T + 1);
    TAKE(g->v, T + 1);
    TAKE(g->grad, T + 1);
    TAKE(g->comm_mb, 3 * n);
    TAKE(g->z, n);
    TAKE(g->e_head, n);
    TAKE(g->e_tail, n);
    TAKE(g->e_flops, n);
    TAKE(g->e_bytes, n);
    TAKE(g->e_streams, n);
    TAKE(g->comm_ms, n);
    TAKE(g->dcomm, n);
    TAKE(g->d_head, n);
    TAKE(g->d_tail, n);
    TAKE(g->d_flops, n);
    TAKE(g->d_bytes, n);
    TAKE(g->d_streams, n);
    TAKE(g->d_z, n);
    TAKE(g->zgap, n);
#undef TAKE
    for (int k = 0; k < n; k++) {
        const hr_lut_block *b = &p->lut->blocks[k];
        for (int j = p->off[k]; j < p->off[k + 1]; j++) {
            g->t_head[j] = b->t_ms[p->head][p->gid[j]];
            g->t_tail[j] = b->t_ms[p->tail][p->gid[j]];
        }
        memcpy(g->comm_mb + 3 * k, b->comm_mb, 3 * sizeof(double));
    }
    /* The link model is affine in the bytes (SPEC §4); its two coefficients
     * come from the LUT code so both agree on units. */
    g->link_lat_ms = hr_link_time_ms(&p->link, 0);
    g->link_ms_per_byte = (hr_link_time_ms(&p->link, 1e6) - g->link_lat_ms) / 1e6;
    g->link_streams = q->link_streams;
    g->sigma = q->sigma;
    g->z_offset = q->z_offset;
    g->knee_head = p->lut->i_knee[p->head];
    g->knee_tail = p->lut->i_knee[p->tail];
    g->w[HR__W_HEAD] = q->w_head;
    g->w[HR__W_TAIL] = q->w_tail;
    g->w[HR__W_TRANS] = q->w_trans;
    g->w[HR__W_INTENSITY] = q->w_intensity;
    g->w[HR__W_RC] = q->w_rc;
    g->w[HR__W_RS] = q->w_rs;
    return HR_OK;
}

void hr__gd_deinit(hr__gd *g)
{
    if (g) {
        free(g->mem);
        memset(g, 0, sizeof *g);
    }
}

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* Size in bytes of the tensor block k sends when it is the last head block:
 * Comm_size[k][0], or with link_streams the original's interpolation between
 * Comm_size[k][⌊n⌋−1] and [⌈n⌉−1] at n = E_k[streams]; *slope receives
 * d bytes / d n (0 at the integer kinks, where n is constant in practice). */
static double comm_bytes(const hr__gd *g, int k, double *slope)
{
    const double *c = g->comm_mb + 3 * k;
    double ns, lo;
    int i;
    *slope = 0;
    if (!g->link_streams)
        return c[0] * 1e6;
    ns = fmin(3.0, fmax(1.0, g->e_streams[k]));
    lo = floor(ns);
    i = (int)lo - 1;
    if (i >= 2 || ns == lo)
        return c[i] * 1e6;
    *slope = (c[i + 1] - c[i]) * 1e6;
    return (c[i] + (ns - lo) * (c[i + 1] - c[i])) * 1e6;
}

double hr__gd_loss(hr__gd *g, const double *theta, double lambda, hr_optim_loss *terms, double *g_theta,
                   double *g_lambda)
{
    const int n = g->n;
    const double *w = g->w;
    double th = 0, tt = 0, trans = 0, li = 0, lrc = 0, lrs = 0;
    double sf = 0, sb = 0, hf = 0, hb = 0, it = 0, ih = 0, ra = 0, rb = 0, rc = 0;

    /* Forward: softmax per block and the expectations. */
    for (int k = 0; k < n; k++) {
        int a = g->off[k], b = g->off[k + 1];
        double mx = theta[a], s = 0, eh = 0, et = 0, ef = 0, eb = 0, es = 0;
        for (int j = a + 1; j < b; j++)
            mx = fmax(mx, theta[j]);
        for (int j = a; j < b; j++)
            s += g->p[j] = exp(theta[j] - mx);
        for (int j = a; j < b; j++) {
            double pj = g->p[j] /= s;
            eh += pj * g->t_head[j];
            et += pj * g->t_tail[j];
            ef += pj * g->flops[j];
            eb += pj * g->bytes[j];
            es += pj * g->streams[j];
        }
        g->e_head[k] = eh;
        g->e_tail[k] = et;
        g->e_flops[k] = ef;
        g->e_bytes[k] = eb;
        g->e_streams[k] = es;
        g->z[k] = sigmoid(g->sigma * ((double)k + g->z_offset - lambda));
    }
    for (int k = 0; k < n; k++) {
        double z = g->z[k], u = 1 - z;
        th += u * g->e_head[k];
        tt += z * g->e_tail[k];
        sf += z * g->e_flops[k];
        sb += z * g->e_bytes[k];
        hf += u * g->e_flops[k];
        hb += u * g->e_bytes[k];
        g->zgap[k] = g->knee_head - g->e_flops[k] / g->e_bytes[k];
        if (g->zgap[k] > 0)
            li += u * g->zgap[k];
        if (k + 1 < n) {
            double bytes = comm_bytes(g, k, &g->dcomm[k]);
            g->comm_ms[k] = g->link_lat_ms + bytes * g->link_ms_per_byte;
            g->dcomm[k] *= g->link_ms_per_byte;
            if (g->z[k + 1] > g->z[k])
                trans += (g->z[k + 1] - g->z[k]) * g->comm_ms[k];
        }
    }
    /* Roofline penalties: with no weight on a side (z all 0 or all 1 to
     * double precision) its intensity is taken as 0 and the term is
     * constant there. */
    if (sb > 0) {
        it = sf / sb;
        ra = fmax(g->knee_tail - it, 0);
        rb = fmax(it - 1.2 * g->knee_tail, 0);
        lrc = 5 * ra * ra + rb * rb;
    } else {
        lrc = 5 * g->knee_tail * g->knee_tail;
    }
    if (hb > 0) {
        ih = hf / hb;
        rc = fmax(ih - 2 * g->knee_head, 0);
        lrs = rc * rc;
    }
    double total = w[HR__W_HEAD] * th + w[HR__W_TAIL] * tt + w[HR__W_TRANS] * trans + w[HR__W_INTENSITY] * li +
                   w[HR__W_RC] * lrc + w[HR__W_RS] * lrs;
    if (terms) {
        terms->total = total;
        terms->time_head = th;
        terms->time_tail = tt;
        terms->trans = trans;
        terms->intensity = li;
        terms->roofline_tail = lrc;
        terms->roofline_head = lrs;
    }
    if (!g_theta)
        return total;

    /* Backward: dL/d(expectations) and dL/dz per block. */
    for (int k = 0; k < n; k++) {
        double z = g->z[k], u = 1 - z;
        g->d_head[k] = w[HR__W_HEAD] * u;
        g->d_tail[k] = w[HR__W_TAIL] * z;
        g->d_z[k] = w[HR__W_TAIL] * g->e_tail[k] - w[HR__W_HEAD] * g->e_head[k];
        g->d_flops[k] = g->d_bytes[k] = g->d_streams[k] = 0;
        if (g->zgap[k] > 0) {
            double dr = -w[HR__W_INTENSITY] * u; /* dL/d(EF/EB) */
            g->d_z[k] -= w[HR__W_INTENSITY] * g->zgap[k];
            g->d_flops[k] += dr / g->e_bytes[k];
            g->d_bytes[k] -= dr * g->e_flops[k] / (g->e_bytes[k] * g->e_bytes[k]);
        }
    }
    for (int k = 0; k + 1 < n; k++)
        if (g->z[k + 1] > g->z[k]) {
            double c = w[HR__W_TRANS] * g->comm_ms[k];
            g->d_z[k + 1] += c;
            g->d_z[k] -= c;
            g->d_streams[k] += w[HR__W_TRANS] * (g->z[k + 1] - g->z[k]) * g->dcomm[k];
        }
    if (sb > 0) {
        double di = w[HR__W_RC] * (-10 * ra + 2 * rb); /* dL/dI_tail */
        for (int k = 0; k < n; k++) {
            g->d_z[k] += di * (g->e_flops[k] - it * g->e_bytes[k]) / sb;
            g->d_flops[k] += di * g->z[k] / sb;
            g->d_bytes[k] -= di * g->z[k] * it / sb;
        }
    }
    if (hb > 0) {
        double di = w[HR__W_RS] * 2 * rc; /* dL/dI_head */
        for (int k = 0; k < n; k++) {
            double u = 1 - g->z[k];
            g->d_z[k] -= di * (g->e_flops[k] - ih * g->e_bytes[k]) / hb;
            g->d_flops[k] += di * u / hb;
            g->d_bytes[k] -= di * u * ih / hb;
        }
    }
    /* Softmax Jacobian: dE[X]/dθ_j = p_j (X_j − E[X]). */
    double gl = 0;
    for (int k = 0; k < n; k++) {
        for (int j = g->off[k]; j < g->off[k + 1]; j++)
            g_theta[j] = g->p[j] * (g->d_head[k] * (g->t_head[j] - g->e_head[k]) +
                                    g->d_tail[k] * (g->t_tail[j] - g->e_tail[k]) +
                                    g->d_flops[k] * (g->flops[j] - g->e_flops[k]) +
                                    g->d_bytes[k] * (g->bytes[j] - g->e_bytes[k]) +
                                    g->d_streams[k] * (g->streams[j] - g->e_streams[k]));
        gl -= g->d_z[k] * g->sigma * g->z[k] * (1 - g->z[k]);
    }
    if (g_lambda)
        *g_lambda = gl;
    return total;
}

void hr__gd_run(hr__gd *g, int steps, double lr_theta, double lr_lambda, double beta1, double beta2, double eps,
                double lambda0, int fixed, int every, hr_optim_history *hist, int *nhist, double *lambda_out,
                hr_optim_loss *final)
{
    const int T = g->total;
    double lambda = lambda0, b1t = 1, b2t = 1, gl;
    hr_optim_loss terms;
    int nh = 0;

    memset(g->theta, 0, sizeof(double) * (size_t)T);
    memset(g->m, 0, sizeof(double) * (size_t)(T + 1));
    memset(g->v, 0, sizeof(double) * (size_t)(T + 1));
    for (int step = 0; step < steps; step++) {
        hr__gd_loss(g, g->theta, lambda, &terms, g->grad, &gl);
        if (hist && every > 0 && step % every == 0) {
            hist[nh].step = step;
            hist[nh].lambda = lambda;
            hist[nh].loss = terms;
            nh++;
        }
        g->grad[T] = gl;
        b1t *= beta1;
        b2t *= beta2;
        const double c1 = 1 / (1 - b1t), c2 = 1 / (1 - b2t);
        for (int j = 0; j <= T; j++) {
            double gj = g->grad[j];
            g->m[j] = beta1 * g->m[j] + (1 - beta1) * gj;
            g->v[j] = beta2 * g->v[j] + (1 - beta2) * gj * gj;
        }
        for (int j = 0; j < T; j++)
            g->theta[j] -= lr_theta * (g->m[j] * c1) / (sqrt(g->v[j] * c2) + eps);
        if (!fixed)
            lambda -= lr_lambda * (g->m[T] * c1) / (sqrt(g->v[T] * c2) + eps);
    }
    hr__gd_loss(g, g->theta, lambda, final, NULL, NULL);
    if (nhist)
        *nhist = nh;
    *lambda_out = lambda;
}

void hr__gd_argmax(const hr__gd *g, const hr_optim_problem *p, int *gamma)
{
    for (int k = 0; k < g->n; k++) {
        int best = g->off[k];
        for (int j = best + 1; j < g->off[k + 1]; j++)
            if (g->theta[j] > g->theta[best])
                best = j;
        gamma[k] = p->gid[best];
    }
}

/* Rounds the continuous λ to a split: nearest integer (halves up), clamped
 * to 0..N; split 0 needs block 0's input shape, else 1. */
static int round_split(const hr_optim_problem *p, double lambda)
{
    double s = floor(lambda + 0.5);
    int split = s < 0 ? 0 : s > p->n ? p->n : (int)s;
    if (!hr_optim_placement_available(p, split))
        split = 1;
    return split;
}

/* λ's start value under params.lambda_init; *ok = 0 (and err set) when out
 * of memory. */
static double lambda_start(const hr_optim_problem *p, hr_error *err, int *ok)
{
    const hr_optim_params *q = &p->params;
    double v;
    *ok = 1;
    switch (q->lambda_init) {
    case HR_LAMBDA_INIT_N: return p->n;
    case HR_LAMBDA_INIT_MID: return p->n / 2.0;
    case HR_LAMBDA_INIT_EXACT: {
        int *work = malloc(sizeof(int) * (size_t)p->n), pl;
        if (!work) {
            *ok = 0;
            hr_error_set(err, HR_ERR_NOMEM, "gradient method: out of memory");
            return 0;
        }
        pl = hr__optim_exact_best(p, q->objective, work, &v);
        free(work);
        return pl == HR_PLACEMENT_RAW ? 0 : pl == HR_PLACEMENT_LOCAL ? p->n : pl;
    }
    default: return fmin(fmax(q->lambda0, 0), p->n);
    }
}

hr_status hr_optim_gd(const hr_optim_problem *p, hr_optim_result *out, hr_error *err)
{
    const hr_optim_params *q;
    hr_optim_result r;
    hr__gd g;
    hr_status st;
    int ok;

    if (!p || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "gradient method: needs a problem and a result");
    q = &p->params;
    hr_optim_result_init(&r);
    r.method = HR_METHOD_GD;
    r.lambda_start = lambda_start(p, err, &ok);
    if (!ok)
        return HR_ERR_NOMEM;
    if ((st = hr__optim_result_alloc(&r, p->n, err)))
        return st;
    if (q->history_every > 0) {
        r.history = calloc((size_t)(q->steps / q->history_every + 1), sizeof *r.history);
        if (!r.history) {
            hr_optim_result_deinit(&r);
            return hr_error_set(err, HR_ERR_NOMEM, "gradient method: out of memory for the history");
        }
    }
    if ((st = hr__gd_init(&g, p, err))) {
        hr_optim_result_deinit(&r);
        return st;
    }
    hr__gd_run(&g, q->steps, q->lr_theta, q->lr_lambda, q->adam_beta1, q->adam_beta2, q->adam_eps, r.lambda_start,
               q->lambda_fixed, q->history_every, r.history, &r.nhistory, &r.lambda_final, &r.final_loss);
    hr__gd_argmax(&g, p, r.gamma);
    hr__gd_deinit(&g);
    hr__optim_finish(p, &r, round_split(p, r.lambda_final));
    hr_optim_result_deinit(out);
    *out = r;
    return HR_OK;
}
