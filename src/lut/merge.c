/* Merging a server and a client per-device LUT into the LUT the optimizers
 * read (SPEC §5). */
#include "lut/lut_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

hr_lut_merge_params hr_lut_merge_params_default(void)
{
    hr_lut_merge_params p;
    memset(&p, 0, sizeof p);
    p.stat = HR_LUT_STAT_MEDIAN;
    return p;
}

static const char *src(const hr_device_lut *d)
{
    return d->source[0] ? d->source : hr_device_name(d->role);
}

static void append_note(hr_lut *lut, const char *text)
{
    size_t n = strlen(lut->note);
    snprintf(lut->note + n, sizeof lut->note - n, "%s%s", n ? " " : "", text);
}

/* Device d's knee, peak and bandwidth, and where they came from, by the
 * precedence hr_lut_merge documents. A roofline given for an emulated device
 * describes the host that ran the emulation, not the edge, so the profile's
 * figures win over it. */
static void set_roofline(hr_lut *lut, hr_device d, const hr_device_lut *dev, const hr_roofline *measured,
                         double knee_override)
{
    char note[256];
    if (dev->edge.name[0])
        snprintf(lut->edge_profile[d], sizeof lut->edge_profile[d], "%s", dev->edge.name);
    if (knee_override > 0) {
        lut->i_knee[d] = knee_override;
        lut->peak_gflops[d] = lut->bandwidth_gbs[d] = 0;
        lut->roofline_measured[d] = 0;
        lut->roofline_source[d] = HR_ROOF_OVERRIDE;
    } else if (dev->edge.name[0]) {
        lut->peak_gflops[d] = dev->edge.peak_gflops;
        lut->bandwidth_gbs[d] = dev->edge.bandwidth_gbs;
        lut->i_knee[d] = dev->edge.peak_gflops / dev->edge.bandwidth_gbs;
        lut->roofline_measured[d] = 0;
        lut->roofline_source[d] = HR_ROOF_PROFILE;
        if (measured) {
            snprintf(note, sizeof note, "The %s roofline given (%s) was ignored: the %s is emulated from edge profile "
                     "%s, whose roofline is used.", hr_device_name(d), measured->device, hr_device_name(d),
                     dev->edge.name);
            append_note(lut, note);
        }
    } else if (measured) {
        lut->i_knee[d] = measured->i_knee;
        lut->peak_gflops[d] = measured->peak_gflops;
        lut->bandwidth_gbs[d] = measured->bandwidth_gbs;
        lut->roofline_measured[d] = 1;
        lut->roofline_source[d] = HR_ROOF_MEASURED;
    }
}

hr_status hr_lut_merge(const hr_device_lut *server, const hr_device_lut *client, const hr_lut_merge_params *params,
                       hr_lut **out, hr_error *err)
{
    hr_lut_merge_params p = params ? *params : hr_lut_merge_params_default();
    const hr_device_lut *dev[HR_DEVICE_COUNT] = {server, client};
    hr_lut *lut;
    hr_status st;
    char note[384];

    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (!(p.knee_override[d] >= 0) || !isfinite(p.knee_override[d]))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "merge: %s knee override %g is not a positive knee (0: none)",
                                hr_device_name((hr_device)d), p.knee_override[d]);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (dev[d]->role != (hr_device)d)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: a %s LUT (T_%s) given as the %s file", src(dev[d]),
                                hr_device_name(dev[d]->role), hr_device_name(dev[d]->role),
                                hr_device_name((hr_device)d));
    if (strcmp(server->model, client->model) != 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s and %s are for different models: metadata.model %s vs %s",
                            src(server), src(client), server->model_label, client->model_label);
    if (memcmp(server->input_shape, client->input_shape, sizeof server->input_shape) != 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s and %s were measured at different input sizes: "
                            "metadata.input_shape [%lld, %lld, %lld] vs [%lld, %lld, %lld]", src(server), src(client),
                            (long long)server->input_shape[0], (long long)server->input_shape[1],
                            (long long)server->input_shape[2], (long long)client->input_shape[0],
                            (long long)client->input_shape[1], (long long)client->input_shape[2]);
    if (server->num_classes != client->num_classes)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s and %s differ in metadata.num_classes: %lld vs %lld",
                            src(server), src(client), (long long)server->num_classes, (long long)client->num_classes);
    if (server->nblocks != client->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s and %s differ in block count: %d vs %d", src(server),
                            src(client), server->nblocks, client->nblocks);
    if ((st = hr_lut_create(server->nblocks, &lut, err)))
        return st;
    snprintf(lut->model, sizeof lut->model, "%s", server->model);
    memcpy(lut->input_shape, server->input_shape, sizeof lut->input_shape);
    lut->num_classes = server->num_classes;
    lut->stat = p.stat;
    for (int i = 0; i < lut->nblocks; i++) {
        hr_lut_block *b = &lut->blocks[i];
        const hr_device_lut_block *sb = &server->blocks[i];
        snprintf(b->name, sizeof b->name, "%s", sb->name);
        memcpy(b->in_shape, sb->in_shape, sizeof b->in_shape);
        memcpy(b->out_shape, sb->out_shape, sizeof b->out_shape);
        b->groups = sb->groups;
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                b->t_ms[d][g] = hr_lut_entry_time(&dev[d]->blocks[i].e[g], p.stat);
    }
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        snprintf(lut->device[d], sizeof lut->device[d], "%s", dev[d]->gpu_name);
        lut->threads[d] = dev[d]->threads;
        if (p.stat != HR_LUT_STAT_MEAN && !dev[d]->has_median) {
            snprintf(note, sizeof note, "The %s file (%s) has no %s (the original's format): its mean was used.",
                     hr_device_name((hr_device)d), src(dev[d]), p.stat == HR_LUT_STAT_MIN ? "min_ms" : "median_ms");
            append_note(lut, note);
        }
        if (dev[d]->emulated[0]) {
            snprintf(lut->emulated[d], sizeof lut->emulated[d], "%s", dev[d]->emulated);
            lut->slowdown[d] = dev[d]->slowdown;
            lut->synthetic = 1;
            snprintf(note, sizeof note, "The %s is emulated: %.200s (times x %g).", hr_device_name((hr_device)d),
                     dev[d]->emulated, dev[d]->slowdown);
            append_note(lut, note);
        }
        if (dev[d]->in_forward) {
            snprintf(note, sizeof note, "The %s entries were timed inside whole forwards (context forward).",
                     hr_device_name((hr_device)d));
            append_note(lut, note);
        }
        set_roofline(lut, (hr_device)d, dev[d], p.roofline[d], p.knee_override[d]);
    }
    if (server->has_stage_times && client->has_stage_times) {
        for (int d = 0; d < HR_DEVICE_COUNT; d++) {
            lut->t_stage0_ms[d] = hr_lut_entry_time(&dev[d]->stage0, p.stat);
            lut->t_classifier_ms[d] = hr_lut_entry_time(&dev[d]->classifier, p.stat);
        }
        lut->has_stage_times = 1;
    } else {
        append_note(lut, "T_stage0/T_classifier left out: a per-device file lacks them (the original's format).");
    }
    /* T_frame: a device without it (older files) counts 0, as when absent. */
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (dev[d]->has_frame_time) {
            lut->t_frame_ms[d] = hr_lut_entry_time(&dev[d]->frame, p.stat);
            lut->has_frame_times = 1;
        }
    if (lut->has_frame_times && !(server->has_frame_time && client->has_frame_time))
        append_note(lut, "T_frame: a per-device file lacks it; that side counts 0 ms.");
    if (p.link) {
        lut->link = *p.link;
    } else {
        lut->link = hr_link_default();
        lut->link.latency_ms = 1; /* the original's merge: 100 Mbit/s, 1 ms */
    }
    hr__timestamp(lut->timestamp, sizeof lut->timestamp);
    hr_lut_compute_costs(lut);
    *out = lut;
    return HR_OK;
}
