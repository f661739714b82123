/* Goal-programming joint optimisation (SPEC §6.4, the paper's Eq. 7 form,
 * and §13.5: a phase A that prunes).
 *
 * Variables θ (γ logits over each block's valid γ), λ (soft split) and the
 * slack ξ_A >= 0; α is trained in phase A, by SGD on the cross-entropy
 * followed by a proximal L1 step weighted by LUT time shares (or, with plain
 * L1, the paper's subgradient), and then the threshold rule prunes. Phase B
 * minimises
 *   J = T_eff + κ·ξ − μ·A + 1000·relu(A_ref − ε − A − ξ)
 * with T_eff = ω·(T_head + T_link + T_tail) + (1−ω)·max(T_head, T_link, T_tail),
 * T_head = Σ(1−z_k)E_k[T_head] + R_head, T_tail = Σ z_k E_k[T_tail] + R_tail,
 * R_side = β_R·λ_I·(relu(I_knee − I) + ρ·(F/Π_peak + B/β_peak)) (ms),
 * T_link = Σ_{k<N−1} relu(z_{k+1} − z_k)·linktime(output of block k).
 * Gradients are analytic (hr__goal_loss, checked by finite differences in
 * the tests); max() takes the subgradient of its first largest argument. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/train.h"
#include "joint/joint_internal.h"
#include "optim/optim_internal.h"

hr_goal_params hr_goal_params_default(void)
{
    hr_goal_params g;
    memset(&g, 0, sizeof g);
    g.alternations = 5;
    g.steps = 400;
    g.lr = 0.01;
    g.kappa = 100;
    g.mu = 1;
    g.epsilon = 2;
    g.omega = 0.5;
    g.beta_r = 0.01;
    g.lambda_i = 0.05;
    g.rho = 0.1;
    g.weighted_l1 = 1;
    g.l1_strength = 0.1;
    g.pruning_threshold = 0.01;
    g.backoffs = 2;
    g.min_alternations = 2;
    g.j_tol = 0.005;
    return g;
}

static double sigm(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

hr_status hr__goal_init(hr__goal *G, const hr_optim_problem *p, const hr_goal_params *gp, hr_error *err)
{
    static const double peak_default[HR_DEVICE_COUNT] = {10e12, 5e12}, bw_default[HR_DEVICE_COUNT] = {100e9, 50e9};
    hr_status st;
    memset(G, 0, sizeof *G);
    if ((st = hr__gd_init(&G->g, p, err)))
        return st;
    G->gp = *gp;
    for (int s = 0; s < 2; s++) {
        hr_device dev = s == 0 ? p->head : p->tail;
        const hr_lut *lut = p->lut;
        double peak = lut->peak_gflops[dev] > 0 ? lut->peak_gflops[dev] * 1e9 : peak_default[dev];
        double bw = lut->bandwidth_gbs[dev] > 0 ? lut->bandwidth_gbs[dev] * 1e9 : bw_default[dev];
        G->knee[s] = lut->i_knee[dev];
        G->flop_ms[s] = 1000.0 / peak; /* ms per FLOP */
        G->byte_ms[s] = 1000.0 / bw;
    }
    return HR_OK;
}

void hr__goal_deinit(hr__goal *G)
{
    hr__gd_deinit(&G->g);
}

/* Roofline penalty of one side and its partial derivatives by F and B. */
static double roof(const hr__goal *G, int s, double F, double B, double *dF, double *dB)
{
    const double c = G->gp.beta_r * G->gp.lambda_i, rho = G->gp.rho;
    double r = rho * (F * G->flop_ms[s] + B * G->byte_ms[s]);
    *dF = c * rho * G->flop_ms[s];
    *dB = c * rho * G->byte_ms[s];
    if (B > 1e-300) {
        double I = F / B;
        if (G->knee[s] > I) {
            r += G->knee[s] - I;
            *dF += -c / B;
            *dB += c * F / (B * B);
        }
    }
    return c * r;
}

double hr__goal_loss(hr__goal *G, const double *x, double acc, double acc_ref, hr__goal_terms *terms, double *grad)
{
    hr__gd *g = &G->g;
    const int n = g->n, total = g->total;
    const double lambda = x[total], xi = x[total + 1], om = G->gp.omega;
    double th = 0, tt = 0, tl = 0, hf = 0, hb = 0, tf = 0, tb = 0;
    for (int k = 0; k < n; k++) {
        int a = g->off[k], b = g->off[k + 1];
        double mx = x[a], s = 0, eh = 0, et = 0, ef = 0, eb = 0;
        for (int j = a + 1; j < b; j++)
            mx = fmax(mx, x[j]);
        for (int j = a; j < b; j++)
            s += g->p[j] = exp(x[j] - mx);
        for (int j = a; j < b; j++) {
            double pj = g->p[j] /= s;
            eh += pj * g->t_head[j];
            et += pj * g->t_tail[j];
            ef += pj * g->flops[j];
            eb += pj * g->bytes[j];
        }
        g->e_head[k] = eh, g->e_tail[k] = et, g->e_flops[k] = ef, g->e_bytes[k] = eb;
        g->z[k] = sigm(g->sigma * ((double)k + g->z_offset - lambda));
        double z = g->z[k], u = 1 - z;
        th += u * eh, tt += z * et;
        hf += u * ef, hb += u * eb, tf += z * ef, tb += z * eb;
    }
    for (int k = 0; k + 1 < n; k++) {
        g->comm_ms[k] = g->link_lat_ms + g->comm_mb[3 * k] * 1e6 * g->link_ms_per_byte;
        if (g->z[k + 1] > g->z[k])
            tl += (g->z[k + 1] - g->z[k]) * g->comm_ms[k];
    }
    double dHF, dHB, dTF, dTB;
    double rh = roof(G, 0, hf, hb, &dHF, &dHB), rt = roof(G, 1, tf, tb, &dTF, &dTB);
    double TH = th + rh, TT = tt + rt, tlat = TH + tl + TT;
    int arg = 0; /* 0 head, 1 link, 2 tail */
    double tcyc = TH;
    if (tl > tcyc)
        tcyc = tl, arg = 1;
    if (TT > tcyc)
        tcyc = TT, arg = 2;
    double teff = om * tlat + (1 - om) * tcyc;
    double gap = acc_ref - G->gp.epsilon - acc - xi;
    double J = teff + G->gp.kappa * xi - G->gp.mu * acc + (gap > 0 ? 1000 * gap : 0);
    if (terms) {
        terms->j = J, terms->t_eff = teff, terms->t_lat = tlat, terms->t_cyc = tcyc;
        terms->t_head = TH, terms->t_link = tl, terms->t_tail = TT;
    }
    if (!grad)
        return J;
    const double gH = om + (1 - om) * (arg == 0), gL = om + (1 - om) * (arg == 1), gT = om + (1 - om) * (arg == 2);
    double glam = 0;
    for (int k = 0; k < n; k++)
        g->d_z[k] = 0;
    for (int k = 0; k + 1 < n; k++)
        if (g->z[k + 1] > g->z[k]) {
            g->d_z[k + 1] += gL * g->comm_ms[k];
            g->d_z[k] -= gL * g->comm_ms[k];
        }
    for (int k = 0; k < n; k++) {
        int a = g->off[k], b = g->off[k + 1];
        double z = g->z[k], u = 1 - z;
        /* dJ/dE of the block's expectations */
        double deh = gH * u, det = gT * z;
        double def = gH * u * dHF + gT * z * dTF, deb = gH * u * dHB + gT * z * dTB;
        for (int j = a; j < b; j++)
            grad[j] = g->p[j] * (deh * (g->t_head[j] - g->e_head[k]) + det * (g->t_tail[j] - g->e_tail[k]) +
                                 def * (g->flops[j] - g->e_flops[k]) + deb * (g->bytes[j] - g->e_bytes[k]));
        double dz = g->d_z[k] - gH * (g->e_head[k] + dHF * g->e_flops[k] + dHB * g->e_bytes[k]) +
                    gT * (g->e_tail[k] + dTF * g->e_flops[k] + dTB * g->e_bytes[k]);
        glam += dz * (-g->sigma * z * u);
    }
    grad[total] = glam;
    grad[total + 1] = G->gp.kappa - (gap > 0 ? 1000.0 : 0.0);
    return J;
}

/* 400 Adam steps (phase B) on x = [θ, λ, ξ]; λ clamped into [0, N], ξ >= 0. */
static void phase_b(hr__goal *G, double *x, double *m, double *v, double *grad, double acc, double acc_ref)
{
    const int np = G->g.total + 2;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = G->gp.lr;
    memset(m, 0, sizeof(double) * (size_t)np);
    memset(v, 0, sizeof(double) * (size_t)np);
    for (int t = 1; t <= G->gp.steps; t++) {
        hr__goal_loss(G, x, acc, acc_ref, NULL, grad);
        double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
        for (int i = 0; i < np; i++) {
            m[i] = b1 * m[i] + (1 - b1) * grad[i];
            v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
            x[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
        }
        x[np - 2] = fmin(fmax(x[np - 2], 0.0), (double)G->g.n);
        if (x[np - 1] < 0)
            x[np - 1] = 0;
    }
}

float hr__goal_prox(float a, double t)
{
    double m = fabs((double)a) - t;
    if (!(m > 0))
        return 0.0f;
    return (float)(a > 0 ? m : -m);
}

void hr__goal_l1_weights(const hr__goal *G, const hr_optim_problem *p, const unsigned *live, double lambda,
                         double *w)
{
    const hr_lut *lut = p->lut;
    for (int k = 0; k < G->g.n; k++) {
        double z = sigm(G->g.sigma * ((double)k + G->g.z_offset - lambda)), t[HR_BRANCH_COUNT], sum = 0;
        hr_device dev = z < 0.5 ? p->head : p->tail;
        int n = 0, ok = 1;
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            w[k * 3 + br] = 1;
            t[br] = 0;
            if (!(live[k] >> br & 1u))
                continue;
            int gm = hr_gamma_deploy(1u << br);
            t[br] = gm >= 0 ? lut->blocks[k].t_ms[dev][gm] : -1;
            ok = ok && t[br] > 0;
            sum += t[br];
            n++;
        }
        if (!ok || sum <= 0)
            continue;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (live[k] >> br & 1u)
                w[k * 3 + br] = n * t[br] / sum;
    }
}

int hr__goal_threshold(const hr_model *model, const unsigned *live, float *alpha, double threshold, int *pruned)
{
    int n = 0;
    for (int k = 0; k < hr_model_num_blocks(model); k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((live[k] >> br & 1u) && alpha[k * 3 + br] == 0.0f)
                pruned[n++] = k * 3 + br;
    n += hr_alpha_threshold(model, alpha, threshold, pruned + n);
    for (int i = 1; i < n; i++) /* both lists are in network order: merge them */
        for (int j = i; j > 0 && pruned[j - 1] > pruned[j]; j--) {
            int t = pruned[j];
            pruned[j] = pruned[j - 1];
            pruned[j - 1] = t;
        }
    return n;
}

/* The proximal L1 step after one SGD step: every live α of a block shrinks
 * towards 0 by lr·strength·w_b, but a block whose every live α would reach 0
 * keeps its largest one unshrunk this step, so that no block ever computes
 * nothing (the threshold rule could not prune its last branch either). */
static void prox_step(const hr_train_param *const *par, const unsigned *live, int nb, double step, const double *w)
{
    for (int k = 0; k < nb; k++) {
        float before[HR_BRANCH_COUNT];
        int left = 0, big = -1;
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            const hr_train_param *q = par[k * 3 + br];
            if (!(live[k] >> br & 1u) || !q)
                continue;
            before[br] = q->value[0];
            if (big < 0 || fabsf(before[br]) > fabsf(before[big]))
                big = br;
            q->value[0] = hr__goal_prox(before[br], step * w[k * 3 + br]);
            left += q->value[0] != 0.0f;
        }
        if (big >= 0 && left == 0)
            par[k * 3 + big]->value[0] = before[big];
    }
}

/* What a goal checkpoint depends on besides the starting α: the caller's
 * stage-1 settings, the guard's (its mode picks the part A is measured on;
 * its level and threshold decide the states a guard check accepts), the goal
 * and optimizer settings that shape both phases, and the LUT's times
 * (FNV-1a over their bytes). */
static void goal_fingerprint(const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                             const hr_lut *lut, char *buf, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < lut->nblocks; i++) {
        const unsigned char *b = (const unsigned char *)lut->blocks[i].t_ms;
        for (size_t j = 0; j < sizeof lut->blocks[i].t_ms; j++)
            h = (h ^ b[j]) * 1099511628211ull;
    }
    snprintf(buf, size,
             "%s|guard %d %.17g %.17g|goal %d %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %d"
             "|prune %.17g %.17g %d %.17g %d %d"
             "|optim %d %d %d %.17g %.17g %d %.17g %.17g|link %.17g %.17g|lut %016llx",
             jp->fingerprint ? jp->fingerprint : "", (int)jp->guard, jp->threshold, jp->guard_alpha, gp->alternations,
             gp->steps, gp->lr, gp->kappa, gp->mu,
             gp->epsilon, gp->omega, gp->beta_r, gp->lambda_i, gp->rho, gp->weighted_l1, gp->l1_strength,
             gp->pruning_threshold, gp->min_alternations, gp->j_tol, gp->guard.check != NULL, gp->backoffs, (int)op->head,
             (int)op->mask, (int)op->lambda_init, op->lambda0, op->sigma, op->intensity_weights, op->z_offset,
             op->eff_omega, op->link_override ? op->link.bandwidth_mbit_s : lut->link.bandwidth_mbit_s,
             op->link_override ? op->link.latency_ms : lut->link.latency_ms, (unsigned long long)h);
}

/* live[k] = the existing branches of block k whose α is not 0. */
static void live_masks(const unsigned *existing, const float *alpha, int nb, unsigned *live)
{
    for (int k = 0; k < nb; k++) {
        live[k] = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((existing[k] >> br & 1u) && alpha[k * 3 + br] != 0.0f)
                live[k] |= 1u << br;
    }
}

/* Code-2 FLOPs (GFLOPs per image) of the live branches, summed in network order. */
static double live_gflops(const hr_model *m, const float *alpha)
{
    double g = 0;
    for (int k = 0; k < hr_model_num_blocks(m); k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (alpha[k * 3 + br] != 0.0f)
                g += hr_joint_branch_flops(m, k, (hr_branch)br) / 1e9;
    return g;
}

/* Sets the model's α to a (non-zero values first, so that no block is left
 * without a live branch on the way) and replaces *t by a fresh trainer over
 * it: a trainer's live set is fixed when it is made, so a pruning needs a new
 * one. Its α then equal a exactly, as a resumed run's do. */
static hr_status reload(hr_model *m, const float *a, const hr_trainer_params *tp, hr_trainer **t,
                        const hr_train_param **par, hr_error *err)
{
    hr_status st;
    const int nb = hr_model_num_blocks(m);
    hr_trainer_destroy(*t);
    *t = NULL;
    if ((st = hr_model_set_alphas(m, a, err)))
        return st;
    if ((st = hr_trainer_create(m, tp, t, err)))
        return st;
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            char name[96];
            hr_model_alpha_name(m, k, (hr_branch)br, name, sizeof name);
            par[k * 3 + br] = hr_trainer_find_param(*t, name);
        }
    return HR_OK;
}

/* Rebuilds the problem and the goal kernel for new live masks. θ of blocks
 * whose mask is unchanged carries over (same γ in the same order); the
 * others restart uniform; λ and ξ carry over. With *p NULL (the first
 * build) θ starts at 0 and λ, ξ are left for the caller. x and tmp hold
 * 14·N + 2 entries. */
static hr_status rebuild(const hr_lut *lut, const unsigned *live, const hr_optim_params *op,
                         const hr_goal_params *gp, hr_optim_problem **p, hr__goal *G, int *ginit, double *x,
                         double *tmp, hr_error *err)
{
    hr_optim_problem *np = NULL;
    hr__goal NG;
    hr_status st;
    if ((st = hr_optim_problem_create(lut, live, op, &np, err)))
        return st;
    if ((st = hr__goal_init(&NG, np, gp, err))) {
        hr_optim_problem_destroy(np);
        return st;
    }
    const int n = np->n, total = np->total;
    memset(tmp, 0, sizeof *tmp * (size_t)(total + 2));
    if (*p) {
        const hr_optim_problem *op_ = *p;
        for (int k = 0; k < n; k++)
            if (op_->live[k] == np->live[k])
                memcpy(tmp + np->off[k], x + op_->off[k], sizeof *x * (size_t)(np->off[k + 1] - np->off[k]));
        tmp[total] = x[op_->total];
        tmp[total + 1] = x[op_->total + 1];
    }
    memcpy(x, tmp, sizeof *x * (size_t)(total + 2));
    if (*ginit)
        hr__goal_deinit(G);
    hr_optim_problem_destroy(*p);
    *p = np;
    *G = NG;
    *ginit = 1;
    return HR_OK;
}

hr_status hr_joint_goal(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
                        const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                        hr_joint_result *s1, hr_goal_result *out, hr_optim_problem **problem, hr_error *err)
{
    const int nb = hr_model_num_blocks(model), na = nb * 3, cap = 14 * nb + 2;
    hr_status st = HR_OK;
    hr_optim_problem *p = NULL;
    hr__goal G;
    int ginit = 0;
    hr_trainer *t = NULL;
    hr_batch_iter *va = NULL, *te = NULL, *tr = NULL;
    double *x = NULL, *mm = NULL, *vv = NULL, *grad = NULL, *tmp = NULL, *w = NULL, *pass_x = NULL;
    float *logits = NULL, *alpha = NULL, *pass_alpha = NULL, *hist = NULL;
    int *order = NULL, *fresh = NULL;
    unsigned *existing = NULL, *live = NULL;
    const hr_train_param **par = NULL;
    hr__goal_state *ck = NULL;
    char fpr[2048];
    *problem = NULL;
    memset(out, 0, sizeof *out);
    hr_optim_result_init(&out->config);
    hr_joint_result_deinit(s1);
    if (!lut || lut->nblocks != nb)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: the LUT has %d blocks, the model %d", lut ? lut->nblocks : 0,
                            nb);
    if (gp->alternations < 1 || gp->alternations > HR_GOAL_MAX_ITER || gp->steps < 0 || !(gp->lr > 0) ||
        jp->epochs < 1 || jp->batch < 1 || !(gp->l1_strength >= 0) || !isfinite(gp->l1_strength) ||
        !(gp->pruning_threshold >= 0) || !isfinite(gp->pruning_threshold) || gp->min_alternations < 1 ||
        !(gp->j_tol >= 0) || !isfinite(gp->j_tol))
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "goal: bad settings (alternations %d in 1..%d, steps %d, l1 strength %g, pruning "
                            "threshold %g, min alternations %d, J tolerance %g)",
                            gp->alternations, HR_GOAL_MAX_ITER, gp->steps, gp->l1_strength, gp->pruning_threshold,
                            gp->min_alternations, gp->j_tol);
    const int weighted = gp->weighted_l1 != 0;
    /* A and A_ref: with the bound guard (weighted mode) the validation part's
       selection half, as progressive pruning selects (hr_guard_mode); the
       guard half is the guard's alone. Otherwise the whole part. */
    const int halves = weighted && jp->guard == HR_GUARD_BOUND;
    int64_t nsel = 0;
    out->l1_strength = weighted ? gp->l1_strength : 0;
    out->pruning_threshold = gp->pruning_threshold;
    out->weighted_l1 = weighted;
    s1->nblocks = nb;
    s1->alpha_initial = malloc(sizeof(float) * (size_t)na);
    s1->alpha = malloc(sizeof(float) * (size_t)na);
    s1->pruned_block = malloc(sizeof(int) * (size_t)na);
    s1->pruned_branch = malloc(sizeof(hr_branch) * (size_t)na);
    s1->rounds = calloc(HR_GOAL_MAX_ITER, sizeof *s1->rounds);
    existing = malloc(sizeof *existing * (size_t)nb);
    live = malloc(sizeof *live * (size_t)nb);
    w = malloc(sizeof *w * (size_t)na);
    alpha = malloc(sizeof(float) * (size_t)na);
    pass_alpha = malloc(sizeof(float) * (size_t)na);
    order = malloc(sizeof(int) * (size_t)na);
    hist = malloc(sizeof(float) * (size_t)na * HR_GOAL_MAX_ITER);
    fresh = malloc(sizeof(int) * (size_t)na);
    par = calloc((size_t)na, sizeof *par);
    logits = malloc(sizeof(float) * (size_t)(jp->batch * hr_model_num_classes(model)));
    x = calloc((size_t)cap, sizeof *x);
    mm = calloc((size_t)cap, sizeof *mm);
    vv = calloc((size_t)cap, sizeof *vv);
    grad = calloc((size_t)cap, sizeof *grad);
    tmp = calloc((size_t)cap, sizeof *tmp);
    pass_x = calloc((size_t)cap, sizeof *pass_x);
    if (!s1->alpha_initial || !s1->alpha || !s1->pruned_block || !s1->pruned_branch || !s1->rounds || !existing ||
        !live || !w || !alpha || !pass_alpha || !order || !hist || !fresh || !par || !logits || !x || !mm || !vv || !grad ||
        !tmp || !pass_x) {
        st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
        goto done;
    }
    for (int k = 0; k < nb; k++) {
        hr_block_info bi = hr_model_block(model, k);
        existing[k] = bi.existing;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            s1->alpha_initial[k * 3 + br] = (bi.existing >> br & 1u) ? bi.alpha[br] : 0.0f;
    }
    memcpy(alpha, s1->alpha_initial, sizeof(float) * (size_t)na);
    live_masks(existing, alpha, nb, live);
    if ((st = rebuild(lut, live, op, gp, &p, &G, &ginit, x, tmp, err)))
        goto done;
    x[G.g.total] = fmin(fmax(op->lambda0, 0.0), (double)nb);
    if (op->lambda_init == HR_LAMBDA_INIT_N)
        x[G.g.total] = nb;
    else if (op->lambda_init == HR_LAMBDA_INIT_MID)
        x[G.g.total] = nb / 2.0;

    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_batch_params ev = hr_batch_params_default(), bp = hr_batch_params_default();
    tp.batch = jp->batch;
    tp.momentum = (float)jp->momentum;
    tp.l1 = weighted ? 0.0f : (float)jp->l1; /* weighted: the L1 is the proximal step alone */
    ev.batch_size = jp->batch;
    if ((st = reload(model, alpha, &tp, &t, par, err)) ||
        (st = hr__joint_val_half_iter(hr_model_ctx(model), data, domain, halves ? 0 : -1, jp->batch, &va, &nsel,
                                      err)) ||
        (st = hr_data_iter_create(hr_model_ctx(model), data, domain, HR_PART_TEST, &ev, &te, err)) ||
        (st = hr_eval_trainer(t, va, logits, &s1->initial_val, NULL, err)) ||
        (st = hr_eval_trainer(t, te, logits, &s1->initial_test, NULL, err)))
        goto done;
    (void)nsel;
    const double aref = s1->initial_val;
    double acc = aref, acc_test = s1->initial_test;
    int npruned = 0;
    s1->initial_gflops = live_gflops(model, alpha);
    snprintf(out->stop_reason, sizeof out->stop_reason, "alternation limit (%d)", gp->alternations);

    /* Resume from the state after the last finished alternation: the α (the
     * pruned exactly 0, so the masks follow), θ under those masks, λ, ξ. */
    int first = 0, done_before = 0, new_iters = 0, interrupted = 0;
    if (jp->checkpoint) {
        ck = calloc(1, sizeof *ck);
        if (!ck) {
            st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
            goto done;
        }
        goal_fingerprint(jp, op, gp, lut, fpr, sizeof fpr);
        ck->fingerprint = fpr;
        ck->domain = domain;
        ck->nblocks = nb;
        ck->nx_cap = cap;
        ck->alpha_initial = s1->alpha_initial;
        ck->alpha = pass_alpha; /* scratch until checked */
        ck->x = pass_x;
        ck->pruned = order;
        ck->iter_alpha = hist;
        st = hr__goal_checkpoint_load(jp->checkpoint, ck, err);
        if (st == HR_ERR_NOT_FOUND) {
            st = HR_OK;
        } else if (st) {
            goto done;
        } else {
            memcpy(alpha, pass_alpha, sizeof(float) * (size_t)na);
            live_masks(existing, alpha, nb, live);
            if ((st = rebuild(lut, live, op, gp, &p, &G, &ginit, x, tmp, err)))
                goto done;
            if (ck->nx != G.g.total + 2) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"x\" has %d numbers, the masks of its "
                                  "alpha need %d", jp->checkpoint, ck->nx, G.g.total + 2);
                goto done;
            }
            memcpy(x, pass_x, sizeof *x * (size_t)ck->nx);
            npruned = ck->npruned;
            if ((st = reload(model, alpha, &tp, &t, par, err)))
                goto done;
            out->niter = ck->niter;
            memcpy(out->iter, ck->iter, sizeof out->iter);
            out->final_iteration = ck->final_iteration;
            first = ck->niter;
            done_before = ck->done;
            if (ck->final_iteration > 0) {
                acc = ck->iter[ck->final_iteration - 1].val_acc;
                acc_test = ck->iter[ck->final_iteration - 1].test_acc;
            }
            if (ck->stop_reason[0])
                snprintf(out->stop_reason, sizeof out->stop_reason, "%s", ck->stop_reason);
            s1->resumed_rounds = ck->niter;
            if (jp->log) {
                char line[160];
                snprintf(line, sizeof line, "goal: resumed from %s after %d alternations", jp->checkpoint, ck->niter);
                jp->log(jp->log_user, line);
            }
        }
    }
    /* the last state that passed the guard: the current one (weighted mode) */
    memcpy(pass_alpha, alpha, sizeof(float) * (size_t)na);
    memcpy(pass_x, x, sizeof *x * (size_t)(G.g.total + 2));
    int pass_npruned = npruned;
    double pass_acc = acc, pass_test = acc_test;
    /* the strength and the back-offs spent, and the J of the last state that
       passed: from the alternations a resumed run already made */
    double l1_now = gp->l1_strength, pass_j = NAN;
    int backoffs_used = 0;
    for (int i = 0; i < out->niter; i++) {
        if (!out->iter[i].accepted) {
            backoffs_used++;
            l1_now *= 0.5;
        } else {
            pass_j = out->iter[i].j;
        }
    }

    for (int it = first; it < gp->alternations && !done_before; it++) {
        if (jp->stop_after > 0 && new_iters == jp->stop_after) {
            interrupted = 1;
            break;
        }
        /* phase A: α for `epochs` epochs; weighted: each SGD step followed by
         * the proximal step of the LUT-weighted L1 */
        bp.batch_size = jp->batch;
        bp.shuffle = 1;
        bp.seed = hr__joint_seed(jp->seed, domain, 1000 + it, 0);
        if ((st = hr_data_iter_create(hr_model_ctx(model), data, domain, HR_PART_TRAIN, &bp, &tr, err)))
            goto done;
        if (weighted)
            hr__goal_l1_weights(&G, p, live, x[G.g.total], w);
        hr_trainer_reset_momentum(t);
        for (int e = 0; e < jp->epochs; e++) {
            hr_batch b;
            if ((st = hr_batch_iter_seek(tr, e, 0, err)))
                goto done;
            while ((st = hr_batch_iter_next(tr, &b, err)) == HR_OK && b.n > 0) {
                if ((st = hr_trainer_compute(t, &b.x, b.labels, NULL, err)))
                    goto done;
                hr_trainer_update(t, (float)jp->lr);
                if (weighted)
                    prox_step(par, live, nb, jp->lr * l1_now, w);
            }
            if (st)
                goto done;
        }
        hr_batch_iter_destroy(tr);
        tr = NULL;
        /* the threshold rule; masks, expectations and FLOPs follow */
        for (int k = 0; k < nb; k++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (live[k] >> br & 1u)
                    alpha[k * 3 + br] = hr_trainer_alpha(t, k, (hr_branch)br);
        int newp = hr__goal_threshold(model, live, alpha, gp->pruning_threshold, fresh);
        memcpy(hist + (size_t)out->niter * na, alpha, sizeof(float) * (size_t)na);
        if (newp > 0) {
            for (int i = 0; i < newp; i++)
                order[npruned++] = fresh[i];
            live_masks(existing, alpha, nb, live);
            if ((st = reload(model, alpha, &tp, &t, par, err)) ||
                (st = rebuild(lut, live, op, gp, &p, &G, &ginit, x, tmp, err)))
                goto done;
        }
        if ((st = hr_eval_trainer(t, va, logits, &acc, NULL, err)) ||
            (st = hr_eval_trainer(t, te, logits, &acc_test, NULL, err)))
            goto done;
        int accept = 1;
        double drop = aref - acc;
        if (weighted && gp->guard.check) {
            if ((st = gp->guard.check(gp->guard.user, t, it + 1, &accept, &drop, err)))
                goto done;
        } else if (weighted) {
            accept = drop <= gp->epsilon;
        }
        /* phase B */
        phase_b(&G, x, mm, vv, grad, acc, aref);
        hr__goal_terms tm;
        hr__goal_loss(&G, x, acc, aref, &tm, NULL);
        hr_goal_iter *gi = &out->iter[out->niter++];
        gi->iteration = it + 1;
        gi->val_acc = acc;
        gi->test_acc = acc_test;
        gi->xi = x[G.g.total + 1];
        gi->lambda = x[G.g.total];
        gi->j = tm.j, gi->t_eff = tm.t_eff, gi->t_lat = tm.t_lat, gi->t_cyc = tm.t_cyc;
        gi->new_pruned = newp;
        gi->num_pruned = npruned;
        gi->gflops = live_gflops(model, alpha);
        gi->accepted = accept;
        gi->guard_drop = drop;
        gi->l1_strength = weighted ? l1_now : 0;
        if (jp->log) {
            char line[320];
            snprintf(line, sizeof line, "goal iteration %d: validation %.2f%% test %.2f%%, xi %.4f, lambda %.3f, J %.4f, "
                     "T_eff %.4f ms, %d pruned (%d new), guard %s", it + 1, acc, acc_test, gi->xi, gi->lambda, tm.j,
                     tm.t_eff, npruned, newp, accept ? "passed" : "failed");
            jp->log(jp->log_user, line);
        }
        new_iters++;
        int stop = 0;
        if (!weighted) {
            out->final_iteration = it + 1;
            stop = acc >= aref - gp->epsilon - 0.5 && gi->xi < 0.1;
            if (stop)
                snprintf(out->stop_reason, sizeof out->stop_reason,
                         "accuracy within epsilon + 0.5 of the reference and slack below 0.1");
        } else if (!accept) {
            /* back to the last state that passed the guard; with a back-off
             * left, on with half the strength, else stop there */
            stop = backoffs_used >= gp->backoffs;
            if (stop)
                snprintf(out->stop_reason, sizeof out->stop_reason,
                         "guard failed at alternation %d (drop %.2f points, L1 strength %.3g): rolled back to "
                         "alternation %d", it + 1, drop, l1_now, out->final_iteration);
            backoffs_used++;
            l1_now *= 0.5;
            memcpy(alpha, pass_alpha, sizeof(float) * (size_t)na);
            npruned = pass_npruned;
            acc = pass_acc, acc_test = pass_test;
            live_masks(existing, alpha, nb, live);
            if ((st = reload(model, alpha, &tp, &t, par, err)) ||
                (st = rebuild(lut, live, op, gp, &p, &G, &ginit, x, tmp, err)))
                goto done;
            memcpy(x, pass_x, sizeof *x * (size_t)(G.g.total + 2));
        } else {
            out->final_iteration = it + 1;
            memcpy(pass_alpha, alpha, sizeof(float) * (size_t)na);
            memcpy(pass_x, x, sizeof *x * (size_t)(G.g.total + 2));
            pass_npruned = npruned;
            pass_acc = acc, pass_test = acc_test;
            /* J against the last state that passed before this one */
            if (isfinite(pass_j) && it + 1 >= gp->min_alternations) {
                double gain = (pass_j - tm.j) / fmax(fabs(pass_j), 1e-12);
                if (gain < gp->j_tol) {
                    stop = 1;
                    snprintf(out->stop_reason, sizeof out->stop_reason,
                             "J improved by %.3g %% (< %.3g %%) and the guard holds", 100 * gain, 100 * gp->j_tol);
                }
            }
            pass_j = tm.j;
        }
        if (ck) {
            ck->alpha = alpha;
            ck->x = x;
            ck->nx = G.g.total + 2;
            ck->pruned = order;
            ck->npruned = npruned;
            ck->niter = out->niter;
            memcpy(ck->iter, out->iter, sizeof ck->iter);
            ck->done = stop || it + 1 == gp->alternations;
            ck->final_iteration = out->final_iteration;
            snprintf(ck->stop_reason, sizeof ck->stop_reason, "%s", out->stop_reason);
            if ((st = hr__goal_checkpoint_save(jp->checkpoint, ck, err)))
                goto done;
        }
        if (stop)
            break;
    }
    /* final α and configuration: argmax θ under the exact mask of the trained α */
    if ((st = hr_trainer_sync(t, err)))
        goto done;
    memcpy(s1->alpha, alpha, sizeof(float) * (size_t)na);
    s1->final_val = acc;
    s1->final_test = acc_test;
    s1->complete = !interrupted;
    snprintf(s1->stop_reason, sizeof s1->stop_reason, "%s", out->stop_reason);
    s1->npruned = npruned;
    for (int i = 0; i < npruned; i++) {
        s1->pruned_block[i] = order[i] / 3;
        s1->pruned_branch[i] = (hr_branch)(order[i] % 3);
    }
    s1->final_gflops = live_gflops(model, alpha);
    /* one round per alternation: applied when it kept new prunings */
    s1->best_so_far = aref;
    s1->nrounds = out->niter;
    for (int i = 0; i < out->niter; i++) {
        const hr_goal_iter *gi = &out->iter[i];
        hr_joint_round *r = &s1->rounds[i];
        int kept = gi->accepted && gi->iteration <= out->final_iteration;
        if (kept && gi->val_acc > s1->best_so_far)
            s1->best_so_far = gi->val_acc;
        r->round = gi->iteration;
        r->winner = -1;
        r->applied = kept && gi->new_pruned > 0;
        r->val_acc = gi->val_acc;
        r->test_acc = gi->test_acc;
        r->best_so_far = s1->best_so_far;
        r->num_pruned = gi->num_pruned;
        r->remaining_gflops = gi->gflops;
        r->flops_reduction_pct = s1->initial_gflops > 0 ? 100.0 * (1.0 - gi->gflops / s1->initial_gflops) : 0;
        if (r->applied) {
            if (!(r->alpha = malloc(sizeof(float) * (size_t)na))) {
                st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
                goto done;
            }
            memcpy(r->alpha, hist + (size_t)i * na, sizeof(float) * (size_t)na);
        }
    }
    out->xi = x[G.g.total + 1];
    out->lambda = x[G.g.total];
    memcpy(G.g.theta, x, sizeof(double) * (size_t)G.g.total);
    {
        hr_optim_result *r = &out->config;
        double s = floor(out->lambda + 0.5);
        int split = (int)fmin(fmax(s, 0), nb);
        if (split == 0 && !hr_optim_placement_available(p, 0))
            split = 1;
        if ((st = hr__optim_result_alloc(r, nb, err)))
            goto done;
        r->method = HR_METHOD_GD;
        r->objective = op->objective;
        r->lambda_final = out->lambda;
        hr__gd_argmax(&G.g, p, r->gamma);
        hr__optim_finish(p, r, split);
    }
    *problem = p;
    p = NULL;
done:
    if (ginit)
        hr__goal_deinit(&G);
    hr_optim_problem_destroy(p);
    hr_batch_iter_destroy(tr);
    hr_batch_iter_destroy(va);
    hr_batch_iter_destroy(te);
    hr_trainer_destroy(t);
    free(x), free(mm), free(vv), free(grad), free(tmp), free(w), free(pass_x), free(logits), free(alpha);
    free(pass_alpha), free(order), free(hist), free(fresh), free(existing), free(live), free(par), free(ck);
    if (st) {
        hr_optim_result_deinit(&out->config);
        hr_joint_result_deinit(s1);
    }
    return st;
}
