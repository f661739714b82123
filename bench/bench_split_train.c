/* Cost of split α training (SPEC §10) against whole-network training, in
 * one process and without the network: what the split itself costs in
 * compute (the NCHW copies at the crossing, the input gradient of the
 * tail's first block, two parameter lists).
 *
 *   bench_split_train [--model M] [--batch B] [--threads N] [--steps S]
 *                     [--rounds R] [--warmup W] [--split s|all]
 *
 * A whole step is hr_trainer_step; a split step is head_forward +
 * tail_compute + head_backward + the two updates. Each round times S whole
 * steps, then S split steps per split, on the same batch; the figure kept
 * is the fastest round (the least disturbed by other processes). α mode,
 * random weights and input, lr 0.01. Prints one JSON line per split:
 * {"model", "batch", "threads", "split", "steps", "rounds", "whole_ms",
 *  "split_ms", "ratio", "head_fwd_ms", "tail_ms", "head_bwd_ms",
 *  "features_kib"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/model.h"
#include "hyperrep/train.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int arg_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* One split: its trainers and the fastest round's times (seconds per step). */
typedef struct split_run {
    hr_trainer *head, *tail;
    float *feat, *grad;
    hr_tensor tf, tg;
    double best, best_hf, best_tail, best_hb;
} split_run;

static int fail(const hr_error *err)
{
    fprintf(stderr, "bench_split_train: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *arch = "repvgg-fmnist", *split_arg = "all";
    long batch = 32, threads = 1, steps = 20, rounds = 5, warmup = 3;
    hr_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (strcmp(a, "--model") == 0 && v)
            arch = v;
        else if (strcmp(a, "--split") == 0 && v)
            split_arg = v;
        else if (strcmp(a, "--batch") == 0)
            ok = v && arg_int(v, 1, 65536, &batch);
        else if (strcmp(a, "--threads") == 0)
            ok = v && arg_int(v, 1, 1024, &threads);
        else if (strcmp(a, "--steps") == 0)
            ok = v && arg_int(v, 1, 1000000, &steps);
        else if (strcmp(a, "--rounds") == 0)
            ok = v && arg_int(v, 1, 1000, &rounds);
        else if (strcmp(a, "--warmup") == 0)
            ok = v && arg_int(v, 0, 1000000, &warmup);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: bench_split_train [--model M] [--batch B] [--threads N] [--steps S] "
                            "[--rounds R] [--warmup W] [--split s|all]\n");
            return 2;
        }
        i++;
    }
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_trainer *whole = NULL;
    cp.threads = (int)threads;
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    tp.batch = batch;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_model_init_random(m, 1, &err) || hr_trainer_create(m, &tp, &whole, &err))
        return fail(&err);
    const int N = hr_model_num_blocks(m);
    long s_lo = 0, s_hi = N;
    if (strcmp(split_arg, "all") != 0) {
        if (!arg_int(split_arg, 0, N, &s_lo)) {
            fprintf(stderr, "bench_split_train: --split must be all or 0..%d\n", N);
            return 2;
        }
        s_hi = s_lo;
    }
    const int64_t C = hr_model_in_channels(m), S = hr_model_input_size(m), K = hr_model_num_classes(m);
    float *x = malloc(sizeof(float) * (size_t)(batch * C * S * S));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)batch);
    split_run *runs = calloc((size_t)(s_hi - s_lo + 1), sizeof *runs);
    if (!x || !labels || !runs) {
        fprintf(stderr, "bench_split_train: out of memory\n");
        return 1;
    }
    uint64_t r = 88172645463325252ull;
    for (int64_t i = 0; i < batch * C * S * S; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 3.0 - 1.5);
    }
    for (int64_t i = 0; i < batch; i++)
        labels[i] = i % K;
    hr_tensor tx = hr_tensor_4d(x, batch, C, S, S);
    const float lr = 0.01f;
    for (long s = s_lo; s <= s_hi; s++) {
        split_run *sr = &runs[s - s_lo];
        int64_t sh[4];
        tp.part = HR_PART_HEAD;
        tp.split = (int)s;
        if (hr_trainer_create(m, &tp, &sr->head, &err))
            return fail(&err);
        tp.part = HR_PART_TAIL;
        if (hr_trainer_create(m, &tp, &sr->tail, &err))
            return fail(&err);
        hr_trainer_features_shape(sr->head, batch, sh);
        sr->feat = malloc(sizeof(float) * (size_t)(sh[0] * sh[1] * sh[2] * sh[3]));
        sr->grad = malloc(sizeof(float) * (size_t)(sh[0] * sh[1] * sh[2] * sh[3]));
        if (!sr->feat || !sr->grad) {
            fprintf(stderr, "bench_split_train: out of memory\n");
            return 1;
        }
        sr->tf = hr_tensor_view(sr->feat, 4, sh);
        sr->tg = hr_tensor_view(sr->grad, 4, sh);
        sr->best = sr->best_hf = sr->best_tail = sr->best_hb = 1e30;
    }
    double best_whole = 1e30;
    for (long round = 0; round < rounds; round++) {
        const long n = round == 0 ? warmup : 0;
        for (long i = 0; i < n; i++)
            if (hr_trainer_step(whole, &tx, labels, lr, NULL, &err))
                return fail(&err);
        double t0 = now_s();
        for (long i = 0; i < steps; i++)
            if (hr_trainer_step(whole, &tx, labels, lr, NULL, &err))
                return fail(&err);
        double dt = (now_s() - t0) / (double)steps;
        best_whole = dt < best_whole ? dt : best_whole;
        for (long s = s_lo; s <= s_hi; s++) {
            split_run *sr = &runs[s - s_lo];
            double hf = 0, tl = 0, hb = 0;
            for (long i = -n; i < steps; i++) {
                double a = now_s();
                if (hr_trainer_head_forward(sr->head, &tx, &sr->tf, &err))
                    return fail(&err);
                double b = now_s();
                if (hr_trainer_tail_compute(sr->tail, &sr->tf, labels, &sr->tg, NULL, &err))
                    return fail(&err);
                double c = now_s();
                if (hr_trainer_head_backward(sr->head, &sr->tg, NULL, &err))
                    return fail(&err);
                hr_trainer_update(sr->head, lr);
                hr_trainer_update(sr->tail, lr);
                double d = now_s();
                if (i >= 0)
                    hf += b - a, tl += c - b, hb += d - c;
            }
            const double tot = (hf + tl + hb) / (double)steps;
            if (tot < sr->best) {
                sr->best = tot;
                sr->best_hf = hf / (double)steps;
                sr->best_tail = tl / (double)steps;
                sr->best_hb = hb / (double)steps;
            }
        }
    }
    for (long s = s_lo; s <= s_hi; s++) {
        split_run *sr = &runs[s - s_lo];
        printf("{\"model\": \"%s\", \"batch\": %ld, \"threads\": %ld, \"split\": %ld, \"steps\": %ld, "
               "\"rounds\": %ld, \"whole_ms\": %.4f, \"split_ms\": %.4f, \"ratio\": %.4f, \"head_fwd_ms\": %.4f, "
               "\"tail_ms\": %.4f, \"head_bwd_ms\": %.4f, \"features_kib\": %.1f}\n",
               hr_model_arch(m)->name, batch, threads, s, steps, rounds, best_whole * 1e3, sr->best * 1e3,
               sr->best / best_whole, sr->best_hf * 1e3, sr->best_tail * 1e3, sr->best_hb * 1e3,
               (double)hr_tensor_numel(&sr->tf) * 4.0 / 1024.0);
        hr_trainer_destroy(sr->head);
        hr_trainer_destroy(sr->tail);
        free(sr->feat);
        free(sr->grad);
    }
    free(runs);
    free(x);
    free(labels);
    hr_trainer_destroy(whole);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return 0;
}
