/* Test-only helpers for tests/optim/: merged LUTs built in memory (random
 * small ones and the reference-based RepVGG-B3 / Jetson TX2 one) and an
 * independent evaluator used as the brute-force reference. Header-only:
 * every test file is its own executable. */
#ifndef HR_OPTIM_TEST_UTIL_H
#define HR_OPTIM_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"
#include "ref_lut_tx2.h"

/* Block k of an n-block test LUT: stages 1..4 spread over the blocks (every
 * stage present once n >= 4), indices contiguous, as the validator wants. */
static inline void ot_block_name(int n, int k, char *buf, size_t size)
{
    int stage = n >= 4 ? 1 + k * 4 / n : 1 + k, first = 0;
    while (first < k && (n >= 4 ? 1 + first * 4 / n : 1 + first) != stage)
        first++;
    snprintf(buf, size, "stage%d.%d", stage, k - first);
}

/* A LUT whose block k has the branch set existing[k]: every γ valid for it
 * (subset rule) gets random times in [0.1, 10) ms on both devices, shapes
 * of a 16..64-channel block, random Comm_size; stage times when asked. */
static inline hr_lut *ot_random_lut(hr_test_rng *rng, int n, const unsigned *existing, int stage_times, int io)
{
    hr_error err = {0};
    hr_lut *lut = NULL;
    HR_ASSERT_OK(hr_lut_create(n, &lut, &err), &err);
    snprintf(lut->model, sizeof lut->model, "test");
    for (int k = 0; k < n; k++) {
        hr_lut_block *b = &lut->blocks[k];
        int64_t c = 16 * (1 + (int64_t)(hr_test_uniform(rng, 0, 4))), h = 4 + (int64_t)hr_test_uniform(rng, 0, 8);
        ot_block_name(n, k, b->name, sizeof b->name);
        b->in_shape[0] = b->out_shape[0] = 1;
        b->in_shape[1] = c;
        b->out_shape[1] = existing[k] & HR_BR_IDENTITY ? c : 2 * c;
        b->in_shape[2] = b->in_shape[3] = h;
        b->out_shape[2] = b->out_shape[3] = existing[k] & HR_BR_IDENTITY ? h : (h + 1) / 2;
        b->groups = 1;
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            int ok = hr_gamma_valid(g, existing[k], HR_MASK_SUBSET);
            for (int d = 0; d < HR_DEVICE_COUNT; d++)
                b->t_ms[d][g] = ok ? hr_test_uniform(rng, 0.1f, 10.0f) : -1.0;
            b->intensity[g] = hr_block_cost_eval(g, b->in_shape, b->out_shape, 1).intensity;
        }
        b->comm_mb[0] = hr_test_uniform(rng, 0.01f, 2.0f);
        b->comm_mb[1] = 2 * b->comm_mb[0];
        b->comm_mb[2] = 3 * b->comm_mb[0];
    }
    lut->link.bandwidth_mbit_s = hr_test_uniform(rng, 20, 1000);
    lut->link.latency_ms = hr_test_uniform(rng, 0, 3);
    lut->link.per_message_ms = hr_test_uniform(rng, 0, 0.5f);
    if (stage_times) {
        lut->has_stage_times = 1;
        for (int d = 0; d < HR_DEVICE_COUNT; d++) {
            lut->t_stage0_ms[d] = hr_test_uniform(rng, 0.1f, 5);
            lut->t_classifier_ms[d] = hr_test_uniform(rng, 0.01f, 1);
        }
    }
    if (io) {
        lut->input_shape[0] = 3;
        lut->input_shape[1] = lut->input_shape[2] = 2 * lut->blocks[0].in_shape[2];
        lut->num_classes = 10;
    }
    return lut;
}

/* The reference-based RepVGG-B3 LUT (tests/optim/make_ref_lut.py): client
 * = the Jetson TX2 columns of full_gamma_analysis.md. */
static inline hr_lut *ot_ref_lut(void)
{
    hr_error err = {0};
    hr_lut *lut = NULL;
    HR_ASSERT_OK(hr_lut_create(HR_REF_NBLOCKS, &lut, &err), &err);
    snprintf(lut->model, sizeof lut->model, "RepVGG-B3");
    for (int k = 0; k < HR_REF_NBLOCKS; k++) {
        const hr_ref_block *r = &hr_ref_lut_tx2[k];
        hr_lut_block *b = &lut->blocks[k];
        snprintf(b->name, sizeof b->name, "%s", r->name);
        for (int j = 0; j < 4; j++) {
            b->in_shape[j] = r->in_shape[j];
            b->out_shape[j] = r->out_shape[j];
        }
        b->groups = 1;
        memcpy(b->t_ms[HR_DEVICE_SERVER], r->t_server, sizeof r->t_server);
        memcpy(b->t_ms[HR_DEVICE_CLIENT], r->t_client, sizeof r->t_client);
        memcpy(b->comm_mb, r->comm_mb, sizeof r->comm_mb);
        memcpy(b->intensity, r->intensity, sizeof r->intensity);
    }
    lut->link.bandwidth_mbit_s = 100;
    lut->link.latency_ms = 1;
    lut->link.source = HR_BW_ORIGINAL_MBPS;
    lut->input_shape[0] = 3;
    lut->input_shape[1] = lut->input_shape[2] = 224;
    lut->num_classes = 1000;
    return lut;
}

/* Reference evaluation written straight from SPEC §6.3 (no shared code
 * with src/optim): returns the objective value of (gamma, placement), or
 * INFINITY when the placement needs data the LUT lacks. placement -1 = raw,
 * -2 = local. */
static inline double ot_eval(const hr_lut *lut, hr_device head, const int *gamma, int placement, int objective,
                             double omega, double *lat_out, double *cyc_out)
{
    hr_device tail = head == HR_DEVICE_CLIENT ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
    int n = lut->nblocks, s = placement == -1 ? 0 : placement == -2 ? n : placement;
    double h = 0, t = 0, bytes = 0;
    if (placement == -1) {
        if (!lut->input_shape[0])
            return INFINITY;
        bytes = (double)(lut->input_shape[0] * lut->input_shape[1] * lut->input_shape[2]);
        t += lut->t_stage0_ms[tail];
    } else {
        h += lut->t_stage0_ms[head];
    }
    if (placement == -2) {
        if (!lut->num_classes)
            return INFINITY;
        bytes = 4.0 * (double)lut->num_classes;
        h += lut->t_classifier_ms[head];
    } else {
        t += lut->t_classifier_ms[tail];
    }
    if (placement == 0) {
        const int64_t *in = lut->blocks[0].in_shape;
        bytes = 4.0 * (double)(in[0] * in[1] * in[2] * in[3]);
    } else if (placement > 0) {
        bytes = lut->blocks[placement - 1].comm_mb[0] * 1e6;
    }
    for (int k = 0; k < n; k++) {
        double v = lut->blocks[k].t_ms[k < s ? head : tail][gamma[k]];
        if (v < 0)
            return INFINITY;
        if (k < s)
            h += v;
        else
            t += v;
    }
    /* SPEC §13.1: each side's per-frame overhead, except at local where
     * nothing is framed (0 when the LUT has none). */
    if (placement != -2) {
        h += lut->t_frame_ms[head];
        t += lut->t_frame_ms[tail];
    }
    double secs = bytes * 8.0 / (lut->link.bandwidth_mbit_s * 1e6) * 1e3;
    double lat = h + t + lut->link.latency_ms + secs;
    double cyc = fmax(h, fmax(t, secs + lut->link.per_message_ms));
    if (lat_out)
        *lat_out = lat;
    if (cyc_out)
        *cyc_out = cyc;
    return objective == 0 ? lat : objective == 1 ? cyc : omega * lat + (1 - omega) * cyc;
}

#endif
