/* train-base checkpoints and trained-weight files: the model's tensors, the
 * trainer's momentum buffers and the progress, so a long training can stop
 * and resume (STYLE: long runs checkpoint). */
#include <math.h>
#include <string.h>

#include "hyperrep/train.h"
#include "hyperrep/weights.h"

/* The progress is held as tensors, the format's only numbers. A float holds
 * every integer up to 2^24 exactly: far more epochs than any run. */
#define MAX_EPOCHS 16777216.0

/* The model (training-time form, α included) as the trainer holds it. */
static hr_status export_model(hr_model *m, hr_trainer *t, hr_tensor_map **out, hr_error *err)
{
    hr_status st;
    *out = NULL;
    if ((st = hr_tensor_map_create(out, err)))
        return st;
    if ((t && (st = hr_trainer_sync(t, err))) || (st = hr_model_export(m, *out, err))) {
        hr_tensor_map_destroy(*out);
        *out = NULL;
    }
    return st;
}

hr_status hr_train_weights_save(const char *path, hr_model *m, hr_trainer *t, const char *const *keys,
                                const char *const *vals, size_t n, hr_error *err)
{
    hr_tensor_map *map;
    hr_status st = export_model(m, t, &map, err);
    if (!st)
        st = hr_safetensors_save(path, map, keys, vals, n, err);
    hr_tensor_map_destroy(map);
    return st;
}

hr_status hr_train_checkpoint_save(const char *path, hr_model *m, hr_trainer *t, const char *arch,
                                   int64_t epochs_done, double minutes, hr_error *err)
{
    hr_tensor_map *map;
    float e = (float)epochs_done, mn = (float)minutes;
    int64_t one[1] = {1};
    const char *keys[2] = {"model", "note"}, *vals[2] = {arch, "train-base checkpoint"};
    hr_status st;
    if (epochs_done < 0 || (double)epochs_done > MAX_EPOCHS || !isfinite(minutes) || minutes < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: checkpoint after epoch %lld, %g minutes: out of range",
                            path, (long long)epochs_done, minutes);
    if ((st = export_model(m, t, &map, err)))
        return st;
    if (!(st = hr_trainer_export_state(t, map, err)) &&
        !(st = hr_tensor_map_add(map, "train.epochs_done", 1, one, &e, err)) &&
        !(st = hr_tensor_map_add(map, "train.minutes", 1, one, &mn, err)))
        st = hr_safetensors_save_private(path, map, keys, vals, 2, err);
    hr_tensor_map_destroy(map);
    return st;
}

hr_status hr_train_checkpoint_load(const char *path, hr_model *m, hr_tensor_map **state, int64_t *epochs_done,
                                   double *minutes, hr_error *err)
{
    hr_tensor_map *all = NULL, *weights = NULL;
    const hr_named_tensor *ep, *mn;
    hr_status st;
    double e;
    *state = NULL;
    if ((st = hr_safetensors_load(path, &all, err)) || (st = hr_tensor_map_create(&weights, err)))
        goto done;
    ep = hr_tensor_map_find(all, "train.epochs_done");
    mn = hr_tensor_map_find(all, "train.minutes");
    if (!ep || hr_named_tensor_numel(ep) != 1) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: not a train-base checkpoint (no train.epochs_done)", path);
        goto done;
    }
    /* A number read from a file becomes an integer only when it is one, in
     * range: a converted +inf or 1e30 would be undefined behaviour. */
    e = ep->data[0];
    if (!(e >= 0 && e <= MAX_EPOCHS && e == floor(e))) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: train.epochs_done = %g is not an epoch count (an integer in 0..%.0f)",
                          path, e, MAX_EPOCHS);
        goto done;
    }
    if (mn && hr_named_tensor_numel(mn) == 1 && !(isfinite(mn->data[0]) && mn->data[0] >= 0)) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: train.minutes = %g is not a duration", path, (double)mn->data[0]);
        goto done;
    }
    for (size_t i = 0; i < hr_tensor_map_count(all); i++) {
        const hr_named_tensor *t = hr_tensor_map_at(all, i);
        if (strncmp(t->name, "momentum.", 9) == 0 || strncmp(t->name, "train.", 6) == 0)
            continue;
        if ((st = hr_tensor_map_add(weights, t->name, t->ndim, t->shape, t->data, err)))
            goto done;
    }
    if ((st = hr_model_load(m, weights, err))) {
        hr_error_prefix(err, "%s", path);
        goto done;
    }
    *epochs_done = (int64_t)e;
    *minutes = mn && hr_named_tensor_numel(mn) == 1 ? mn->data[0] : 0;
    *state = all;
    all = NULL;
done:
    hr_tensor_map_destroy(all);
    hr_tensor_map_destroy(weights);
    return st;
}
