/* What a merged LUT predicts for a deployed configuration (edge.h). */
#include "hyperrep/edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/lut.h"

/* The optimiser's placement of a configuration. */
static int placement_of(const hr_deploy_config *cfg)
{
    return cfg->split == HR_PLACEMENT_LOCAL ? HR_PLACEMENT_LOCAL
           : cfg->split == HR_PLACEMENT_RAW ? HR_PLACEMENT_RAW
                                         : cfg->split;
}

void hr_edge_predict(const char *path, const hr_deploy_config *cfg, const hr_model *m, hr_edge_prediction *out)
{
    hr_error e = {0};
    hr_lut *lut = NULL;
    hr_optim_problem *prob = NULL;
    hr_optim_params op = hr_optim_params_default();
    unsigned *live = NULL;
    const hr_arch *a;
    memset(out, 0, sizeof *out);
    if (!path) {
        snprintf(out->reason, sizeof out->reason, "no --lut given");
        return;
    }
    if (hr_lut_load(path, &lut, &e)) {
        snprintf(out->reason, sizeof out->reason, "%s", e.msg);
        return;
    }
    a = hr_arch_find(lut->model);
    if (!a || strcmp(a->name, cfg->arch) != 0 || lut->nblocks != cfg->nblocks) {
        snprintf(out->reason, sizeof out->reason, "%s describes %s (%d blocks), not %s (%d blocks)", path, lut->model,
                 lut->nblocks, cfg->arch, cfg->nblocks);
        goto done;
    }
    for (int k = 0; k < cfg->nblocks; k++)
        if (strcmp(lut->blocks[k].name, hr_model_block(m, k).name) != 0) {
            snprintf(out->reason, sizeof out->reason, "%s: block %d is %s, the model's is %s", path, k,
                     lut->blocks[k].name, hr_model_block(m, k).name);
            goto done;
        }
    if (lut->input_shape[0] && (lut->input_shape[0] != hr_model_in_channels(m) ||
                                lut->input_shape[1] != hr_model_input_size(m))) {
        snprintf(out->reason, sizeof out->reason, "%s was measured at input %lldx%lldx%lld, the model takes %lldx%lldx%lld",
                 path, (long long)lut->input_shape[0], (long long)lut->input_shape[1], (long long)lut->input_shape[2],
                 (long long)hr_model_in_channels(m), (long long)hr_model_input_size(m),
                 (long long)hr_model_input_size(m));
        goto done;
    }
    if (!(live = malloc(sizeof(unsigned) * (size_t)cfg->nblocks))) {
        snprintf(out->reason, sizeof out->reason, "out of memory");
        goto done;
    }
    for (int k = 0; k < cfg->nblocks; k++)
        live[k] = hr_model_block(m, k).live;
    op.mask = cfg->mask;
    op.head = HR_DEVICE_CLIENT;
    if (hr_optim_problem_create(lut, live, &op, &prob, &e) ||
        hr_optim_evaluate(prob, cfg->gamma, placement_of(cfg), &out->ev, &e)) {
        snprintf(out->reason, sizeof out->reason, "%s: %s", path, e.msg);
        goto done;
    }
    out->available = 1;
    snprintf(out->head_dev, sizeof out->head_dev, "%s", lut->device[HR_DEVICE_CLIENT]);
    snprintf(out->tail_dev, sizeof out->tail_dev, "%s", lut->device[HR_DEVICE_SERVER]);
    out->head_threads = lut->threads[HR_DEVICE_CLIENT];
    out->tail_threads = lut->threads[HR_DEVICE_SERVER];
    if (!lut->has_stage_times)
        snprintf(out->reason, sizeof out->reason, "the LUT has no stage 0 / classifier times: they count as 0");
done:
    free(live);
    hr_optim_problem_destroy(prob);
    hr_lut_destroy(lut);
}
