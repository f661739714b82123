/* Split training of α (SPEC §10): the public entry points of head and tail
 * trainers. They validate what crosses between the two sides (the shapes
 * of the features and of their gradient come from the other process) and
 * run the passes of pass.c on their own layers; the chunking and reduction
 * order are those of the whole pass, so a head and a tail together give
 * the whole trainer's α gradients bit for bit. */
#include <string.h>

#include "train/train_internal.h"

static const char *part_name(hr_train_part p)
{
    return p == HR_PART_HEAD ? "head" : p == HR_PART_TAIL ? "tail" : "whole network";
}

/* HR_ERR_UNSUPPORTED unless t holds `want`. */
static hr_status need_part(const hr_trainer *t, hr_train_part want, const char *fn, hr_error *err)
{
    if (t->params.part == want)
        return HR_OK;
    return hr_error_set(err, HR_ERR_UNSUPPORTED, "trainer: hr_trainer_%s needs a %s trainer; this one holds the %s",
                        fn, part_name(want), part_name(t->params.part));
}

/* The layer whose output crosses: layer s (block s - 1, or stage 0). */
static const hr__tlayer *crossing(const hr_trainer *t)
{
    int s = t->params.split;
    if (s < 0)
        s = 0;
    if (s > t->nlayers - 1)
        s = t->nlayers - 1;
    return &t->layers[s];
}

void hr_trainer_features_shape(const hr_trainer *t, int64_t n, int64_t shape[4])
{
    const hr__tlayer *l = crossing(t);
    shape[0] = n;
    shape[1] = l->cout;
    shape[2] = l->OH;
    shape[3] = l->OW;
}

hr_train_part hr_trainer_part(const hr_trainer *t) { return t->params.part; }

int hr_trainer_split(const hr_trainer *t) { return t->params.part == HR_PART_ALL ? 0 : t->params.split; }

/* A contiguous 4-D tensor of exactly `want`'s shape. */
static hr_status check_shape(const hr_tensor *x, const int64_t want[4], const char *fn, const char *what,
                             hr_error *err)
{
    char s[64];
    if (x->ndim == 4 && hr_tensor_is_contiguous(x) && x->shape[0] == want[0] && x->shape[1] == want[1] &&
        x->shape[2] == want[2] && x->shape[3] == want[3])
        return HR_OK;
    return hr_error_set(err, HR_ERR_SHAPE, "trainer: %s: %s %s, expected [%lld, %lld, %lld, %lld]", fn, what,
                        hr_tensor_shape_str(x, s, sizeof s), (long long)want[0], (long long)want[1],
                        (long long)want[2], (long long)want[3]);
}

/* The batch of a tensor whose first dimension is n: 1..batch. */
static hr_status check_batch(const hr_trainer *t, const hr_tensor *x, const char *fn, const char *what,
                             hr_error *err)
{
    char s[64];
    if (x->ndim < 1 || x->shape[0] < 1)
        return hr_error_set(err, HR_ERR_SHAPE, "trainer: %s: %s %s has no samples", fn, what,
                            hr_tensor_shape_str(x, s, sizeof s));
    if (x->shape[0] > t->params.batch)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: %s: batch of %lld exceeds the planned %lld", fn,
                            (long long)x->shape[0], (long long)t->params.batch);
    return HR_OK;
}

/* Validation shared by head_forward and head_predict. */
static hr_status check_head_io(hr_trainer *t, const hr_tensor *x, const hr_tensor *features, const char *fn,
                               hr_error *err)
{
    const hr__tlayer *first = &t->layers[0];
    hr_status st = need_part(t, HR_PART_HEAD, fn, err);
    if (!st)
        st = check_batch(t, x, fn, "input", err);
    if (st)
        return st;
    int64_t want[4] = {x->shape[0], first->cin, first->H, first->W}, fs[4];
    if ((st = check_shape(x, want, fn, "input", err)))
        return st;
    hr_trainer_features_shape(t, x->shape[0], fs);
    return check_shape(features, fs, fn, "features", err);
}

hr_status hr_trainer_head_forward(hr_trainer *t, const hr_tensor *x, hr_tensor *features, hr_error *err)
{
    hr_status st = check_head_io(t, x, features, "head_forward", err);
    if (st)
        return st;
    hr__trainer_head_run(t, x, features, 1);
    t->head_n = x->shape[0];
    return HR_OK;
}

hr_status hr_trainer_head_predict(hr_trainer *t, const hr_tensor *x, hr_tensor *features, hr_error *err)
{
    hr_status st = check_head_io(t, x, features, "head_predict", err);
    if (st)
        return st;
    t->head_n = 0; /* the activations of a pending backward are overwritten */
    hr__trainer_head_run(t, x, features, 0);
    return HR_OK;
}

hr_status hr_trainer_head_backward(hr_trainer *t, const hr_tensor *grad_features, hr_train_stats *stats,
                                   hr_error *err)
{
    int64_t fs[4];
    hr_status st = need_part(t, HR_PART_HEAD, "head_backward", err);
    if (st)
        return st;
    if (t->head_n < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "trainer: head_backward without a head_forward (none yet, or a head_predict since)");
    hr_trainer_features_shape(t, t->head_n, fs);
    if ((st = check_shape(grad_features, fs, "head_backward", "feature gradient", err)))
        return st;
    hr__trainer_head_back(t, grad_features, t->head_n);
    const double l1 = hr__trainer_alpha_grads(t, t->lo, t->hi, t->head_n);
    if (stats) {
        stats->xent = 0;
        stats->l1_sum = l1;
        stats->loss = t->params.l1 * l1;
        stats->correct = 0;
        stats->n = t->head_n;
    }
    return HR_OK;
}

/* Validation shared by tail_compute and tail_predict. */
static hr_status check_tail_in(hr_trainer *t, const hr_tensor *features, const char *fn, hr_error *err)
{
    int64_t fs[4];
    hr_status st = need_part(t, HR_PART_TAIL, fn, err);
    if (!st)
        st = check_batch(t, features, fn, "features", err);
    if (st)
        return st;
    hr_trainer_features_shape(t, features->shape[0], fs);
    return check_shape(features, fs, fn, "features", err);
}

hr_status hr_trainer_tail_compute(hr_trainer *t, const hr_tensor *features, const int64_t *labels,
                                  hr_tensor *grad_features, hr_train_stats *stats, hr_error *err)
{
    hr_status st = check_tail_in(t, features, "tail_compute", err);
    if (st)
        return st;
    const int64_t n = features->shape[0];
    if ((st = check_shape(grad_features, features->shape, "tail_compute", "feature gradient", err)))
        return st;
    if (!labels)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: tail_compute needs labels");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= t->classes)
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "trainer: tail_compute: sample %lld has label %lld outside 0..%lld", (long long)i,
                                (long long)labels[i], (long long)(t->classes - 1));
    hr__trainer_tail_run(t, features, labels, grad_features);
    double xent = 0;
    int64_t correct = 0;
    for (int64_t c = 0; c < (n + HR__CHUNK - 1) / HR__CHUNK; c++) {
        xent += t->xent_sum[c];
        correct += t->correct[c];
    }
    xent /= (double)n;
    const double l1 = hr__trainer_alpha_grads(t, t->lo, t->hi, n);
    if (stats) {
        stats->xent = xent;
        stats->l1_sum = l1;
        stats->loss = xent + t->params.l1 * l1;
        stats->correct = correct;
        stats->n = n;
    }
    return HR_OK;
}

hr_status hr_trainer_tail_predict(hr_trainer *t, const hr_tensor *features, hr_tensor *logits, hr_error *err)
{
    char s[64];
    hr_status st = check_tail_in(t, features, "tail_predict", err);
    if (st)
        return st;
    const int64_t n = features->shape[0];
    if (logits->ndim != 2 || !hr_tensor_is_contiguous(logits) || logits->shape[0] != n ||
        logits->shape[1] != t->classes)
        return hr_error_set(err, HR_ERR_SHAPE, "trainer: tail_predict: logits %s, expected [%lld, %lld]",
                            hr_tensor_shape_str(logits, s, sizeof s), (long long)n, (long long)t->classes);
    hr__trainer_tail_run(t, features, NULL, NULL);
    memcpy(logits->data, t->logits, sizeof(float) * (size_t)(n * t->classes));
    return HR_OK;
}
