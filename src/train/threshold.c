/* The threshold rule of SPEC §13.7: |α| below the pruning threshold is
 * exactly 0, and the branch is pruned. */
#include <math.h>
#include <stdlib.h>

#include "hyperrep/train.h"

int hr_alpha_threshold(const hr_model *model, float *alpha, double threshold, int *pruned)
{
    int n = 0;
    /* compared in float, the precision α is held in: an α written as the
     * threshold itself (0.01f, just below the double 0.01) is not below it */
    const float thr = (float)threshold;
    if (!(threshold > 0))
        return 0;
    for (int k = 0; k < hr_model_num_blocks(model); k++) {
        unsigned ex = hr_model_block(model, k).existing;
        int live = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            live += (ex >> br & 1u) && alpha[k * 3 + br] != 0.0f;
        /* smallest |α| first, so that when only one may go it is the one
         * that contributes least */
        for (;;) {
            int pick = -1;
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                float v = alpha[k * 3 + br];
                if (!(ex >> br & 1u) || v == 0.0f || !(fabsf(v) < thr))
                    continue;
                if (pick < 0 || fabsf(v) < fabsf(alpha[k * 3 + pick]))
                    pick = br;
            }
            if (pick < 0 || live <= 1)
                break;
            alpha[k * 3 + pick] = 0.0f;
            live--;
            if (pruned)
                pruned[n] = k * 3 + pick;
            n++;
        }
    }
    /* block order, branch order within a block: the order pruned lists read in */
    if (pruned)
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && pruned[j - 1] > pruned[j]; j--) {
                int t = pruned[j];
                pruned[j] = pruned[j - 1];
                pruned[j - 1] = t;
            }
    return n;
}

hr_status hr_trainer_threshold(hr_trainer *t, double threshold, int *npruned, int *pruned, hr_error *err)
{
    const hr_model *m = hr_trainer_model(t);
    const int nb = hr_model_num_blocks(m);
    hr_status st = HR_OK;
    if (hr_trainer_mode(t) != HR_TRAIN_ALPHA)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: the threshold rule applies to alpha training only");
    float *a = malloc(sizeof *a * (size_t)(nb * 3) + 1);
    int *idx = malloc(sizeof *idx * (size_t)(nb * 3) + 1), n;
    if (!a || !idx) {
        free(a), free(idx);
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory");
    }
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[k * 3 + br] = hr_trainer_alpha(t, k, (hr_branch)br);
    n = hr_alpha_threshold(m, a, threshold, idx);
    for (int i = 0; i < n && !st; i++)
        st = hr_trainer_set_alpha(t, idx[i] / 3, (hr_branch)(idx[i] % 3), 0.0f, err);
    if (!st) {
        if (npruned)
            *npruned = n;
        for (int i = 0; pruned && i < n; i++)
            pruned[i] = idx[i];
    }
    free(a);
    free(idx);
    return st;
}
