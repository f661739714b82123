/* Goal-programming joint optimisation (SPEC §6.4, the paper's Eq. 7 form).
 *
 * Variables θ (γ logits over each block's valid γ), λ (soft split) and the
 * slack ξ_A >= 0; α is trained in phase A. Phase B minimises
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

/* L1 weight of every α (extension): the branch's share of its block's LUT
 * time on the side that runs it (z < ½: head), times the live count, so a
 * block whose branches cost the same keeps weight 1. */
static void l1_weights(const hr__goal *G, const hr_optim_problem *p, const hr_model *m, double lambda, double *w)
{
    const hr_lut *lut = p->lut;
    for (int k = 0; k < G->g.n; k++) {
        hr_block_info bi = hr_model_block(m, k);
        double z = sigm(G->g.sigma * ((double)k + G->g.z_offset - lambda)), t[HR_BRANCH_COUNT], sum = 0;
        hr_device dev = z < 0.5 ? p->head : p->tail;
        int live = 0, ok = 1;
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            w[k * 3 + br] = 1;
            t[br] = 0;
            if (!(bi.live >> br & 1u))
                continue;
            int gm = hr_gamma_deploy(1u << br);
            t[br] = gm >= 0 ? lut->blocks[k].t_ms[dev][gm] : -1;
            ok = ok && t[br] > 0;
            sum += t[br];
            live++;
        }
        if (!ok || sum <= 0)
            continue;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (bi.live >> br & 1u)
                w[k * 3 + br] = live * t[br] / sum;
    }
}

/* What a goal checkpoint depends on besides the starting α: the caller's
 * stage-1 settings, the goal and optimizer settings that shape phase B, and
 * the LUT's times (FNV-1a over their bytes). */
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
             "%s|goal %d %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %d|optim %d %d %d %.17g %.17g %d %.17g "
             "%.17g|link %.17g %.17g|lut %016llx",
             jp->fingerprint ? jp->fingerprint : "", gp->alternations, gp->steps, gp->lr, gp->kappa, gp->mu,
             gp->epsilon, gp->omega, gp->beta_r, gp->lambda_i, gp->rho, gp->weighted_l1, (int)op->head, (int)op->mask,
             (int)op->lambda_init, op->lambda0, op->sigma, op->intensity_weights, op->z_offset, op->eff_omega,
             op->link_override ? op->link.bandwidth_mbit_s : lut->link.bandwidth_mbit_s,
             op->link_override ? op->link.latency_ms : lut->link.latency_ms, (unsigned long long)h);
}

hr_status hr_joint_goal(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
                        const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                        hr_joint_result *s1, hr_goal_result *out, hr_optim_problem **problem, hr_error *err)
{
    const int nb = hr_model_num_blocks(model), na = nb * 3;
    hr_status st = HR_OK;
    hr_optim_problem *p = NULL;
    hr__goal G;
    int ginit = 0;
    hr_trainer *t = NULL;
    hr_batch_iter *va = NULL, *te = NULL, *tr = NULL;
    double *x = NULL, *mm = NULL, *vv = NULL, *grad = NULL, *w = NULL;
    float *logits = NULL, *ck_alpha = NULL;
    hr__goal_state *ck = NULL;
    char fpr[2048];
    unsigned *live = NULL;
    *problem = NULL;
    memset(out, 0, sizeof *out);
    hr_optim_result_init(&out->config);
    hr_joint_result_deinit(s1);
    if (!lut || lut->nblocks != nb)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: the LUT has %d blocks, the model %d", lut ? lut->nblocks : 0,
                            nb);
    if (gp->alternations < 1 || gp->alternations > HR_GOAL_MAX_ITER || gp->steps < 0 || !(gp->lr > 0) ||
        jp->epochs < 1 || jp->batch < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: bad settings (alternations %d in 1..%d, steps %d)",
                            gp->alternations, HR_GOAL_MAX_ITER, gp->steps);
    s1->nblocks = nb;
    s1->alpha_initial = malloc(sizeof(float) * (size_t)na);
    s1->alpha = malloc(sizeof(float) * (size_t)na);
    live = malloc(sizeof *live * (size_t)nb);
    w = malloc(sizeof *w * (size_t)na);
    logits = malloc(sizeof(float) * (size_t)(jp->batch * hr_model_num_classes(model)));
    if (!s1->alpha_initial || !s1->alpha || !live || !w || !logits) {
        st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
        goto done;
    }
    for (int k = 0; k < nb; k++) {
        hr_block_info bi = hr_model_block(model, k);
        live[k] = bi.live;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            s1->alpha_initial[k * 3 + br] = (bi.existing >> br & 1u) ? bi.alpha[br] : 0.0f;
    }
    if ((st = hr_optim_problem_create(lut, live, op, &p, err)) || (st = hr__goal_init(&G, p, gp, err)))
        goto done;
    ginit = 1;
    const int np = G.g.total + 2;
    x = calloc((size_t)np, sizeof *x);
    mm = calloc((size_t)np, sizeof *mm);
    vv = calloc((size_t)np, sizeof *vv);
    grad = calloc((size_t)np, sizeof *grad);
    if (!x || !mm || !vv || !grad) {
        st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
        goto done;
    }
    x[G.g.total] = fmin(fmax(op->lambda0, 0.0), (double)nb);
    if (op->lambda_init == HR_LAMBDA_INIT_N)
        x[G.g.total] = nb;
    else if (op->lambda_init == HR_LAMBDA_INIT_MID)
        x[G.g.total] = nb / 2.0;

    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_batch_params ev = hr_batch_params_default(), bp = hr_batch_params_default();
    tp.batch = jp->batch;
    tp.momentum = (float)jp->momentum;
    tp.l1 = (float)jp->l1;
    ev.batch_size = jp->batch;
    if ((st = hr_trainer_create(model, &tp, &t, err)) ||
        (st = hr_data_iter_create(hr_model_ctx(model), data, domain, HR_PART_VAL, &ev, &va, err)) ||
        (st = hr_data_iter_create(hr_model_ctx(model), data, domain, HR_PART_TEST, &ev, &te, err)) ||
        (st = hr__joint_accuracy(t, va, logits, &s1->initial_val, err)) ||
        (st = hr__joint_accuracy(t, te, logits, &s1->initial_test, err)))
        goto done;
    const double aref = s1->initial_val;
    double acc = aref, acc_test = s1->initial_test;
    snprintf(out->stop_reason, sizeof out->stop_reason, "alternation limit (%d)", gp->alternations);

    /* Resume from the state after the last finished alternation. */
    int first = 0, done_before = 0, new_iters = 0, interrupted = 0;
    if (jp->checkpoint) {
        ck = calloc(1, sizeof *ck);
        ck_alpha = malloc(sizeof(float) * (size_t)na);
        if (!ck || !ck_alpha) {
            st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
            goto done;
        }
        goal_fingerprint(jp, op, gp, lut, fpr, sizeof fpr);
        ck->fingerprint = fpr;
        ck->domain = domain;
        ck->nblocks = nb;
        ck->nx = np;
        ck->alpha_initial = s1->alpha_initial;
        ck->alpha = ck_alpha;
        ck->x = x;
        st = hr__goal_checkpoint_load(jp->checkpoint, ck, err);
        if (st == HR_ERR_NOT_FOUND) {
            st = HR_OK;
        } else if (st) {
            goto done;
        } else {
            for (int k = 0; k < nb; k++)
                for (int br = 0; br < HR_BRANCH_COUNT; br++)
                    if (s1->alpha_initial[k * 3 + br] != 0.0f &&
                        (st = hr_trainer_set_alpha(t, k, (hr_branch)br, ck_alpha[k * 3 + br], err)))
                        goto done;
            out->niter = ck->niter;
            memcpy(out->iter, ck->iter, sizeof out->iter);
            first = ck->niter;
            done_before = ck->done;
            if (ck->niter > 0) {
                acc = ck->iter[ck->niter - 1].val_acc;
                acc_test = ck->iter[ck->niter - 1].test_acc;
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
    for (int it = first; it < gp->alternations && !done_before; it++) {
        if (jp->stop_after > 0 && new_iters == jp->stop_after) {
            interrupted = 1;
            break;
        }
        /* phase A: α for `epochs` epochs, the L1 term weighted by LUT time shares */
        bp.batch_size = jp->batch;
        bp.shuffle = 1;
        bp.seed = hr__joint_seed(jp->seed, domain, 1000 + it, 0);
        if ((st = hr_data_iter_create(hr_model_ctx(model), data, domain, HR_PART_TRAIN, &bp, &tr, err)))
            goto done;
        if (gp->weighted_l1)
            l1_weights(&G, p, model, x[G.g.total], w);
        hr_trainer_reset_momentum(t);
        for (int e = 0; e < jp->epochs; e++) {
            hr_batch b;
            if ((st = hr_batch_iter_seek(tr, e, 0, err)))
                goto done;
            while ((st = hr_batch_iter_next(tr, &b, err)) == HR_OK && b.n > 0) {
                if ((st = hr_trainer_compute(t, &b.x, b.labels, NULL, err)))
                    goto done;
                if (gp->weighted_l1)
                    for (int k = 0; k < nb; k++)
                        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                            char name[96];
                            snprintf(name, sizeof name, "%s.hyper_%s", hr_model_block(model, k).name,
                                     hr_branch_name((hr_branch)br));
                            const hr_train_param *q = hr_trainer_find_param(t, name);
                            if (q && q->value[0] != 0.0f)
                                q->grad[0] += (float)(jp->l1 * (w[k * 3 + br] - 1.0)) * (q->value[0] > 0 ? 1.0f : -1.0f);
                        }
                hr_trainer_update(t, (float)jp->lr);
            }
            if (st)
                goto done;
        }
        hr_batch_iter_destroy(tr);
        tr = NULL;
        if ((st = hr__joint_accuracy(t, va, logits, &acc, err)) ||
            (st = hr__joint_accuracy(t, te, logits, &acc_test, err)))
            goto done;
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
        if (jp->log) {
            char line[256];
            snprintf(line, sizeof line, "goal iteration %d: validation %.2f%% test %.2f%%, xi %.4f, lambda %.3f, J %.4f, "
                     "T_eff %.4f ms", it + 1, acc, acc_test, gi->xi, gi->lambda, tm.j, tm.t_eff);
            jp->log(jp->log_user, line);
        }
        new_iters++;
        int stop = acc >= aref - gp->epsilon - 0.5 && gi->xi < 0.1;
        if (stop)
            snprintf(out->stop_reason, sizeof out->stop_reason,
                     "accuracy within epsilon + 0.5 of the reference and slack below 0.1");
        if (ck) {
            for (int k = 0; k < nb; k++)
                for (int br = 0; br < HR_BRANCH_COUNT; br++)
                    ck_alpha[k * 3 + br] = hr_trainer_alpha(t, k, (hr_branch)br);
            ck->niter = out->niter;
            memcpy(ck->iter, out->iter, sizeof ck->iter);
            ck->done = stop || it + 1 == gp->alternations;
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
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            s1->alpha[k * 3 + br] = hr_trainer_alpha(t, k, (hr_branch)br);
    s1->final_val = acc;
    s1->final_test = acc_test;
    s1->best_so_far = acc > aref ? acc : aref;
    s1->complete = !interrupted;
    snprintf(s1->stop_reason, sizeof s1->stop_reason, "%s", out->stop_reason);
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (s1->alpha[k * 3 + br] != 0.0f)
                s1->initial_gflops += hr_joint_branch_flops(model, k, (hr_branch)br) / 1e9;
    s1->final_gflops = s1->initial_gflops;
    memcpy(G.g.theta, x, sizeof(double) * (size_t)G.g.total);
    out->xi = x[G.g.total + 1];
    out->lambda = x[G.g.total];
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
    free(x), free(mm), free(vv), free(grad), free(w), free(logits), free(live), free(ck), free(ck_alpha);
    if (st) {
        hr_optim_result_deinit(&out->config);
        hr_joint_result_deinit(s1);
    }
    return st;
}
