/* Convolution benchmark on the layer shapes of RepVGG-B3 at 224x224, batch 1.
 *
 *   bench_conv [--algo auto|gemm|wino|f2|f4] [--isa auto|generic|avx2|avx512]
 *              [--low-memory] [--repeat N] [--threads LIST]
 *       table of every shape: median ms of N runs (default 20) after two
 *       warm-up runs, direct-equivalent GFLOP/s (2*cin/g*cout*k*k*OH*OW),
 *       algorithm, kernel set and weight bytes, for 1 and 2 threads;
 *   bench_conv --model [b3|b3g2|b3g4] [--low-memory] [--repeat N] [--threads T]
 *       whole deploy forward (convolutions with bias and fused ReLU) of the
 *       model, median ms, GFLOP/s, weight bytes and peak RSS;
 *   bench_conv --serve
 *       reads lines "conv cin cout h w k stride groups threads repeat
 *       [algo=..] [lowmem=1]" or "model name threads repeat [lowmem=1]" on
 *       stdin and prints one line per request with the median ms (first
 *       field), so a driver (bench/torch_conv.py) can interleave it with
 *       another framework. Objects are created once per distinct request
 *       and kept.
 * Weights and inputs are uniform random; timings use CLOCK_MONOTONIC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "hyperrep/ops.h"

typedef struct shape {
    const char *name;
    int cin, cout, hw, k, stride, groups;
} shape;

static const shape shapes[] = {
    {"stage0 3x3 s2", 3, 64, 224, 3, 2, 1},       {"stage1.0 3x3 s2", 64, 192, 112, 3, 2, 1},
    {"stage1 3x3", 192, 192, 56, 3, 1, 1},        {"stage2.0 3x3 s2", 192, 384, 56, 3, 2, 1},
    {"stage2 3x3", 384, 384, 28, 3, 1, 1},        {"stage3.0 3x3 s2", 384, 768, 28, 3, 2, 1},
    {"stage3 3x3", 768, 768, 14, 3, 1, 1},        {"stage4 3x3 s2", 768, 2560, 14, 3, 2, 1},
    {"stage1 3x3 g4", 192, 192, 56, 3, 1, 4},     {"stage2 3x3 g2", 384, 384, 28, 3, 1, 2},
    {"stage3 3x3 g2", 768, 768, 14, 3, 1, 2},     {"stage3 3x3 g4", 768, 768, 14, 3, 1, 4},
    {"stage0 1x1 s2", 3, 64, 224, 1, 2, 1},       {"stage1.0 1x1 s2", 64, 192, 112, 1, 2, 1},
    {"stage1 1x1", 192, 192, 56, 1, 1, 1},        {"stage2.0 1x1 s2", 192, 384, 56, 1, 2, 1},
    {"stage2 1x1", 384, 384, 28, 1, 1, 1},        {"stage3.0 1x1 s2", 384, 768, 28, 1, 2, 1},
    {"stage3 1x1", 768, 768, 14, 1, 1, 1},        {"stage4 1x1 s2", 768, 2560, 14, 1, 2, 1},
    {"stage3 1x1 g4", 768, 768, 14, 1, 1, 4},
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill(float *p, size_t n, unsigned *seed, float scale)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = scale * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static void die(const char *what, hr_status st, const hr_error *err)
{
    fprintf(stderr, "bench_conv: %s: %s (status %d)\n", what, err ? err->msg : "", (int)st);
    exit(1);
}

/* One layer ready to run: the object, its input, output and workspace. */
typedef struct layer {
    shape s;
    int threads, low_memory;
    hr_conv_algo algo;
    hr_conv *conv;
    float *x, *y;
    void *ws;
    hr_tensor tx, ty;
} layer;

static hr_conv_algo parse_algo(const char *s)
{
    if (!strcmp(s, "gemm"))
        return HR_CONV_ALGO_GEMM;
    if (!strcmp(s, "wino"))
        return HR_CONV_ALGO_WINOGRAD;
    if (!strcmp(s, "f2"))
        return HR_CONV_ALGO_WINOGRAD_F2;
    if (!strcmp(s, "f4"))
        return HR_CONV_ALGO_WINOGRAD_F4;
    return HR_CONV_ALGO_AUTO;
}

static hr_conv_isa parse_isa(const char *s)
{
    if (!strcmp(s, "generic"))
        return HR_CONV_ISA_GENERIC;
    if (!strcmp(s, "avx2"))
        return HR_CONV_ISA_AVX2;
    if (!strcmp(s, "avx512"))
        return HR_CONV_ISA_AVX512;
    return HR_CONV_ISA_AUTO;
}

static const char *algo_name(hr_conv_algo a)
{
    switch (a) {
    case HR_CONV_ALGO_GEMM: return "gemm";
    case HR_CONV_ALGO_WINOGRAD_F2: return "wino-f2";
    case HR_CONV_ALGO_WINOGRAD_F4: return "wino-f4";
    case HR_CONV_ALGO_WINOGRAD_S2: return "wino-s2";
    default: return "?";
    }
}

/* Creates a layer whose input buffer is x (or its own when NULL) and whose
 * workspace is shared (or its own when NULL). */
static void layer_init(layer *l, hr_ctx *ctx, const shape *s, hr_conv_algo algo, hr_conv_isa isa, int low_memory,
                       int threads, float *x, void *ws)
{
    hr_error err = {0};
    hr_conv_desc d = {s->cin, s->cout, s->k, s->stride, s->k / 2, s->groups};
    hr_conv_params p = hr_conv_params_default();
    int64_t o = hr_conv_out_size(s->hw, s->k, s->stride, s->k / 2);
    size_t nw = (size_t)(s->cout * (s->cin / s->groups) * s->k * s->k);
    unsigned seed = (unsigned)(s->cin * 7 + s->cout * 13 + s->hw);
    float *w = malloc(nw * sizeof(float)), *b = malloc((size_t)s->cout * sizeof(float));
    hr_status st;

    memset(l, 0, sizeof *l);
    l->s = *s;
    l->threads = threads;
    l->low_memory = low_memory;
    l->algo = algo;
    p.algo = algo;
    p.isa = isa;
    p.low_memory = low_memory;
    p.height = p.width = s->hw;
    if (!w || !b)
        die("out of memory", HR_ERR_NOMEM, NULL);
    fill(w, nw, &seed, 2.0f / (float)(s->k * s->k * s->cin / s->groups));
    fill(b, (size_t)s->cout, &seed, 0.1f);
    if ((st = hr_conv_create(ctx, &d, w, b, &p, &l->conv, &err)))
        die("hr_conv_create", st, &err);
    free(w);
    free(b);
    l->x = x ? x : malloc((size_t)(s->cin * s->hw * s->hw) * sizeof(float));
    l->y = malloc((size_t)(s->cout * o * o) * sizeof(float));
    if (!x)
        fill(l->x, (size_t)(s->cin * s->hw * s->hw), &seed, 2.0f);
    l->tx = hr_tensor_4d(l->x, 1, s->cin, s->hw, s->hw);
    l->ty = hr_tensor_4d(l->y, 1, s->cout, o, o);
    if (ws) {
        l->ws = ws;
    } else {
        size_t bytes = hr_conv_workspace_bytes(l->conv, 1, s->hw, s->hw, threads);
        if (posix_memalign(&l->ws, 64, bytes ? bytes : 64))
            die("out of memory", HR_ERR_NOMEM, NULL);
        memset(l->ws, 0, bytes);
    }
}

static void layer_run(hr_ctx *ctx, layer *l, unsigned flags)
{
    hr_error err = {0};
    hr_status st = hr_conv_run(ctx, l->conv, &l->tx, flags, &l->ty, l->ws, &err);
    if (st)
        die("hr_conv_run", st, &err);
}

/* Warm-up: at least two runs and 30 ms, so caches hold the weights and the
 * cores (virtual ones, here) are awake: after ~0.1 s idle, a 2-thread run
 * measured at once was seen to take as long as a 1-thread one. */
static double time_layer(hr_ctx *ctx, layer *l, int repeat)
{
    double *t = malloc((size_t)repeat * sizeof(double)), m, start = now_ms();
    for (int i = 0; i < 2 || now_ms() - start < 30.0; i++)
        layer_run(ctx, l, 0);
    for (int r = 0; r < repeat; r++) {
        double t0 = now_ms();
        layer_run(ctx, l, 0);
        t[r] = now_ms() - t0;
    }
    m = median(t, repeat);
    free(t);
    return m;
}

static double layer_gflop(const shape *s)
{
    double o = (double)hr_conv_out_size(s->hw, s->k, s->stride, s->k / 2);
    return 2.0 * s->cin / s->groups * s->cout * s->k * s->k * o * o * 1e-9;
}

/* ---- whole model ---- */

typedef struct model {
    int n, threads;
    layer *l;
    double gflop;
    size_t weight_bytes;
    float *act[2];
    void *ws;
} model;

/* RepVGG-B3 deploy form: every block one 3x3 convolution (pad 1) with bias
 * and ReLU; groups on the odd blocks of stages 1-3 for the g2/g4 variants. */
static int64_t shape_weights(const shape *s) { return (int64_t)s->cout * (s->cin / s->groups) * s->k * s->k; }

/* RepVGG-B3 deploy form: every block one 3x3 convolution (pad 1) with bias
 * and ReLU; groups on the odd blocks of stages 1-3 for the g2/g4 variants.
 * Layers are created largest first, so the transient plain copy of the
 * weights being packed is the small one once most of the model exists (peak
 * RSS then measures the model, not the order of construction). */
static void model_init(model *m, hr_ctx *ctx, const char *name, hr_conv_isa isa, int low_memory, int threads)
{
    static const int depth[5] = {1, 4, 6, 16, 1}, width[5] = {64, 192, 384, 768, 2560};
    int groups = !strcmp(name, "b3g2") ? 2 : !strcmp(name, "b3g4") ? 4 : 1;
    int cin = 3, hw = 224, idx = 0, order[28], done[28] = {0};
    size_t act = 0, ws = 0;
    shape s[28];

    memset(m, 0, sizeof *m);
    m->threads = threads;
    m->l = calloc(28, sizeof(layer));
    for (int st = 0; st < 5; st++)
        for (int b = 0; b < depth[st]; b++, idx++) {
            shape sh = {"", cin, width[st], hw, 3, b == 0 ? 2 : 1, 1};
            if (groups > 1 && idx % 2 == 0 && idx > 0 && st < 4)
                sh.groups = groups;
            s[m->n++] = sh;
            if ((size_t)(cin * hw * hw) > act)
                act = (size_t)(cin * hw * hw);
            hw = (int)hr_conv_out_size(hw, 3, sh.stride, 1);
            cin = width[st];
            if ((size_t)(cin * hw * hw) > act)
                act = (size_t)(cin * hw * hw);
        }
    for (int i = 0; i < m->n; i++) {
        int best = -1;
        for (int k = 0; k < m->n; k++)
            if (!done[k] && (best < 0 || shape_weights(&s[k]) > shape_weights(&s[best])))
                best = k;
        done[best] = 1;
        order[i] = best;
    }
    /* the caller's plain weights exist only while their layer is created */
    for (int i = 0; i < m->n; i++) {
        layer *l = &m->l[order[i]];
        const shape *sh = &s[order[i]];
        float *w = malloc((size_t)shape_weights(sh) * sizeof(float)), *b = malloc((size_t)sh->cout * sizeof(float));
        if (!w || !b)
            die("out of memory", HR_ERR_NOMEM, NULL);
        hr_conv_desc d = {sh->cin, sh->cout, 3, sh->stride, 1, sh->groups};
        hr_conv_params p = hr_conv_params_default();
        hr_error err = {0};
        hr_status st;
        unsigned wseed = (unsigned)(sh->cin * 7 + sh->cout * 13 + sh->hw);
        p.isa = isa;
        p.low_memory = low_memory;
        p.height = p.width = sh->hw;
        fill(w, (size_t)shape_weights(sh), &wseed, 2.0f / (float)(9 * sh->cin / sh->groups));
        fill(b, (size_t)sh->cout, &wseed, 0.1f);
        memset(l, 0, sizeof *l);
        l->s = *sh;
        l->threads = threads;
        if ((st = hr_conv_create(ctx, &d, w, b, &p, &l->conv, &err)))
            die("hr_conv_create", st, &err);
        m->gflop += layer_gflop(sh);
        m->weight_bytes += hr_conv_packed_bytes(l->conv);
        size_t wb = hr_conv_workspace_bytes(l->conv, 1, sh->hw, sh->hw, threads);
        if (wb > ws)
            ws = wb;
        free(w);
        free(b);
    }
    /* two ping-pong activation buffers and one workspace, planned once */
    unsigned seed = 1;
    for (int i = 0; i < 2; i++)
        if (posix_memalign((void **)&m->act[i], 64, act * sizeof(float)))
            die("out of memory", HR_ERR_NOMEM, NULL);
    if (posix_memalign(&m->ws, 64, ws))
        die("out of memory", HR_ERR_NOMEM, NULL);
    fill(m->act[0], 3 * 224 * 224, &seed, 2.0f);
    for (int i = 0; i < m->n; i++) {
        layer *l = &m->l[i];
        int64_t o = hr_conv_out_size(l->s.hw, 3, l->s.stride, 1);
        l->x = m->act[i % 2];
        l->y = m->act[(i + 1) % 2];
        l->ws = m->ws;
        l->tx = hr_tensor_4d(l->x, 1, l->s.cin, l->s.hw, l->s.hw);
        l->ty = hr_tensor_4d(l->y, 1, l->s.cout, o, o);
    }
}

static double time_model(hr_ctx *ctx, model *m, int repeat)
{
    double *t = malloc((size_t)repeat * sizeof(double)), r;
    for (int it = -2; it < repeat; it++) {
        double t0 = now_ms();
        for (int i = 0; i < m->n; i++)
            layer_run(ctx, &m->l[i], HR_EPI_RELU);
        if (it >= 0)
            t[it] = now_ms() - t0;
    }
    r = median(t, repeat);
    free(t);
    return r;
}

/* Peak resident set of this process image in kB: VmHWM from /proc (reset by
 * exec, unlike ru_maxrss, which a child forked from a large parent inherits),
 * getrusage elsewhere. */
static long peak_rss_kb(void)
{
    struct rusage ru;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                char *end;
                kb = strtol(line + 6, &end, 10);
                if (end == line + 6)
                    kb = -1;
                break;
            }
        fclose(f);
    }
    if (kb >= 0)
        return kb;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- modes ---- */

static hr_ctx *ctx_for(hr_ctx **cache, int threads)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_status st;
    if (threads < 1 || threads > 64)
        die("threads out of range 1..64", HR_ERR_INVALID_ARG, NULL);
    if (!cache[threads]) {
        cp.threads = threads;
        if ((st = hr_ctx_create(&cp, &cache[threads], &err)))
            die("hr_ctx_create", st, &err);
    }
    return cache[threads];
}

static int parse_int(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000) {
        fprintf(stderr, "bench_conv: bad %s '%s'\n", what, s);
        exit(2);
    }
    return (int)v;
}

static int serve(hr_conv_isa isa)
{
    hr_ctx *ctxs[65] = {0};
    layer *cache = NULL;
    model models[8];
    char mnames[8][16];
    int mthreads[8], mlow[8], ncache = 0, nmodels = 0;
    char line[512];

    while (fgets(line, sizeof line, stdin)) {
        char *tok[16];
        int nt = 0, low = 0;
        hr_conv_algo algo = HR_CONV_ALGO_AUTO;
        for (char *p = strtok(line, " \t\r\n"); p && nt < 16; p = strtok(NULL, " \t\r\n"))
            tok[nt++] = p;
        if (nt == 0)
            continue;
        for (int i = 1; i < nt; i++) {
            if (!strncmp(tok[i], "algo=", 5))
                algo = parse_algo(tok[i] + 5);
            else if (!strncmp(tok[i], "lowmem=", 7))
                low = parse_int(tok[i] + 7, "lowmem");
        }
        if (!strcmp(tok[0], "conv") && nt >= 10) {
            shape s = {"serve", parse_int(tok[1], "cin"), parse_int(tok[2], "cout"), parse_int(tok[3], "h"),
                       parse_int(tok[5], "k"), parse_int(tok[6], "stride"), parse_int(tok[7], "groups")};
            int threads = parse_int(tok[8], "threads"), repeat = parse_int(tok[9], "repeat");
            if (parse_int(tok[4], "w") != s.hw) {
                fprintf(stderr, "bench_conv: only square inputs\n");
                return 2;
            }
            hr_ctx *ctx = ctx_for(ctxs, threads);
            layer *l = NULL;
            for (int i = 0; i < ncache; i++)
                if (!memcmp(&cache[i].s.cin, &s.cin, 6 * sizeof(int)) && cache[i].threads == threads &&
                    cache[i].algo == algo && cache[i].low_memory == low)
                    l = &cache[i];
            if (!l) {
                cache = realloc(cache, (size_t)(ncache + 1) * sizeof *cache);
                l = &cache[ncache++];
                layer_init(l, ctx, &s, algo, isa, low, threads, NULL, NULL);
            }
            printf("%.4f %s %.5f\n", time_layer(ctx, l, repeat < 1 ? 1 : repeat), algo_name(hr_conv_get_algo(l->conv)),
                   layer_gflop(&s));
        } else if (!strcmp(tok[0], "model") && nt >= 4) {
            int threads = parse_int(tok[2], "threads"), repeat = parse_int(tok[3], "repeat"), k = -1;
            hr_ctx *ctx = ctx_for(ctxs, threads);
            for (int i = 0; i < nmodels; i++)
                if (!strcmp(mnames[i], tok[1]) && mthreads[i] == threads && mlow[i] == low)
                    k = i;
            if (k < 0) {
                if (nmodels == 8)
                    return 2;
                k = nmodels++;
                snprintf(mnames[k], sizeof mnames[k], "%s", tok[1]);
                mthreads[k] = threads;
                mlow[k] = low;
                model_init(&models[k], ctx, tok[1], isa, low, threads);
            }
            double ms = time_model(ctx, &models[k], repeat < 1 ? 1 : repeat);
            printf("%.4f %.1f GFLOP/s weights %.1f MB rss %.1f MB\n", ms, models[k].gflop / ms * 1e3,
                   (double)models[k].weight_bytes / 1e6, (double)peak_rss_kb() * 1024.0 / 1e6);
        } else {
            printf("error: expected 'conv cin cout h w k stride groups threads repeat' or 'model name threads repeat'\n");
        }
        fflush(stdout);
    }
    return 0;
}

/* glibc raises its mmap threshold to the size of each large block freed
 * (up to 32 MB), after which the temporary plain weights of the next layers
 * come from the heap and their freed space stays resident between the
 * packed copies. A fixed 1 MB threshold returns every large block to the
 * system, so peak RSS measures the model rather than heap fragmentation. */
static void fix_mmap_threshold(void)
{
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

int main(int argc, char **argv)
{
    hr_conv_algo algo = HR_CONV_ALGO_AUTO;
    hr_conv_isa isa = HR_CONV_ISA_AUTO;
    int low = 0, repeat = 20, nthreads = 2, threads[2] = {1, 2};
    const char *model_name = NULL;
    hr_ctx *ctxs[65] = {0};

    fix_mmap_threshold();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--serve"))
            return serve(isa);
        else if (!strcmp(argv[i], "--algo") && i + 1 < argc)
            algo = parse_algo(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
            isa = parse_isa(argv[++i]);
        else if (!strcmp(argv[i], "--low-memory"))
            low = 1;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = parse_int(argv[++i], "repeat");
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads[0] = parse_int(argv[++i], "threads"), nthreads = 1;
        else if (!strcmp(argv[i], "--model"))
            model_name = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : "b3";
        else {
            fprintf(stderr, "usage: bench_conv [--serve] [--model [b3|b3g2|b3g4]] [--algo auto|gemm|wino|f2|f4]\n"
                            "                  [--isa auto|generic|avx2|avx512] [--low-memory] [--repeat N] [--threads T]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    if (model_name) {
        model m;
        hr_ctx *ctx = ctx_for(ctxs, threads[0]);
        model_init(&m, ctx, model_name, isa, low, threads[0]);
        double ms = time_model(ctx, &m, repeat);
        printf("%s threads %d%s: %.2f ms, %.1f GFLOP/s (%.2f GFLOP), weights %.1f MB, peak RSS %.1f MB\n", model_name,
               threads[0], low ? " low-memory" : "", ms, m.gflop / ms * 1e3, m.gflop, (double)m.weight_bytes / 1e6,
               (double)peak_rss_kb() * 1024.0 / 1e6);
        return 0;
    }
    printf("%-18s %5s %5s %4s %2s %2s %2s %-8s %-7s %10s | %9s %7s | %9s %7s\n", "layer", "cin", "cout", "hw", "k",
           "s", "g", "algo", "isa", "weights MB", "1T ms", "GFLOP/s", "2T ms", "GFLOP/s");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        double ms[2] = {0, 0};
        layer l[2];
        for (int t = 0; t < nthreads; t++) {
            hr_ctx *ctx = ctx_for(ctxs, threads[t]);
            layer_init(&l[t], ctx, s, algo, isa, low, threads[t], NULL, NULL);
            ms[t] = time_layer(ctx, &l[t], repeat);
        }
        printf("%-18s %5d %5d %4d %2d %2d %2d %-8s %-7s %10.2f", s->name, s->cin, s->cout, s->hw, s->k, s->stride,
               s->groups, algo_name(hr_conv_get_algo(l[0].conv)), hr_conv_get_isa_name(l[0].conv),
               (double)hr_conv_packed_bytes(l[0].conv) / 1e6);
        for (int t = 0; t < nthreads; t++)
            printf(" | %9.3f %7.1f", ms[t], layer_gflop(s) / ms[t] * 1e3);
        printf("\n");
        fflush(stdout);
        for (int t = 0; t < nthreads; t++) {
            hr_conv_destroy(l[t].conv);
            free(l[t].x), free(l[t].y), free(l[t].ws);
        }
    }
    for (int t = 0; t < 65; t++)
        hr_ctx_destroy(ctxs[t]);
    return 0;
}
