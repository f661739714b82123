/* Run-time edge emulation (SPEC §13.2): this machine plays a slower edge
 * device by ending every unit of the edge's work at the time the device
 * would take.
 *
 * In pseudo mode the client LUT is measured here and scaled per entry by an
 * edge profile (hr_device_lut_emulate_profile) or by a flat factor
 * (hr_device_lut_emulate_flat); the merged LUT then holds the emulated
 * client times. At run time (`hyperrep infer --edge PROFILE |
 * --edge-slowdown F`) the head computes each unit (stage 0, a block, the
 * classifier when the placement keeps it on the edge) as usual and then
 * waits: the unit ends at a deadline, its start plus the time the LUT gives
 * it at the deployed γ. A unit that already took longer ends at once and
 * counts as an overrun: emulation never shortens anything. Waiting is
 * hr_clock_sleep_until, an absolute-deadline sleep with a spin tail of at
 * most 100 µs, so a waiting head leaves its core to the threads that send
 * and receive.
 *
 * Without a LUT (`--edge-slowdown F` alone) there are no device times: a
 * unit then ends at start + F × its own measured duration, i.e. this
 * machine's time of that very run, F times over.
 *
 *   hr_edge_emu *emu;
 *   hr_edge_emu_create(lut, model, cfg.gamma, &emu, &err);   // LUT form
 *   hr_deploy_part_set_edge_emu(head, emu, &err);             // serve.h
 *   ... hr_deploy_part_run_head(head, ...) ...               // units wait
 *   hr_edge_emu_stats st; hr_edge_emu_stats_get(emu, &st);
 *   hr_deploy_part_set_edge_emu(head, NULL, NULL);
 *   hr_edge_emu_destroy(emu);
 *
 * An emulator's units are used by one thread at a time (one per head
 * part). The per-frame overhead T_frame (framing the crossing tensor and
 * handing it to the socket) is emulated on the link thread, which is the
 * one that does that work: hr_edge_emu_frame, safe beside the units. */
#ifndef HYPERREP_EDGE_EMULATE_H
#define HYPERREP_EDGE_EMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/error.h"
#include "hyperrep/lut.h"
#include "hyperrep/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Units besides blocks 0..N-1. */
#define HR_EDGE_EMU_STAGE0 (-1)
#define HR_EDGE_EMU_CLASSIFIER (-2)

typedef struct hr_edge_emu hr_edge_emu;

/* ---- the arithmetic (pure; what the unit tests check) ---- */

/* The deadline of a unit that started at start_ns and takes time_ms on the
 * emulated device: start_ns + time_ms · 1e6, rounded to the nearest ns.
 * start_ns itself when time_ms is not a positive finite number. */
int64_t hr_edge_emu_deadline_ns(int64_t start_ns, double time_ms);

/* The flat form without a LUT: a unit that ran from start_ns to end_ns on
 * this machine ends at start_ns + slowdown · (end_ns − start_ns) (rounded).
 * end_ns itself when slowdown < 1, is not finite, or end_ns < start_ns. */
int64_t hr_edge_emu_flat_deadline_ns(int64_t start_ns, int64_t end_ns, double slowdown);

/* The time a LUT gives one unit on the client: t_ms[HR_DEVICE_CLIENT][γ] of
 * block `unit` (0..nblocks-1) at γ = gamma, t_stage0_ms[HR_DEVICE_CLIENT]
 * for HR_EDGE_EMU_STAGE0, t_classifier_ms[HR_DEVICE_CLIENT] for
 * HR_EDGE_EMU_CLASSIFIER (gamma ignored). -1 when the LUT has no such time
 * (an invalid γ entry, no stage times measured, a unit out of range). */
double hr_edge_emu_lut_time_ms(const hr_lut *lut, int unit, int gamma);

/* ---- emulators ---- */

/* An emulator whose units take the merged LUT's client times (SPEC §13.2):
 * block k at gamma[k] (explicit γ, 0..HR_GAMMA_COUNT-1: resolve the
 * deployment first), stage 0 and the classifier at the LUT's stage times
 * (units without one, in a LUT that has no stage times, are not emulated:
 * they run at this machine's speed and count in `untimed`). The LUT must
 * describe `model`: same number of blocks, same block names in order, and
 * the input shape when the LUT records one (HR_ERR_INVALID_ARG naming the
 * LUT's and the model's values); a block whose γ has no valid client time
 * is HR_ERR_INVALID_ARG naming block and γ. The LUT and model are not kept.
 * *out is untouched on failure. HR_ERR_NOMEM. */
hr_status hr_edge_emu_create(const hr_lut *lut, const hr_model *model, const int *gamma, hr_edge_emu **out,
                             hr_error *err);

/* The flat form without a LUT: every unit ends at start + slowdown × its
 * measured duration (hr_edge_emu_flat_deadline_ns). slowdown finite and
 * >= 1 (an emulation only slows down): HR_ERR_INVALID_ARG otherwise.
 * HR_ERR_NOMEM. */
hr_status hr_edge_emu_create_flat(double slowdown, hr_edge_emu **out, hr_error *err);

/* NULL is a no-op. */
void hr_edge_emu_destroy(hr_edge_emu *e);

/* A unit (a block 0..N-1, HR_EDGE_EMU_STAGE0 or HR_EDGE_EMU_CLASSIFIER)
 * starts now: records its start time. */
void hr_edge_emu_begin(hr_edge_emu *e, int unit);

/* The unit begun last has been computed: waits until its deadline (LUT
 * form: start + its LUT time; flat form: start + slowdown × the time since
 * begin) and updates the counters. Returns at once, counting an overrun,
 * when the deadline has passed already. `unit` must be the unit of the
 * last hr_edge_emu_begin (a programmer error otherwise, asserted). */
void hr_edge_emu_end(hr_edge_emu *e, int unit);

/* The unit's emulated time in ms: its LUT time (LUT form), -1 when the
 * unit is not emulated or in the flat form (it depends on the run). */
double hr_edge_emu_time_ms(const hr_edge_emu *e, int unit);

/* The wait that makes a frame's framing take the emulated time (pure; what
 * the unit tests check): with a T_frame (frame_ms > 0), frame_ms less
 * host_ns, the CPU this machine spends on the same frame's framing and
 * result anyway; without (frame_ms <= 0), the flat form's (slowdown − 1) ×
 * host_ns. Never below 0. */
int64_t hr_edge_emu_frame_wait_ns(double frame_ms, double slowdown, int64_t host_ns);

/* The edge's per-frame overhead (T_frame) of one frame, on the link thread,
 * called just before the frame is framed and sent (start_ns = now): waits
 * until start + hr_edge_emu_frame_wait_ns(the LUT's client T_frame, or
 * the flat factor; host_ns). host_ns is the link thread's own CPU time per
 * frame (its thread clock between two sends: one send and one result),
 * so the thread is busy the emulated T_frame per frame in all, and that
 * time passes before the bytes leave, as on that device. A LUT without
 * T_frame: no wait, counted as untimed. Returns at once, counting an
 * overrun, when the deadline has passed. Safe to call from one thread
 * while another uses the units: it keeps its own counters (frames,
 * frame_untimed, frame_overruns, atomic). */
void hr_edge_emu_frame(hr_edge_emu *e, int64_t start_ns, int64_t host_ns);

/* The LUT's client T_frame in ms; -1 in the flat form or when the LUT has
 * none. */
double hr_edge_emu_frame_ms(const hr_edge_emu *e);

/* 1 for the flat form without a LUT, 0 for the LUT form. */
int hr_edge_emu_is_flat(const hr_edge_emu *e);

/* Counters since creation or the last hr_edge_emu_stats_reset. */
typedef struct hr_edge_emu_stats {
    int64_t units;        /* units ended (hr_edge_emu_end calls) */
    int64_t untimed;      /* of which had no emulated time: ran at this machine's speed */
    int64_t waits;        /* of which finished early and waited for their deadline */
    int64_t overruns;     /* of which had passed their deadline already (no wait) */
    double target_ms;     /* sum of the units' emulated times (LUT times; flat: F × measured) */
    double host_ms;       /* sum of the units' own durations here, begin to computed */
    double emulated_ms;   /* sum of begin to the return of end: what the emulated edge took */
    double overrun_ms;    /* sum of how far overrunning units went past their deadline */
    double late_ms;       /* sum of how late the waits returned after their deadline (the
                             wake-up error of hr_clock_sleep_until; ideally ~0) */
    int64_t frames;       /* frames whose framing was emulated (hr_edge_emu_frame) */
    int64_t frame_untimed; /* of which had no T_frame (a LUT without one) */
    int64_t frame_overruns; /* of which had passed their deadline already */
} hr_edge_emu_stats;

void hr_edge_emu_stats_get(const hr_edge_emu *e, hr_edge_emu_stats *out);
void hr_edge_emu_stats_reset(hr_edge_emu *e);

/* ---- a run's request ---- */

typedef struct hr_edge_emu_params {
    const char *profile;   /* `--edge PROFILE`: the edge profile the LUT's client must have
                              been emulated from (a LUT is then required); NULL: none */
    double slowdown;       /* `--edge-slowdown F`: flat factor >= 1; 0: none */
    const hr_lut *lut;     /* the merged LUT whose client times time the units; NULL: none */
    const char *lut_name;  /* names the LUT in messages (its file); NULL: "the LUT" */
} hr_edge_emu_params;

/* Nothing asked: no profile, no slowdown, no LUT. */
hr_edge_emu_params hr_edge_emu_params_default(void);

/* The emulator a run asks for, or *out = NULL (HR_OK) when it asks for
 * none (no profile, no slowdown). With a LUT, the units take its client
 * times (hr_edge_emu_create) once hr_edge_emu_lut_check accepts the
 * request; with a slowdown and no LUT, the flat form. HR_ERR_INVALID_ARG
 * when both profile and slowdown are set, for a profile without a LUT
 * (the profile's times live in the LUT emulated from it), for a slowdown
 * that is not a finite factor >= 1, and for the errors of
 * hr_edge_emu_lut_check and hr_edge_emu_create. */
hr_status hr_edge_emu_setup(const hr_edge_emu_params *params, const hr_model *model, const int *gamma,
                            hr_edge_emu **out, hr_error *err);

/* ---- what a merged LUT was planned for ---- */

/* 1 when the LUT's client times emulate a slower edge (an edge profile is
 * recorded in edge_profile[HR_DEVICE_CLIENT], or the client's slowdown is
 * not 1), with a description in buf ("edge profile rpi4 (whole model x
 * 7.31)", "a flat slowdown x 4"); 0 otherwise (a real device, or this
 * machine at its own speed, "this machine, 1 thread"), buf then empty. buf
 * may be NULL when n is 0. */
int hr_edge_emu_lut_planned(const hr_lut *lut, char *buf, size_t n);

/* Checks a run-time request against the LUT that will time it. profile
 * (NULL: none) must be the profile the LUT's client was emulated from
 * (edge_profile[HR_DEVICE_CLIENT]); slowdown (0: none) must equal the
 * client's flat slowdown (relative difference below 1e-6) of a LUT not
 * emulated from a profile. HR_ERR_INVALID_ARG naming lut_name, the
 * request and what the LUT records otherwise. Both unset: HR_OK. */
hr_status hr_edge_emu_lut_check(const hr_lut *lut, const char *lut_name, const char *profile, double slowdown,
                                hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
