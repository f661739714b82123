/* The report pieces, log sink and edge emulation flags of `hyperrep infer`. */
#include "infer.h"

#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "hyperrep/clock.h"
#include "hyperrep/lut.h"

void hr_infer_timestamp(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tmv);
}

json_t *hr_infer_dist_json(const hr_edge_dist *d)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "p50", d->p50, "p95", d->p95, "p99", d->p99, "mean", d->mean,
                     "max", d->max, "n", (json_int_t)d->n);
}

void hr_infer_log_stderr(void *user, hr_log_level level, const char *line)
{
    (void)user;
    (void)level;
    fprintf(stderr, "hyperrep infer: %s\n", line);
}

hr_status hr_infer_edge_setup(hr_infer_edge *ie, const char *lut_path, hr_edge *edge, json_t *notes,
                              hr_error *err)
{
    const hr_deploy_config *cfg = hr_edge_config(edge);
    hr_edge_emu_params ep = hr_edge_emu_params_default();
    hr_lut *lut = NULL;
    hr_error le = {0};
    int asked = ie->flags.profile || ie->flags.slowdown > 0;
    hr_status st = HR_OK;

    ie->planned[0] = '\0';
    ie->units_per_frame = cfg->split == HR_PLACEMENT_RAW     ? 0
                          : cfg->split == HR_PLACEMENT_LOCAL ? cfg->nblocks + 2
                                                          : cfg->split + 1;
    if (lut_path && hr_lut_load(lut_path, &lut, &le)) {
        /* without a flag the prediction reports the problem; with one the
         * LUT was meant to time the edge */
        if (asked)
            return hr_error_set(err, le.status, "%s", le.msg);
        return HR_OK;
    }
    if (lut && hr_edge_emu_lut_planned(lut, ie->planned, sizeof ie->planned) && !asked) {
        char note[600];
        snprintf(note, sizeof note, "%s was planned for an emulated edge (%s), but this run does not emulate it: "
                 "the head runs at this machine's speed (pass --edge or --edge-slowdown to run as that edge)",
                 lut_path, ie->planned);
        fprintf(stderr, "hyperrep infer: warning: %s\n", note);
        json_array_append_new(notes, json_string(note));
    }
    ep.profile = ie->flags.profile;
    ep.slowdown = ie->flags.slowdown;
    ep.lut = lut;
    ep.lut_name = lut_path;
    if ((st = hr_edge_emu_setup(&ep, hr_deploy_part_model(hr_edge_part(edge)), cfg->gamma, &ie->emu, err)) ||
        (ie->emu && (st = hr_edge_set_emu(edge, ie->emu, err))))
        goto out;
    if (ie->emu && cfg->split == HR_PLACEMENT_RAW)
        json_array_append_new(notes, json_string("edge emulation: the raw placement's head only quantises the frame, "
                                                 "which no LUT entry times: only the framing (T_frame) is emulated, "
                                                 "on the link thread (none in-process, where there is no link)"));
    if (ie->emu)
        json_array_append_new(notes, json_string("edge emulation: each head unit (stage 0, a block, the classifier "
                                                 "under the local placement) ends at its start plus its emulated "
                                                 "time, and the link thread spends the LUT's client T_frame on "
                                                 "each frame before sending it (flat form: its send x the factor; "
                                                 "in-process there is no link and no framing)"));
out:
    hr_lut_destroy(lut);
    return st;
}

json_t *hr_infer_edge_json(const hr_infer_edge *ie, const char *lut_path, int64_t frames)
{
    hr_edge_emu_stats s;
    double n = frames > 0 ? (double)frames : 1;
    json_t *o;
    if (!ie->emu)
        return json_pack("{s:s, s:s?}", "mode", "none", "lut_planned_for", ie->planned[0] ? ie->planned : NULL);
    hr_edge_emu_stats_get(ie->emu, &s);
    o = json_pack("{s:s, s:s?, s:f, s:s, s:s?, s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:I, s:f, s:I, s:f}", "mode",
                  ie->flags.profile ? "profile" : "flat", "profile", ie->flags.profile, "slowdown",
                  ie->flags.profile ? 0.0 : ie->flags.slowdown, "times",
                  hr_edge_emu_is_flat(ie->emu) ? "this machine's duration of each unit x slowdown"
                                               : "the LUT's client time of each unit",
                  "lut", hr_edge_emu_is_flat(ie->emu) ? NULL : lut_path, "frames", (json_int_t)frames,
                  "units_per_frame", (json_int_t)ie->units_per_frame, "emulated_ms_per_frame", s.emulated_ms / n,
                  "target_ms_per_frame", s.target_ms / n, "host_ms_per_frame", s.host_ms / n, "overruns",
                  (json_int_t)s.overruns, "overrun_ms", s.overrun_ms, "waits", (json_int_t)s.waits,
                  "late_ms_per_frame", s.late_ms / n, "untimed_units", (json_int_t)s.untimed, "spin_tail_us",
                  (double)HR_CLOCK_SPIN_TAIL_NS / 1e3);
    if (o && ie->flags.profile)
        json_object_set_new(o, "slowdown", json_null());
    if (o) {
        double fm = hr_edge_emu_frame_ms(ie->emu);
        json_object_set_new(o, "framing", json_pack("{s:I, s:o, s:I, s:I}", "frames", (json_int_t)s.frames,
                                                    "t_frame_ms", fm > 0 ? json_real(fm) : json_null(), "untimed",
                                                    (json_int_t)s.frame_untimed, "overruns",
                                                    (json_int_t)s.frame_overruns));
    }
    if (o && ie->planned[0])
        json_object_set_new(o, "lut_planned_for", json_string(ie->planned));
    return o;
}

void hr_infer_edge_print(const hr_infer_edge *ie, int64_t frames)
{
    hr_edge_emu_stats s;
    double n = frames > 0 ? (double)frames : 1;
    char what[64];
    if (!ie->emu)
        return;
    hr_edge_emu_stats_get(ie->emu, &s);
    if (ie->flags.profile)
        snprintf(what, sizeof what, "edge profile %s", ie->flags.profile);
    else
        snprintf(what, sizeof what, "slowdown x %g", ie->flags.slowdown);
    printf("infer: edge emulated (%s, %s): %.3f ms per frame on the edge units (target %.3f, this machine %.3f), "
           "%lld overrun%s\n",
           what, hr_edge_emu_is_flat(ie->emu) ? "measured x factor" : "LUT times", s.emulated_ms / n,
           s.target_ms / n, s.host_ms / n, (long long)s.overruns, s.overruns == 1 ? "" : "s");
}

void hr_infer_edge_deinit(hr_infer_edge *ie)
{
    hr_edge_emu_destroy(ie->emu);
    ie->emu = NULL;
}
