/* Run-time edge emulation (edge_emulate.h, SPEC §13.2): units of the edge's
 * work end at deadlines taken from the merged LUT's client times. */
#include "hyperrep/edge_emulate.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/clock.h"

struct hr_edge_emu {
    int flat;             /* 1: no LUT, deadline = start + slowdown × measured */
    double slowdown;      /* flat form */
    int nblocks;
    double *block_ms;     /* [nblocks] LUT times at the deployed γ; -1: not emulated */
    double stage0_ms, classifier_ms;
    int unit;             /* the unit begun last; NO_UNIT when none */
    int64_t start_ns;
    hr_edge_emu_stats st;
    /* T_frame, emulated on the link thread beside the head's units: */
    double frame_ms;      /* the LUT's client T_frame; -1: none */
    atomic_llong frames, frame_untimed, frame_overruns;
};

#define NO_UNIT (-1000)

int64_t hr_edge_emu_deadline_ns(int64_t start_ns, double time_ms)
{
    if (!(time_ms > 0) || !isfinite(time_ms))
        return start_ns;
    return start_ns + (int64_t)llround(time_ms * 1e6);
}

int64_t hr_edge_emu_flat_deadline_ns(int64_t start_ns, int64_t end_ns, double slowdown)
{
    if (!(slowdown >= 1) || !isfinite(slowdown) || end_ns < start_ns)
        return end_ns;
    return start_ns + (int64_t)llround(slowdown * (double)(end_ns - start_ns));
}

double hr_edge_emu_lut_time_ms(const hr_lut *lut, int unit, int gamma)
{
    double t;
    if (unit == HR_EDGE_EMU_STAGE0 || unit == HR_EDGE_EMU_CLASSIFIER) {
        if (!lut->has_stage_times)
            return -1;
        t = unit == HR_EDGE_EMU_STAGE0 ? lut->t_stage0_ms[HR_DEVICE_CLIENT] : lut->t_classifier_ms[HR_DEVICE_CLIENT];
    } else {
        if (unit < 0 || unit >= lut->nblocks || gamma < 0 || gamma >= HR_GAMMA_COUNT)
            return -1;
        t = lut->blocks[unit].t_ms[HR_DEVICE_CLIENT][gamma];
    }
    return t > 0 && isfinite(t) ? t : -1;
}

/* The checks behind hr_edge_emu_create: the LUT must time this model, or
 * its deadlines would belong to other blocks. */
static hr_status check_lut_model(const hr_lut *lut, const hr_model *model, hr_error *err)
{
    int n = hr_model_num_blocks(model);
    const char *arch = hr_model_arch(model)->name;
    if (lut->nblocks != n)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the LUT describes %s (%d blocks), the model is "
                            "%s (%d blocks)", lut->model, lut->nblocks, arch, n);
    for (int k = 0; k < n; k++)
        if (strcmp(lut->blocks[k].name, hr_model_block(model, k).name) != 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the LUT's block %d is %s, the model's %s",
                                k, lut->blocks[k].name, hr_model_block(model, k).name);
    if (lut->input_shape[0] && (lut->input_shape[0] != hr_model_in_channels(model) ||
                                lut->input_shape[1] != hr_model_input_size(model) ||
                                lut->input_shape[2] != hr_model_input_size(model)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the LUT was measured at input %lldx%lldx%lld, "
                            "the model takes %lldx%lldx%lld", (long long)lut->input_shape[0],
                            (long long)lut->input_shape[1], (long long)lut->input_shape[2],
                            (long long)hr_model_in_channels(model), (long long)hr_model_input_size(model),
                            (long long)hr_model_input_size(model));
    return HR_OK;
}

hr_status hr_edge_emu_create(const hr_lut *lut, const hr_model *model, const int *gamma, hr_edge_emu **out,
                             hr_error *err)
{
    hr_edge_emu *e;
    hr_status st;
    int n;
    if (!lut || !model || !gamma || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: a LUT, a model and the gamma are required");
    if ((st = check_lut_model(lut, model, err)))
        return st;
    n = lut->nblocks;
    for (int k = 0; k < n; k++)
        if (hr_edge_emu_lut_time_ms(lut, k, gamma[k]) < 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: block %s at gamma %d (%s) has no client "
                                "time in the LUT", lut->blocks[k].name, gamma[k],
                                hr_gamma_get(gamma[k]) ? hr_gamma_get(gamma[k])->name : "out of range");
    if (!(e = calloc(1, sizeof *e)) || !(e->block_ms = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)))) {
        free(e);
        return hr_error_set(err, HR_ERR_NOMEM, "edge emulation: out of memory");
    }
    e->nblocks = n;
    for (int k = 0; k < n; k++)
        e->block_ms[k] = hr_edge_emu_lut_time_ms(lut, k, gamma[k]);
    e->stage0_ms = hr_edge_emu_lut_time_ms(lut, HR_EDGE_EMU_STAGE0, 0);
    e->classifier_ms = hr_edge_emu_lut_time_ms(lut, HR_EDGE_EMU_CLASSIFIER, 0);
    e->slowdown = lut->slowdown[HR_DEVICE_CLIENT];
    e->frame_ms = lut->has_frame_times && lut->t_frame_ms[HR_DEVICE_CLIENT] > 0 &&
                          isfinite(lut->t_frame_ms[HR_DEVICE_CLIENT])
                      ? lut->t_frame_ms[HR_DEVICE_CLIENT]
                      : -1;
    e->unit = NO_UNIT;
    *out = e;
    return HR_OK;
}

hr_status hr_edge_emu_create_flat(double slowdown, hr_edge_emu **out, hr_error *err)
{
    hr_edge_emu *e;
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: no output");
    if (!(slowdown >= 1) || !isfinite(slowdown))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: slowdown %g is not a finite factor >= 1 (an "
                            "emulation can only slow this machine down)", slowdown);
    if (!(e = calloc(1, sizeof *e)))
        return hr_error_set(err, HR_ERR_NOMEM, "edge emulation: out of memory");
    e->flat = 1;
    e->slowdown = slowdown;
    e->frame_ms = -1;
    e->unit = NO_UNIT;
    *out = e;
    return HR_OK;
}

void hr_edge_emu_destroy(hr_edge_emu *e)
{
    if (!e)
        return;
    free(e->block_ms);
    free(e);
}

double hr_edge_emu_time_ms(const hr_edge_emu *e, int unit)
{
    if (e->flat)
        return -1;
    if (unit == HR_EDGE_EMU_STAGE0)
        return e->stage0_ms;
    if (unit == HR_EDGE_EMU_CLASSIFIER)
        return e->classifier_ms;
    return unit >= 0 && unit < e->nblocks ? e->block_ms[unit] : -1;
}

int hr_edge_emu_is_flat(const hr_edge_emu *e) { return e->flat; }

void hr_edge_emu_begin(hr_edge_emu *e, int unit)
{
    e->unit = unit;
    e->start_ns = hr_clock_now_ns();
}

void hr_edge_emu_end(hr_edge_emu *e, int unit)
{
    int64_t done = hr_clock_now_ns(), deadline;
    double t;
    assert(unit == e->unit && "hr_edge_emu_end: not the unit begun last");
    e->unit = NO_UNIT;
    e->st.units++;
    e->st.host_ms += (double)(done - e->start_ns) / 1e6;
    if (e->flat) {
        deadline = hr_edge_emu_flat_deadline_ns(e->start_ns, done, e->slowdown);
    } else if ((t = hr_edge_emu_time_ms(e, unit)) > 0) {
        deadline = hr_edge_emu_deadline_ns(e->start_ns, t);
    } else {
        /* no device time: the unit runs at this machine's speed */
        e->st.untimed++;
        e->st.target_ms += (double)(done - e->start_ns) / 1e6;
        e->st.emulated_ms += (double)(done - e->start_ns) / 1e6;
        return;
    }
    e->st.target_ms += (double)(deadline - e->start_ns) / 1e6;
    if (done >= deadline) {
        /* a flat factor of 1 lands exactly on the end: no wait, no overrun */
        e->st.overruns += done > deadline;
        e->st.overrun_ms += (double)(done - deadline) / 1e6;
        e->st.emulated_ms += (double)(done - e->start_ns) / 1e6;
        return;
    }
    hr_clock_sleep_until(deadline);
    int64_t back = hr_clock_now_ns();
    e->st.waits++;
    e->st.late_ms += (double)(back - deadline) / 1e6;
    e->st.emulated_ms += (double)(back - e->start_ns) / 1e6;
}

int64_t hr_edge_emu_frame_wait_ns(double frame_ms, double slowdown, int64_t host_ns)
{
    int64_t w;
    if (host_ns < 0)
        host_ns = 0;
    if (frame_ms > 0 && isfinite(frame_ms))
        w = (int64_t)llround(frame_ms * 1e6) - host_ns;
    else if (slowdown >= 1 && isfinite(slowdown))
        w = (int64_t)llround((slowdown - 1) * (double)host_ns);
    else
        w = 0;
    return w > 0 ? w : 0;
}

void hr_edge_emu_frame(hr_edge_emu *e, int64_t start_ns, int64_t host_ns)
{
    int64_t deadline;
    if (!e)
        return;
    atomic_fetch_add(&e->frames, 1);
    if (e->flat || e->frame_ms > 0)
        deadline = start_ns + hr_edge_emu_frame_wait_ns(e->flat ? -1 : e->frame_ms, e->slowdown, host_ns);
    else {
        atomic_fetch_add(&e->frame_untimed, 1);
        return;
    }
    if (hr_clock_now_ns() >= deadline)
        atomic_fetch_add(&e->frame_overruns, 1);
    else
        hr_clock_sleep_until(deadline);
}

double hr_edge_emu_frame_ms(const hr_edge_emu *e) { return e && !e->flat ? e->frame_ms : -1; }

/* The units' counters belong to the head's thread; the frames' are atomic
 * because the link thread counts them meanwhile. */
void hr_edge_emu_stats_get(const hr_edge_emu *e, hr_edge_emu_stats *out)
{
    *out = e->st;
    out->frames = atomic_load(&((hr_edge_emu *)e)->frames);
    out->frame_untimed = atomic_load(&((hr_edge_emu *)e)->frame_untimed);
    out->frame_overruns = atomic_load(&((hr_edge_emu *)e)->frame_overruns);
}

void hr_edge_emu_stats_reset(hr_edge_emu *e)
{
    memset(&e->st, 0, sizeof e->st);
    atomic_store(&e->frames, 0);
    atomic_store(&e->frame_untimed, 0);
    atomic_store(&e->frame_overruns, 0);
}

/* The client slowdown of a LUT, where a file that records none reads 1. */
static double client_slowdown(const hr_lut *lut)
{
    double f = lut->slowdown[HR_DEVICE_CLIENT];
    return f > 0 && isfinite(f) ? f : 1;
}

int hr_edge_emu_lut_planned(const hr_lut *lut, char *buf, size_t n)
{
    const char *prof = lut->edge_profile[HR_DEVICE_CLIENT];
    double f = client_slowdown(lut);
    if (buf && n)
        buf[0] = '\0';
    if (prof[0]) {
        if (buf && n)
            snprintf(buf, n, "edge profile %s (whole model x %.3g)", prof, f);
        return 1;
    }
    /* "this machine, 1 thread" at factor 1 is an emulation in name only:
     * the deployment is planned for this machine's speed, which a run here
     * gives without emulating anything. */
    if (f != 1) {
        if (buf && n)
            snprintf(buf, n, "a flat slowdown x %g (%.200s)", f,
                     lut->emulated[HR_DEVICE_CLIENT][0] ? lut->emulated[HR_DEVICE_CLIENT] : "no description");
        return 1;
    }
    return 0;
}

hr_status hr_edge_emu_lut_check(const hr_lut *lut, const char *lut_name, const char *profile, double slowdown,
                                hr_error *err)
{
    const char *lp = lut->edge_profile[HR_DEVICE_CLIENT];
    double f = client_slowdown(lut);
    const char *name = lut_name ? lut_name : "the LUT";
    if (profile && profile[0]) {
        if (!lp[0])
            return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge %s, but %s's client was not emulated from an edge "
                                "profile (%s): measure the client with `lut measure --role client --edge %s` and "
                                "merge again", profile, name,
                                f != 1 ? "it has a flat slowdown" : "it is this machine at its own speed", profile);
        if (strcmp(lp, profile) != 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge %s, but %s's client was emulated from edge profile "
                                "%s", profile, name, lp);
    }
    if (slowdown > 0) {
        if (lp[0])
            return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge-slowdown %g, but %s's client was emulated from edge "
                                "profile %s (whole model x %.3g), not a flat slowdown: use --edge %s", slowdown,
                                name, lp, f, lp);
        if (fabs(f - slowdown) > 1e-6 * fmax(f, slowdown))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge-slowdown %g, but %s's client slowdown is %g",
                                slowdown, name, f);
    }
    return HR_OK;
}

hr_edge_emu_params hr_edge_emu_params_default(void)
{
    hr_edge_emu_params p;
    memset(&p, 0, sizeof p);
    return p;
}

hr_status hr_edge_emu_setup(const hr_edge_emu_params *params, const hr_model *model, const int *gamma,
                            hr_edge_emu **out, hr_error *err)
{
    const char *prof = params->profile && params->profile[0] ? params->profile : NULL;
    const char *name = params->lut_name ? params->lut_name : "the LUT";
    hr_status st;
    if (!prof && params->slowdown == 0) {
        *out = NULL;
        return HR_OK;
    }
    if (prof && params->slowdown != 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge %s and --edge-slowdown %g are exclusive (one emulated "
                            "edge per run)", prof, params->slowdown);
    if (!prof && (!(params->slowdown >= 1) || !isfinite(params->slowdown)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge-slowdown %g is not a finite factor >= 1 (an emulation "
                            "can only slow this machine down)", params->slowdown);
    if (prof && !params->lut)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "--edge %s needs --lut: the edge's times are a merged LUT whose "
                            "client was emulated with that profile (`lut measure --role client --edge %s`, then "
                            "`lut merge`)", prof, prof);
    if (!params->lut)
        return hr_edge_emu_create_flat(params->slowdown, out, err);
    if ((st = hr_edge_emu_lut_check(params->lut, name, prof, params->slowdown, err)))
        return st;
    if ((st = hr_edge_emu_create(params->lut, model, gamma, out, err)))
        hr_error_prefix(err, "%s", name);
    return st;
}
