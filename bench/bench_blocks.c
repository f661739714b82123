/* Block-latency benchmark: every block of a model under every γ valid for
 * its existing branches (α = 1 for the γ's branches, as the LUT measures),
 * median of --repeat runs after --warmup, on a context of --threads threads.
 *
 *   bench_blocks --model repvgg-b3 [--input-size 224] [--threads 1]
 *                [--warmup 5] [--repeat 20] [--blocks stage1.0,stage3.1]
 *   bench_blocks --model repvgg-b3 --threads 1 --serve
 *
 * With --serve it reads lines "BLOCK GAMMA REPEAT" on stdin and answers each
 * with one line "BLOCK GAMMA median_ms min_ms" (or "error …"), so a driver
 * (bench/torch_blocks.py) can interleave hyperrep and PyTorch entry by entry
 * on this drifting machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/model.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench {
    hr_model *m;
    float *x, *y;
    int warmup;
} bench;

/* Applies γ to block i with α = 1 on exactly its branches and times it. */
static int measure(bench *B, int i, int g, int repeat, double *median, double *min, hr_error *err)
{
    hr_block_info b = hr_model_block(B->m, i);
    const hr_gamma_info *gi = hr_gamma_get(g);
    float alpha[HR_BRANCH_COUNT];
    double *t;
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        alpha[br] = (gi->branches & (1u << br)) ? 1.0f : 0.0f;
    if (hr_model_apply_gamma(B->m, i, g, HR_MASK_EXACT, alpha, err))
        return 0;
    hr_tensor x = hr_tensor_4d(B->x, 1, b.cin, b.in_h, b.in_w), y = hr_tensor_4d(B->y, 1, b.cout, b.out_h, b.out_w);
    for (int r = 0; r < B->warmup; r++)
        if (hr_model_forward_range(B->m, i, i + 1, &x, &y, err))
            return 0;
    t = malloc(sizeof(double) * (size_t)repeat);
    if (!t)
        return 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_ms();
        if (hr_model_forward_range(B->m, i, i + 1, &x, &y, err)) {
            free(t);
            return 0;
        }
        t[r] = now_ms() - t0;
    }
    qsort(t, (size_t)repeat, sizeof t[0], cmp_double);
    *median = repeat % 2 ? t[repeat / 2] : (t[repeat / 2 - 1] + t[repeat / 2]) / 2;
    *min = t[0];
    free(t);
    return 1;
}

static int wanted(const char *list, const char *name)
{
    size_t n = strlen(name);
    if (!list)
        return 1;
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *arch = "repvgg-b3", *blocks = NULL;
    int threads = 1, repeat = 20, serve = 0;
    hr_model_params mp = hr_model_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_error err = {0};
    hr_ctx *ctx;
    bench B = {0};
    B.warmup = 5;

    for (int a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : "";
        if (!strcmp(argv[a], "--model")) arch = v, a++;
        else if (!strcmp(argv[a], "--input-size")) mp.input_size = strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--threads")) threads = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--warmup")) B.warmup = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--repeat")) repeat = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--blocks")) blocks = v, a++;
        else if (!strcmp(argv[a], "--low-memory")) mp.conv.low_memory = 1;
        else if (!strcmp(argv[a], "--serve")) serve = 1;
        else {
            fprintf(stderr, "usage: bench_blocks [--model M] [--input-size H] [--threads N] [--warmup W] "
                            "[--repeat R] [--blocks a,b] [--low-memory] [--serve]\n");
            return 2;
        }
    }
    if (threads < 1 || repeat < 1 || B.warmup < 0) {
        fprintf(stderr, "bench_blocks: --threads and --repeat must be >= 1, --warmup >= 0\n");
        return 2;
    }
    cp.threads = threads;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, &mp, &B.m, &err) ||
        hr_model_init_random(B.m, 1, &err)) {
        fprintf(stderr, "bench_blocks: %s\n", err.msg);
        return 1;
    }
    size_t most = 0;
    for (int i = 0; i < hr_model_num_blocks(B.m); i++) {
        hr_block_info b = hr_model_block(B.m, i);
        size_t in = (size_t)(b.cin * b.in_h * b.in_w), out = (size_t)(b.cout * b.out_h * b.out_w);
        most = in > most ? in : most;
        most = out > most ? out : most;
    }
    B.x = malloc(most * sizeof(float));
    B.y = malloc(most * sizeof(float));
    if (!B.x || !B.y)
        return 1;
    for (size_t k = 0; k < most; k++)
        B.x[k] = (float)((k * 2654435761u) % 2001) / 1000.0f - 1.0f;

    if (serve) {
        char line[256], name[64];
        int g, r;
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("ready %s threads=%d\n", hr_model_arch(B.m)->name, threads);
        while (fgets(line, sizeof line, stdin)) {
            double med, mn;
            if (sscanf(line, "%63s %d %d", name, &g, &r) != 3 || r < 1) {
                printf("error: expected 'BLOCK GAMMA REPEAT'\n");
                continue;
            }
            int i = hr_model_find_block(B.m, name);
            if (i < 0 || !hr_gamma_get(g)) {
                printf("error: unknown block '%s' or gamma %d\n", name, g);
                continue;
            }
            if (!measure(&B, i, g, r, &med, &mn, &err))
                printf("error: %s\n", err.msg);
            else
                printf("%s %d %.4f %.4f\n", name, g, med, mn);
        }
    } else {
        printf("# %s, input %lld, threads %d, warmup %d, repeat %d (median, min in ms; GFLOP/s from the median)\n",
               hr_model_arch(B.m)->name, (long long)hr_model_input_size(B.m), threads, B.warmup, repeat);
        printf("%-10s %5s %-10s %10s %10s %10s\n", "block", "gamma", "name", "median_ms", "min_ms", "GFLOP/s");
        for (int i = 0; i < hr_model_num_blocks(B.m); i++) {
            hr_block_info b = hr_model_block(B.m, i);
            if (!wanted(blocks, b.name))
                continue;
            for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                double med, mn;
                if ((hr_gamma_get(g)->branches & ~b.existing) != 0)
                    continue;
                if (!measure(&B, i, g, repeat, &med, &mn, &err)) {
                    fprintf(stderr, "bench_blocks: %s\n", err.msg);
                    return 1;
                }
                printf("%-10s %5d %-10s %10.3f %10.3f %10.1f\n", b.name, g, hr_gamma_get(g)->name, med, mn,
                       hr_model_block_flops(B.m, i, g) / med / 1e6);
            }
        }
    }
    free(B.x);
    free(B.y);
    hr_model_destroy(B.m);
    hr_ctx_destroy(ctx);
    return 0;
}
