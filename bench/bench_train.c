/* Training throughput of hyperrep's trainer (bench/train_figures.sh runs it
 * interleaved with bench/torch_train.py, which does the same work in
 * PyTorch).
 *
 *   bench_train [--mode alpha|full] [--model M] [--batch B] [--threads N]
 *               [--steps S] [--warmup W]
 *
 * alpha: code 1 — BN folded and frozen, only α trained (cross-entropy +
 * 0.001·Σ|α|, SGD lr 0.01 momentum 0.9); full: base training (BN in training
 * mode, SGD momentum 0.9, weight decay 1e-4). Random weights and input
 * (throughput does not depend on the values). Prints one JSON line:
 * {"impl": "hyperrep", "mode", "model", "batch", "threads", "steps",
 *  "ms_per_step", "images_per_s", "cpu_ms_per_step"}. */
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

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
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

int main(int argc, char **argv)
{
    const char *mode = "alpha", *arch = "repvgg-fmnist";
    long batch = 32, threads = 2, steps = 200, warmup = 20;
    hr_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (strcmp(a, "--mode") == 0 && v)
            mode = v;
        else if (strcmp(a, "--model") == 0 && v)
            arch = v;
        else if (strcmp(a, "--batch") == 0)
            ok = v && arg_int(v, 2, 65536, &batch);
        else if (strcmp(a, "--threads") == 0)
            ok = v && arg_int(v, 1, 1024, &threads);
        else if (strcmp(a, "--steps") == 0)
            ok = v && arg_int(v, 1, 1000000, &steps);
        else if (strcmp(a, "--warmup") == 0)
            ok = v && arg_int(v, 0, 1000000, &warmup);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: bench_train [--mode alpha|full] [--model M] [--batch B] [--threads N] "
                            "[--steps S] [--warmup W]\n");
            return 2;
        }
        i++;
    }
    int full = strcmp(mode, "full") == 0;
    if (!full && strcmp(mode, "alpha") != 0) {
        fprintf(stderr, "bench_train: --mode must be alpha or full\n");
        return 2;
    }
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_trainer *t = NULL;
    cp.threads = (int)threads;
    hr_trainer_params tp = hr_trainer_params_default(full ? HR_TRAIN_FULL : HR_TRAIN_ALPHA);
    tp.batch = batch;
    tp.weight_decay = full ? 1e-4f : 0.0f;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_model_init_random(m, 1, &err) || hr_trainer_create(m, &tp, &t, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        hr_model_destroy(m);
        hr_ctx_destroy(ctx);
        return 1;
    }
    const int64_t C = hr_model_in_channels(m), S = hr_model_input_size(m), K = hr_model_num_classes(m);
    float *x = malloc(sizeof(float) * (size_t)(batch * C * S * S));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)batch);
    if (!x || !labels) {
        fprintf(stderr, "bench_train: out of memory\n");
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
    const float lr = full ? 0.05f : 0.01f;
    for (long i = 0; i < warmup; i++)
        if (hr_trainer_step(t, &tx, labels, lr, NULL, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < steps; i++)
        if (hr_trainer_step(t, &tx, labels, lr, NULL, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
    double dt = (now_s() - t0) / (double)steps, dc = (cpu_s() - c0) / (double)steps;
    printf("{\"impl\": \"hyperrep\", \"mode\": \"%s\", \"model\": \"%s\", \"batch\": %ld, \"threads\": %ld, "
           "\"steps\": %ld, \"ms_per_step\": %.4f, \"images_per_s\": %.1f, \"cpu_ms_per_step\": %.4f}\n",
           mode, hr_model_arch(m)->name, batch, threads, steps, dt * 1e3, (double)batch / dt, dc * 1e3);
    free(x);
    free(labels);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return 0;
}
