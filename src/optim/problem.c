/* The optimization problem: settings, validation of the LUT against them,
 * the compact per-block lists of valid γ, the LUT evaluator and the result
 * struct's lifetime. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/model.h"
#include "optim/optim_internal.h"

static const char *objective_names[HR_OBJECTIVE_COUNT] = {"latency", "cycle", "eff"};
static const char *method_names[HR_METHOD_COUNT] = {"gd", "grid", "exact"};
static const char *lambda_init_names[HR_LAMBDA_INIT_COUNT] = {"value", "N", "mid", "exact"};

const char *hr_objective_name(hr_objective o)
{
    return (unsigned)o < HR_OBJECTIVE_COUNT ? objective_names[o] : "?";
}

int hr_objective_parse(const char *s)
{
    for (int i = 0; s && i < HR_OBJECTIVE_COUNT; i++)
        if (strcmp(s, objective_names[i]) == 0)
            return i;
    return -1;
}

const char *hr_optim_method_name(hr_optim_method m)
{
    return (unsigned)m < HR_METHOD_COUNT ? method_names[m] : "?";
}

int hr_optim_method_parse(const char *s)
{
    for (int i = 0; s && i < HR_METHOD_COUNT; i++)
        if (strcmp(s, method_names[i]) == 0)
            return i;
    return -1;
}

const char *hr_lambda_init_name(hr_lambda_init i)
{
    return (unsigned)i < HR_LAMBDA_INIT_COUNT ? lambda_init_names[i] : "?";
}

hr_optim_params hr_optim_params_default(void)
{
    hr_optim_params p;
    memset(&p, 0, sizeof p);
    p.head = HR_DEVICE_CLIENT;
    p.mask = HR_MASK_EXACT;
    p.objective = HR_OBJECTIVE_LATENCY;
    p.eff_omega = 0.5;
    p.link_override = 0;
    p.link = hr_link_default();
    p.steps = 800;
    p.lr_theta = 0.01;
    p.lr_lambda = 0.01;
    p.adam_beta1 = 0.9;
    p.adam_beta2 = 0.999;
    p.adam_eps = 1e-8;
    p.sigma = 5.0;
    p.z_offset = 0.5;
    p.link_streams = 0;
    p.lambda_init = HR_LAMBDA_INIT_VALUE;
    p.lambda0 = 10.0;
    p.lambda_fixed = 0;
    p.w_head = 10.0;
    p.w_tail = 10.0;
    p.w_trans = 5.0;
    p.w_intensity = 0.05;
    p.w_rc = 0.0;
    p.w_rs = 0.0;
    p.history_every = 100;
    p.min_split = HR_OPTIM_SPLIT_DEFAULT;
    p.max_split = HR_OPTIM_SPLIT_DEFAULT;
    return p;
}

void hr_optim_result_init(hr_optim_result *r)
{
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    r->gap_to_exact_pct = NAN;
    r->exact_value = NAN;
    r->objective_value = NAN;
    r->min_split = r->max_split = r->req_min_split = r->req_max_split = -1;
}

void hr_optim_result_deinit(hr_optim_result *r)
{
    if (!r)
        return;
    free(r->gamma);
    free(r->history);
    free(r->splits);
    free(r->split_gamma);
    hr_optim_result_init(r);
}

hr_status hr__optim_result_alloc(hr_optim_result *r, int n, hr_error *err)
{
    r->gamma = malloc(sizeof(int) * (size_t)n);
    if (!r->gamma)
        return hr_error_set(err, HR_ERR_NOMEM, "optimizer: out of memory for %d blocks", n);
    r->nblocks = n;
    return HR_OK;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void add_note(hr_optim_problem *p, const char *fmt, ...)
{
    va_list ap;
    if (p->nnotes >= HR__OPTIM_MAX_NOTES)
        return;
    va_start(ap, fmt);
    vsnprintf(p->notes[p->nnotes++], HR__OPTIM_NOTE_MAX, fmt, ap);
    va_end(ap);
}

/* ---- validation ---------------------------------------------------------- */

/* Parses "stage<s>.<i>" strictly; 0 when the name has another form. */
static int parse_block_name(const char *name, int *stage, int *index)
{
    const char *q = name;
    long v[2];
    if (strncmp(q, "stage", 5) != 0)
        return 0;
    q += 5;
    for (int part = 0; part < 2; part++) {
        if (*q < '0' || *q > '9' || (q[0] == '0' && q[1] >= '0' && q[1] <= '9'))
            return 0;
        v[part] = 0;
        while (*q >= '0' && *q <= '9' && v[part] < 100000)
            v[part] = v[part] * 10 + (*q++ - '0');
        if (part == 0 && *q++ != '.')
            return 0;
    }
    if (*q)
        return 0;
    *stage = (int)v[0];
    *index = (int)v[1];
    return 1;
}

/* Checks that the blocks form the sequence stage1.0, stage1.1, …, stage2.0, …
 * with nothing missing, and, when the LUT names a known architecture, that
 * every stage has the architecture's block count. */
static hr_status check_block_sequence(const hr_lut *lut, const hr_arch *arch, hr_error *err)
{
    int prev_stage = 0, prev_index = -1, count[5] = {0};
    for (int k = 0; k < lut->nblocks; k++) {
        const char *name = lut->blocks[k].name;
        int s, i;
        if (!parse_block_name(name, &s, &i) || s < 1 || s > 4)
            return hr_error_set(err, HR_ERR_FORMAT, "LUT block %d is named '%s', expected stage<1..4>.<index>", k,
                                name);
        if (s == prev_stage && i == prev_index + 1) {
            /* next block of the same stage */
        } else if (s == prev_stage + 1 && i == 0) {
            /* first block of the next stage */
        } else if (s == prev_stage && i <= prev_index) {
            return hr_error_set(err, HR_ERR_FORMAT,
                                "LUT block %s appears twice or out of network order (after stage%d.%d)", name,
                                prev_stage, prev_index);
        } else if (s == prev_stage) {
            return hr_error_set(err, HR_ERR_FORMAT, "LUT lacks block stage%d.%d (found %s after stage%d.%d)", s,
                                prev_index + 1, name, prev_stage, prev_index);
        } else if (s > prev_stage + 1) {
            return hr_error_set(err, HR_ERR_FORMAT, "LUT lacks every block of stage %d (found %s after %s)",
                                prev_stage + 1, name, k ? lut->blocks[k - 1].name : "the start");
        } else if (s == prev_stage + 1) {
            return hr_error_set(err, HR_ERR_FORMAT, "LUT lacks block stage%d.0 (stage %d starts at %s)", s, s, name);
        } else {
            return hr_error_set(err, HR_ERR_FORMAT, "LUT block %s is out of network order (after stage%d.%d)", name,
                                prev_stage, prev_index);
        }
        prev_stage = s;
        prev_index = i;
        count[s]++;
    }
    /* Without the architecture a LUT cut short after a whole block cannot be
     * told from a smaller model; with it, every stage must be complete. */
    if (arch)
        for (int s = 1; s <= 4; s++) {
            if (count[s] < arch->blocks[s - 1])
                return hr_error_set(err, HR_ERR_FORMAT, "LUT lacks block stage%d.%d: %s has %d blocks in stage %d, "
                                    "the LUT %d", s, count[s], arch->name, arch->blocks[s - 1], s, count[s]);
            if (count[s] > arch->blocks[s - 1])
                return hr_error_set(err, HR_ERR_FORMAT, "LUT has %d blocks in stage %d but %s has %d", count[s], s,
                                    arch->name, arch->blocks[s - 1]);
        }
    return HR_OK;
}

hr_status hr_optim_existing_branches(const hr_lut *lut, unsigned *existing, hr_error *err)
{
    if (!lut || !existing || lut->nblocks < 1 || !lut->blocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: the LUT has no blocks");
    for (int k = 0; k < lut->nblocks; k++) {
        unsigned ex = 0;
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                if (lut->blocks[k].t_ms[d][g] >= 0)
                    ex |= hr_gamma_get(g)->branches;
        if (!ex)
            return hr_error_set(err, HR_ERR_FORMAT, "LUT block %s has no valid time on either device",
                                lut->blocks[k].name);
        existing[k] = ex;
    }
    return HR_OK;
}

/* Times must be finite and ≥ 0, or exactly -1 (invalid); every γ the
 * block's existing branches allow must have a time on both devices (the LUT
 * measures all of them, SPEC §5). */
static hr_status check_block_times(const hr_lut_block *b, unsigned existing, hr_error *err)
{
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            double t = b->t_ms[d][g];
            if (!isfinite(t) || (t < 0 && t != -1.0))
                return hr_error_set(err, HR_ERR_FORMAT, "LUT block %s: %s time of gamma %d (%s) is %g",
                                    b->name, hr_device_name((hr_device)d), g, hr_gamma_get(g)->name, t);
            if (t < 0 && hr_gamma_valid(g, existing, HR_MASK_SUBSET)) {
                char br[64];
                return hr_error_set(err, HR_ERR_FORMAT,
                                    "LUT block %s lacks the %s time of gamma %d (%s), which its branches %s allow",
                                    b->name, hr_device_name((hr_device)d), g, hr_gamma_get(g)->name,
                                    hr_branch_mask_str(existing, br, sizeof br));
            }
        }
    return HR_OK;
}

static hr_status check_link(const hr_link *l, const char *src, hr_error *err)
{
    if (!(l->bandwidth_mbit_s > 0) || !isfinite(l->bandwidth_mbit_s))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s bandwidth %g Mbit/s is not positive", src,
                            l->bandwidth_mbit_s);
    if (!(l->latency_ms >= 0) || !isfinite(l->latency_ms))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s latency %g ms is negative or not finite", src, l->latency_ms);
    if (!(l->per_message_ms >= 0) || !isfinite(l->per_message_ms))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s per-message time %g ms is negative or not finite", src,
                            l->per_message_ms);
    return HR_OK;
}

static hr_status check_params(const hr_optim_params *q, hr_error *err)
{
    const double w[] = {q->w_head, q->w_tail, q->w_trans, q->w_intensity, q->w_rc, q->w_rs};
    if ((unsigned)q->head >= HR_DEVICE_COUNT || (unsigned)q->mask >= HR_MASK_KIND_COUNT ||
        (unsigned)q->objective >= HR_OBJECTIVE_COUNT || (unsigned)q->lambda_init >= HR_LAMBDA_INIT_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: head, mask, objective or lambda_init out of range");
    if (!(q->eff_omega >= 0 && q->eff_omega <= 1))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: eff omega %g is not in [0, 1]", q->eff_omega);
    if (q->steps < 0 || q->steps > 100000000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: %d steps is not in 0..1e8", q->steps);
    if (q->history_every < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: history interval %d is negative", q->history_every);
    if (!(q->lr_theta >= 0) || !(q->lr_lambda >= 0) || !isfinite(q->lr_theta) || !isfinite(q->lr_lambda))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: learning rates %g, %g must be finite and >= 0",
                            q->lr_theta, q->lr_lambda);
    if (!(q->adam_beta1 >= 0 && q->adam_beta1 < 1) || !(q->adam_beta2 >= 0 && q->adam_beta2 < 1) ||
        !(q->adam_eps > 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: Adam betas %g, %g must be in [0, 1), eps %g > 0",
                            q->adam_beta1, q->adam_beta2, q->adam_eps);
    if (!(q->sigma > 0) || !isfinite(q->sigma) || !isfinite(q->z_offset) || !isfinite(q->lambda0))
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "optimizer: sigma %g must be > 0; z offset %g and lambda %g finite", q->sigma,
                            q->z_offset, q->lambda0);
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (!(w[i] >= 0) || !isfinite(w[i]))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: loss weight %zu is %g, expected finite >= 0", i,
                                w[i]);
    return HR_OK;
}

/* Fills the compact lists of valid γ and their FLOPs, bytes and streams,
 * and each block's fastest valid γ per device. */
static hr_status build_tables(hr_optim_problem *p, hr_error *err)
{
    const hr_lut *lut = p->lut;
    int n = p->n, total = 0, shapes = 1;

    for (int k = 0; k < n; k++)
        for (int j = 0; j < 4; j++)
            if (lut->blocks[k].in_shape[j] <= 0 || lut->blocks[k].out_shape[j] <= 0)
                shapes = 0;
    p->off = malloc(sizeof(int) * (size_t)(n + 1));
    p->gid = malloc(sizeof(int) * (size_t)n * HR_GAMMA_COUNT);
    p->flops = malloc(sizeof(double) * (size_t)n * HR_GAMMA_COUNT);
    p->bytes = malloc(sizeof(double) * (size_t)n * HR_GAMMA_COUNT);
    p->streams = malloc(sizeof(double) * (size_t)n * HR_GAMMA_COUNT);
    p->scratch = malloc(sizeof(int) * (size_t)n);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        p->best_gamma[d] = malloc(sizeof(int) * (size_t)n);
    if (!p->off || !p->gid || !p->flops || !p->bytes || !p->streams || !p->scratch || !p->best_gamma[0] ||
        !p->best_gamma[1])
        return hr_error_set(err, HR_ERR_NOMEM, "optimizer: out of memory for %d blocks", n);
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        if (lut->n_stream[g] < 1 || lut->n_stream[g] > 3)
            return hr_error_set(err, HR_ERR_FORMAT, "LUT N_stream[%d] = %d is not 1..3", g, lut->n_stream[g]);

    for (int k = 0; k < n; k++) {
        const hr_lut_block *b = &lut->blocks[k];
        char br[64];
        p->off[k] = total;
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            p->best_gamma[d][k] = -1;
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            if (!hr_gamma_valid(g, p->live[k], p->params.mask))
                continue;
            /* check_block_times guarantees both times exist. */
            p->gid[total] = g;
            p->streams[total] = lut->n_stream[g];
            if (shapes) {
                hr_block_cost c = hr_block_cost_eval(g, b->in_shape, b->out_shape, b->groups > 0 ? b->groups : 1);
                p->flops[total] = c.flops;
                p->bytes[total] = p->params.intensity_weights ? c.bytes_w : c.bytes;
            } else {
                if (!isfinite(b->intensity[g]) || b->intensity[g] < 0)
                    return hr_error_set(err, HR_ERR_FORMAT, "LUT block %s: intensity of gamma %d is %g", b->name, g,
                                        b->intensity[g]);
                p->flops[total] = b->intensity[g];
                p->bytes[total] = 1.0;
            }
            for (int d = 0; d < HR_DEVICE_COUNT; d++) {
                int *best = &p->best_gamma[d][k];
                if (*best < 0 || b->t_ms[d][g] < b->t_ms[d][*best])
                    *best = g;
            }
            total++;
        }
        if (total == p->off[k])
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "block %s: the %s mask leaves no valid gamma for its live branches %s", b->name,
                                p->params.mask == HR_MASK_EXACT ? "exact" : "subset",
                                hr_branch_mask_str(p->live[k], br, sizeof br));
    }
    p->off[n] = total;
    p->total = total;
    if (!shapes)
        add_note(p, "the LUT has no block shapes: intensity terms use the LUT's Intensity column "
                    "(E[I] instead of E[FLOPs]/E[Bytes])%s", p->params.intensity_weights ? ", activations only" : "");
    return HR_OK;
}

/* Input shape and class count for raw/local: the LUT's, else the defaults
 * of the architecture it names (input size from block 0's input and the
 * stage-0 stride). */
static void derive_io(hr_optim_problem *p, const hr_arch *arch)
{
    const hr_lut *lut = p->lut;
    const hr_lut_block *b0 = &lut->blocks[0];
    int known = lut->input_shape[0] > 0 && lut->input_shape[1] > 0 && lut->input_shape[2] > 0;

    if (b0->in_shape[1] > 0 && b0->in_shape[2] > 0 && b0->in_shape[3] > 0)
        p->block0_in_bytes = 4.0 * (double)(b0->in_shape[0] > 0 ? b0->in_shape[0] : 1) * (double)b0->in_shape[1] *
                             (double)b0->in_shape[2] * (double)b0->in_shape[3];
    if (known) {
        memcpy(p->input_shape, lut->input_shape, sizeof p->input_shape);
    } else if (arch && b0->in_shape[2] > 0 && b0->in_shape[3] > 0) {
        p->input_shape[0] = arch->in_channels;
        p->input_shape[1] = b0->in_shape[2] * arch->stage0_stride;
        p->input_shape[2] = b0->in_shape[3] * arch->stage0_stride;
        add_note(p, "input shape [%lld, %lld, %lld] derived from %s and block %s's input (the LUT does not record it)",
                 (long long)p->input_shape[0], (long long)p->input_shape[1], (long long)p->input_shape[2], arch->name,
                 b0->name);
    }
    if (lut->num_classes > 0) {
        p->num_classes = lut->num_classes;
    } else if (arch) {
        p->num_classes = arch->num_classes;
        add_note(p, "%lld classes taken from %s's default (the LUT does not record it)", (long long)p->num_classes,
                 arch->name);
    }
    if (!p->input_shape[0])
        add_note(p, "placement raw left out: the LUT records no input shape and names no known model");
    if (!p->num_classes)
        add_note(p, "placement local left out: the LUT records no class count and names no known model");
    if (!p->block0_in_bytes)
        add_note(p, "split 0 left out: the LUT has no input shape for block %s", b0->name);
}

hr_status hr_optim_problem_create(const hr_lut *lut, const unsigned *live, const hr_optim_params *params,
                                  hr_optim_problem **out, hr_error *err)
{
    hr_optim_params defaults = hr_optim_params_default();
    const hr_arch *arch;
    hr_optim_problem *p;
    hr_status st;
    int n;

    if (!lut || !out || !lut->blocks || lut->nblocks < 1 || lut->nblocks > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: the LUT has %d blocks, expected 1..%d",
                            lut ? lut->nblocks : 0, HR_LUT_MAX_BLOCKS);
    if (!params)
        params = &defaults;
    if ((st = check_params(params, err)))
        return st;
    n = lut->nblocks;
    arch = lut->model[0] ? hr_arch_find(lut->model) : NULL;
    if ((st = check_block_sequence(lut, arch, err)))
        return st;
    if ((st = check_link(params->link_override ? &params->link : &lut->link,
                         params->link_override ? "link:" : "LUT link:", err)))
        return st;
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        if (!(lut->i_knee[d] > 0) || !isfinite(lut->i_knee[d]))
            return hr_error_set(err, HR_ERR_FORMAT, "LUT roofline knee of the %s is %g, expected > 0",
                                hr_device_name((hr_device)d), lut->i_knee[d]);
        if (!(lut->t_stage0_ms[d] >= 0) || !(lut->t_classifier_ms[d] >= 0) || !isfinite(lut->t_stage0_ms[d]) ||
            !isfinite(lut->t_classifier_ms[d]))
            return hr_error_set(err, HR_ERR_FORMAT, "LUT stage-0 / classifier time of the %s is %g / %g ms",
                                hr_device_name((hr_device)d), lut->t_stage0_ms[d], lut->t_classifier_ms[d]);
        if (!(lut->t_frame_ms[d] >= 0) || !isfinite(lut->t_frame_ms[d]))
            return hr_error_set(err, HR_ERR_FORMAT, "LUT T_frame of the %s is %g ms, expected >= 0",
                                hr_device_name((hr_device)d), lut->t_frame_ms[d]);
    }

    p = calloc(1, sizeof *p);
    if (!p)
        return hr_error_set(err, HR_ERR_NOMEM, "optimizer: out of memory");
    p->lut = lut;
    p->params = *params;
    p->link = params->link_override ? params->link : lut->link;
    p->n = n;
    p->head = params->head;
    p->tail = params->head == HR_DEVICE_CLIENT ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
    p->existing = malloc(sizeof(unsigned) * (size_t)n);
    p->live = malloc(sizeof(unsigned) * (size_t)n);
    if (!p->existing || !p->live) {
        st = hr_error_set(err, HR_ERR_NOMEM, "optimizer: out of memory for %d blocks", n);
        goto fail;
    }
    if ((st = hr_optim_existing_branches(lut, p->existing, err)))
        goto fail;
    for (int k = 0; k < n; k++) {
        const hr_lut_block *b = &lut->blocks[k];
        char br[64], ex[64];
        if ((st = check_block_times(b, p->existing[k], err)))
            goto fail;
        for (int j = 0; j < 3; j++)
            if (!isfinite(b->comm_mb[j]) || b->comm_mb[j] < 0 || (j == 0 && b->comm_mb[0] <= 0) ||
                (params->link_streams && b->comm_mb[j] <= 0)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "LUT block %s: Comm_size[%d] = %g MB is not positive", b->name,
                                  j, b->comm_mb[j]);
                goto fail;
            }
        p->live[k] = live ? live[k] : p->existing[k];
        if (!p->live[k] || (p->live[k] & ~p->existing[k])) {
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "block %s: live branches %s are not a non-empty subset of its "
                              "branches %s", b->name, hr_branch_mask_str(p->live[k], br, sizeof br),
                              hr_branch_mask_str(p->existing[k], ex, sizeof ex));
            goto fail;
        }
    }
    if ((st = build_tables(p, err)))
        goto fail;
    if (params->mask == HR_MASK_SUBSET)
        add_note(p, "subset mask: gammas may drop live branches, which changes the network's function");
    if (!lut->has_stage_times)
        add_note(p, "the LUT has no stage-0 and classifier times: they count as 0 ms");
    if (lut->synthetic)
        add_note(p, "the LUT marks some entries as synthetic or emulated%s%.200s", lut->note[0] ? ": " : "",
                 lut->note);
    derive_io(p, arch);
    for (int o = 0; o < HR_OBJECTIVE_COUNT; o++)
        hr__optim_exact_best(p, (hr_objective)o, p->scratch, &p->exact_value[o]);
    *out = p;
    return HR_OK;
fail:
    hr_optim_problem_destroy(p);
    return st;
}

void hr_optim_problem_destroy(hr_optim_problem *p)
{
    if (!p)
        return;
    free(p->existing);
    free(p->live);
    free(p->off);
    free(p->gid);
    free(p->flops);
    free(p->bytes);
    free(p->streams);
    free(p->scratch);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        free(p->best_gamma[d]);
    free(p);
}

const hr_lut *hr_optim_problem_lut(const hr_optim_problem *p) { return p->lut; }
const hr_optim_params *hr_optim_problem_params(const hr_optim_problem *p) { return &p->params; }
const hr_link *hr_optim_problem_link(const hr_optim_problem *p) { return &p->link; }
const int64_t *hr_optim_problem_input_shape(const hr_optim_problem *p) { return p->input_shape; }
int64_t hr_optim_problem_num_classes(const hr_optim_problem *p) { return p->num_classes; }
int hr_optim_problem_num_notes(const hr_optim_problem *p) { return p->nnotes; }

unsigned hr_optim_problem_live(const hr_optim_problem *p, int block)
{
    return block >= 0 && block < p->n ? p->live[block] : 0;
}

unsigned hr_optim_problem_existing(const hr_optim_problem *p, int block)
{
    return block >= 0 && block < p->n ? p->existing[block] : 0;
}

const char *hr_optim_problem_note(const hr_optim_problem *p, int i)
{
    return i >= 0 && i < p->nnotes ? p->notes[i] : NULL;
}

int hr_optim_placement_available(const hr_optim_problem *p, int placement)
{
    if (placement == HR_PLACEMENT_RAW)
        return p->input_shape[0] > 0;
    if (placement == HR_PLACEMENT_LOCAL)
        return p->num_classes > 0;
    if (placement == 0)
        return p->block0_in_bytes > 0;
    return placement > 0 && placement <= p->n;
}

double hr__optim_placement_bytes(const hr_optim_problem *p, int placement)
{
    if (placement == HR_PLACEMENT_RAW)
        return (double)p->input_shape[0] * (double)p->input_shape[1] * (double)p->input_shape[2];
    if (placement == HR_PLACEMENT_LOCAL)
        return 4.0 * (double)p->num_classes;
    if (placement == 0)
        return p->block0_in_bytes;
    return p->lut->blocks[placement - 1].comm_mb[0] * 1e6;
}

double hr_optim_objective_value(const hr_optim_eval *e, hr_objective objective, double omega)
{
    switch (objective) {
    case HR_OBJECTIVE_CYCLE: return e->cycle_ms;
    case HR_OBJECTIVE_EFF: return omega * e->latency_ms + (1 - omega) * e->cycle_ms;
    default: return e->latency_ms;
    }
}

void hr__optim_eval(const hr_optim_problem *p, const int *gamma, int placement, hr_optim_eval *out)
{
    const hr_lut *lut = p->lut;
    int h = p->head, t = p->tail;
    int lo = placement == HR_PLACEMENT_RAW ? 0 : placement == HR_PLACEMENT_LOCAL ? p->n : placement;
    double head = 0, tail = 0, bytes = hr__optim_placement_bytes(p, placement);

    if (placement != HR_PLACEMENT_RAW)
        head += lut->t_stage0_ms[h];
    for (int k = 0; k < lo; k++)
        head += lut->blocks[k].t_ms[h][gamma[k]];
    if (placement == HR_PLACEMENT_LOCAL)
        head += lut->t_classifier_ms[h];
    if (placement == HR_PLACEMENT_RAW)
        tail += lut->t_stage0_ms[t];
    for (int k = lo; k < p->n; k++)
        tail += lut->blocks[k].t_ms[t][gamma[k]];
    if (placement != HR_PLACEMENT_LOCAL)
        tail += lut->t_classifier_ms[t];
    /* Per-frame overhead, last so a LUT without it (0) sums exactly as
     * before; none at local, where nothing is framed (hr_optim_eval). */
    if (placement != HR_PLACEMENT_LOCAL) {
        head += lut->t_frame_ms[h];
        tail += lut->t_frame_ms[t];
    }

    out->placement = placement;
    out->head_ms = head;
    out->tail_ms = tail;
    out->bytes = bytes;
    out->link_ms = hr_link_time_ms(&p->link, bytes);
    out->link_busy_ms = hr_link_occupancy_ms(&p->link, bytes);
    out->latency_ms = head + out->link_ms + tail;
    out->cycle_ms = fmax(head, fmax(out->link_busy_ms, tail));
    out->eff_ms = p->params.eff_omega * out->latency_ms + (1 - p->params.eff_omega) * out->cycle_ms;
    out->fps = out->latency_ms > 0 ? 1000.0 / out->latency_ms : 0;
    out->pipelined_fps = out->cycle_ms > 0 ? 1000.0 / out->cycle_ms : 0;
}

hr_status hr_optim_evaluate(const hr_optim_problem *p, const int *gamma, int placement, hr_optim_eval *out,
                            hr_error *err)
{
    int lo;
    char name[16];
    if (!p || !gamma || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer: evaluate needs a problem, gamma and output");
    if (placement != HR_PLACEMENT_RAW && placement != HR_PLACEMENT_LOCAL && (placement < 0 || placement > p->n))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split %d is outside the model (0..%d)", placement, p->n);
    if (!hr_optim_placement_available(p, placement))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "placement %s needs %s, which the LUT does not provide",
                            placement < 0 ? hr_placement_format(placement, name, sizeof name) : "0",
                            placement == HR_PLACEMENT_RAW     ? "the input shape"
                            : placement == HR_PLACEMENT_LOCAL ? "the class count"
                                                              : "block 0's input shape");
    lo = placement == HR_PLACEMENT_RAW ? 0 : placement == HR_PLACEMENT_LOCAL ? p->n : placement;
    for (int k = 0; k < p->n; k++) {
        const hr_lut_block *b = &p->lut->blocks[k];
        int d = k < lo ? p->head : p->tail;
        char br[64];
        if (!hr_gamma_valid(gamma[k], p->live[k], p->params.mask))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "block %s: gamma %d is not valid for its live branches %s "
                                "under the %s mask", b->name, gamma[k], hr_branch_mask_str(p->live[k], br, sizeof br),
                                p->params.mask == HR_MASK_EXACT ? "exact" : "subset");
        if (b->t_ms[d][gamma[k]] < 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "block %s: gamma %d has no %s time in the LUT", b->name,
                                gamma[k], hr_device_name((hr_device)d));
    }
    hr__optim_eval(p, gamma, placement, out);
    return HR_OK;
}

void hr__optim_finish(const hr_optim_problem *p, hr_optim_result *r, int placement)
{
    r->objective = p->params.objective;
    hr__optim_eval(p, r->gamma, placement, &r->eval);
    r->objective_value = hr_optim_objective_value(&r->eval, r->objective, p->params.eff_omega);
    r->exact_value = p->exact_value[r->objective];
    r->gap_to_exact_pct =
        r->exact_value > 0 ? 100.0 * (r->objective_value - r->exact_value) / r->exact_value : 0.0;
}
