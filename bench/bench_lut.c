/* LUT figures (issue 4): repeatability of two per-device LUTs, and how well
 * a LUT predicts the whole-model forward.
 *
 *   bench_lut compare A.json B.json
 *       median / p90 / max absolute relative difference of median_ms over
 *       every valid entry (and of time_ms, the mean), stage 0 and classifier
 *       included; then the same after dividing out the median ratio A/B (a
 *       machine uniformly slower in one run: what is left is the noise in
 *       the LUT's relative structure, which is what the optimizers use).
 *   bench_lut predict --lut lut_client.json [--weights W] [--threads N]
 *                     [--repeat 50] [--rounds 3] [--stat median|mean]
 *       builds the LUT's model (random weights from seed 42 unless --weights,
 *       deploy γ everywhere, threads from the LUT unless --threads) and, in
 *       --rounds interleaved rounds, times (a) whole forwards
 *       (hr_model_forward, as `hyperrep forward --repeat`) and (b) the same
 *       forward cut into its pieces (stage 0, every block, classifier, each
 *       timed on the activations the previous one produced) and (c) every
 *       piece alone, back to back on a random input: the LUT's own method,
 *       re-run here interleaved with (a) so that both see the same load from
 *       other processes. Prints per piece the LUT entry of its deploy γ, (c)
 *       and (b), and the whole-model predictions (stage 0 + blocks +
 *       classifier) of the LUT file and of (c) against the measured (a). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/lut.h"
#include "hyperrep/model.h"
#include "hyperrep/weights.h"

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int compare(const char *pa, const char *pb)
{
    hr_device_lut *a = NULL, *b = NULL;
    hr_error err = {0};
    double *dm, *dt, *ratio, *am, *bm;
    int n = 0, worst_i = 0, worst_g = 0;
    double worst = 0;

    if (hr_device_lut_load(pa, &a, &err) || hr_device_lut_load(pb, &b, &err)) {
        fprintf(stderr, "bench_lut: %s\n", err.msg);
        hr_device_lut_destroy(a);
        return 1;
    }
    if (strcmp(a->model, b->model) != 0 || a->nblocks != b->nblocks) {
        fprintf(stderr, "bench_lut: %s and %s are for different models\n", pa, pb);
        return 1;
    }
    const size_t cap = (size_t)(a->nblocks * HR_GAMMA_COUNT + 2);
    dm = malloc(sizeof(double) * cap);
    dt = malloc(sizeof(double) * cap);
    ratio = malloc(sizeof(double) * cap);
    am = malloc(sizeof(double) * cap);
    bm = malloc(sizeof(double) * cap);
    if (!dm || !dt || !ratio || !am || !bm)
        return 1;
    for (int i = -2; i < a->nblocks; i++)
        for (int g = 0; g < (i < 0 ? 1 : HR_GAMMA_COUNT); g++) {
            const hr_lut_entry *ea = i == -2 ? &a->stage0 : i == -1 ? &a->classifier : &a->blocks[i].e[g];
            const hr_lut_entry *eb = i == -2 ? &b->stage0 : i == -1 ? &b->classifier : &b->blocks[i].e[g];
            if (!ea->valid || !eb->valid)
                continue;
            double ma = hr_lut_entry_time(ea, HR_LUT_STAT_MEDIAN), mb = hr_lut_entry_time(eb, HR_LUT_STAT_MEDIAN);
            am[n] = ma;
            bm[n] = mb;
            ratio[n] = ma / mb;
            dm[n] = fabs(ma - mb) / mb;
            dt[n] = fabs(ea->time_ms - eb->time_ms) / eb->time_ms;
            if (dm[n] > worst) {
                worst = dm[n];
                worst_i = i;
                worst_g = g;
            }
            n++;
        }
    double med_m = median(dm, n), p90_m = dm[(int)(0.9 * (n - 1))], max_m = dm[n - 1];
    double med_t = median(dt, n), p90_t = dt[(int)(0.9 * (n - 1))];
    printf("# %s vs %s: %s, %d entries, %s, threads %d / %d\n", pa, pb, a->model, n, a->gpu_name, a->threads,
           b->threads);
    printf("median_ms: median |rel diff| %.2f %%, p90 %.2f %%, max %.2f %% (%s%s%s)\n", 100 * med_m, 100 * p90_m,
           100 * max_m, worst_i == -2 ? "stage0" : worst_i == -1 ? "classifier" : a->blocks[worst_i].name,
           worst_i >= 0 ? " " : "", worst_i >= 0 ? hr_gamma_get(worst_g)->name : "");
    printf("time_ms (mean): median |rel diff| %.2f %%, p90 %.2f %%\n", 100 * med_t, 100 * p90_t);
    double scale = median(ratio, n);
    for (int k = 0; k < n; k++)
        dm[k] = fabs(am[k] / (scale * bm[k]) - 1);
    double med_n = median(dm, n);
    printf("median_ms with the overall ratio A/B = %.4f divided out: median |rel diff| %.2f %%, p90 %.2f %%\n", scale,
           100 * med_n, 100 * dm[(int)(0.9 * (n - 1))]);
    free(dm);
    free(dt);
    free(ratio);
    free(am);
    free(bm);
    hr_device_lut_destroy(a);
    hr_device_lut_destroy(b);
    return 0;
}

static int predict(int argc, char **argv)
{
    const char *lut_path = NULL, *weights = NULL;
    int threads = 0, repeat = 50, rounds = 3;
    hr_lut_stat stat = HR_LUT_STAT_MEDIAN;
    hr_device_lut *lut = NULL;
    hr_model_params mp = hr_model_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;

    for (int a = 2; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : "";
        if (!strcmp(argv[a], "--lut")) lut_path = v, a++;
        else if (!strcmp(argv[a], "--weights")) weights = v, a++;
        else if (!strcmp(argv[a], "--threads")) threads = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--repeat")) repeat = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--rounds")) rounds = (int)strtol(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--stat")) stat = strcmp(v, "mean") ? HR_LUT_STAT_MEDIAN : HR_LUT_STAT_MEAN, a++;
        else {
            fprintf(stderr, "usage: bench_lut predict --lut L.json [--weights W] [--threads N] [--repeat R] "
                            "[--rounds K] [--stat median|mean]\n");
            return 2;
        }
    }
    if (!lut_path || repeat < 1 || rounds < 1 || threads < 0) {
        fprintf(stderr, "bench_lut predict: --lut is required; --repeat, --rounds >= 1\n");
        return 2;
    }
    if (hr_device_lut_load(lut_path, &lut, &err))
        goto fail;
    cp.threads = threads ? threads : (lut->threads > 0 ? lut->threads : 1);
    mp.input_size = lut->input_shape[1];
    mp.in_channels = lut->input_shape[0];
    mp.num_classes = lut->num_classes;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, lut->model, &mp, &m, &err))
        goto fail;
    if (weights && (hr_safetensors_load(weights, &map, &err) || hr_model_load(m, map, &err)))
        goto fail;
    if (!weights && hr_model_init_random(m, 42, &err))
        goto fail;
    if (hr_model_apply_deploy(m, &err) || hr_model_plan(m, 1, &err))
        goto fail;

    const int nb = hr_model_num_blocks(m);
    const int64_t C = lut->input_shape[0], H = lut->input_shape[1], K = lut->num_classes;
    size_t most = (size_t)(C * H * H);
    for (int i = -1; i < nb; i++) {
        hr_block_info b = hr_model_block(m, i);
        size_t o = (size_t)(b.cout * b.out_h * b.out_w);
        most = o > most ? o : most;
    }
    float *img = malloc(sizeof(float) * (size_t)(C * H * H)), *buf[2] = {malloc(sizeof(float) * most),
                                                                          malloc(sizeof(float) * most)};
    float *logits = malloc(sizeof(float) * (size_t)K);
    double *whole = malloc(sizeof(double) * (size_t)(repeat * rounds));
    double *piece = malloc(sizeof(double) * (size_t)(repeat * rounds) * (size_t)(nb + 2));
    double *iso = malloc(sizeof(double) * (size_t)(repeat * rounds) * (size_t)(nb + 2));
    float *rin = malloc(sizeof(float) * most), *rout = malloc(sizeof(float) * most);
    if (!img || !buf[0] || !buf[1] || !logits || !whole || !piece || !iso || !rin || !rout)
        return 1;
    for (size_t k = 0; k < most; k++)
        rin[k] = (float)((k * 2246822519u) % 2001) / 1000.0f - 1.0f;
    for (int64_t k = 0; k < C * H * H; k++)
        img[k] = (float)((k * 2654435761u) % 2001) / 1000.0f - 1.0f;
    hr_tensor ti = hr_tensor_4d(img, 1, C, H, H), tl = hr_tensor_view(logits, 2, (int64_t[]){1, K});

    /* Warm-up, then rounds alternating the two ways of running the model. */
    for (int r = 0; r < 5; r++)
        if (hr_model_forward(m, &ti, &tl, &err))
            goto fail;
    int nw = 0, np = 0;
    for (int round = 0; round < rounds; round++) {
        for (int r = 0; r < repeat; r++) {
            double t0 = now_ms();
            if (hr_model_forward(m, &ti, &tl, &err))
                goto fail;
            whole[nw++] = now_ms() - t0;
        }
        for (int r = 0; r < repeat; r++, np++) {
            hr_block_info s0 = hr_model_block(m, -1);
            hr_tensor x = hr_tensor_4d(buf[0], 1, s0.cout, s0.out_h, s0.out_w);
            double t0 = now_ms();
            if (hr_model_forward_stage0(m, &ti, &x, &err))
                goto fail;
            double t1 = now_ms();
            piece[(size_t)np * (size_t)(nb + 2)] = t1 - t0;
            for (int i = 0; i < nb; i++) {
                hr_block_info b = hr_model_block(m, i);
                hr_tensor y = hr_tensor_4d(buf[(i + 1) % 2], 1, b.cout, b.out_h, b.out_w);
                t0 = now_ms();
                if (hr_model_forward_range(m, i, i + 1, &x, &y, &err))
                    goto fail;
                t1 = now_ms();
                piece[(size_t)np * (size_t)(nb + 2) + 1 + (size_t)i] = t1 - t0;
                x = y;
            }
            t0 = now_ms();
            if (hr_model_forward_classifier(m, &x, &tl, &err))
                goto fail;
            piece[(size_t)np * (size_t)(nb + 2) + 1 + (size_t)nb] = now_ms() - t0;
        }
        /* (c): each piece alone, 3 warm-up runs then `repeat` timed ones. */
        for (int k = 0; k < nb + 2; k++) {
            hr_tensor x, y;
            if (k == 0) {
                hr_block_info s0 = hr_model_block(m, -1);
                x = ti;
                y = hr_tensor_4d(rout, 1, s0.cout, s0.out_h, s0.out_w);
            } else if (k == nb + 1) {
                hr_block_info b = hr_model_block(m, nb - 1);
                x = hr_tensor_4d(rin, 1, b.cout, b.out_h, b.out_w);
                y = tl;
            } else {
                hr_block_info b = hr_model_block(m, k - 1);
                x = hr_tensor_4d(rin, 1, b.cin, b.in_h, b.in_w);
                y = hr_tensor_4d(rout, 1, b.cout, b.out_h, b.out_w);
            }
            for (int r = -3; r < repeat; r++) {
                double t0 = now_ms();
                hr_status st = k == 0        ? hr_model_forward_stage0(m, &x, &y, &err)
                               : k == nb + 1 ? hr_model_forward_classifier(m, &x, &y, &err)
                                             : hr_model_forward_range(m, k - 1, k, &x, &y, &err);
                if (st)
                    goto fail;
                if (r >= 0)
                    iso[((size_t)round * (size_t)repeat + (size_t)r) * (size_t)(nb + 2) + (size_t)k] = now_ms() - t0;
            }
        }
    }
    printf("# %s (%s, threads %d), forward measured with %d threads, %d x %d runs; LUT stat %s\n", lut_path,
           lut->model, lut->threads, cp.threads, rounds, repeat, hr_lut_stat_name(stat));
    printf("%-12s %6s %12s %12s %14s %8s %8s\n", "piece", "gamma", "lut_ms", "isolated_ms", "in_forward_ms", "lut/fwd",
           "iso/fwd");
    double lut_sum = 0, piece_sum = 0, iso_sum = 0;
    double *col = malloc(sizeof(double) * (size_t)np);
    if (!col)
        return 1;
    for (int k = 0; k < nb + 2; k++) {
        const char *name;
        int g = -1;
        const hr_lut_entry *e;
        if (k == 0) {
            name = "stage0";
            e = &lut->stage0;
        } else if (k == nb + 1) {
            name = "classifier";
            e = &lut->classifier;
        } else {
            hr_block_info b = hr_model_block(m, k - 1);
            name = b.name;
            g = b.gamma;
            e = &lut->blocks[k - 1].e[g];
        }
        for (int r = 0; r < np; r++)
            col[r] = piece[(size_t)r * (size_t)(nb + 2) + (size_t)k];
        double fwd = median(col, np), l = hr_lut_entry_time(e, stat);
        for (int r = 0; r < np; r++)
            col[r] = iso[(size_t)r * (size_t)(nb + 2) + (size_t)k];
        double is = median(col, np);
        lut_sum += l;
        piece_sum += fwd;
        iso_sum += is;
        char gs[16];
        if (g >= 0)
            snprintf(gs, sizeof gs, "%d", g);
        else
            snprintf(gs, sizeof gs, "-");
        printf("%-12s %6s %12.4f %12.4f %14.4f %8.3f %8.3f\n", name, gs, l, is, fwd, l / fwd, is / fwd);
    }
    double w = median(whole, nw);
    printf("sum of pieces: LUT file %.3f ms, isolated now %.3f ms, in-forward %.3f ms\n", lut_sum, iso_sum, piece_sum);
    printf("whole forward (hr_model_forward, median of %d): %.3f ms\n", nw, w);
    printf("LUT file prediction / measured whole forward: %.3f (%+.1f %%)\n", lut_sum / w, 100 * (lut_sum / w - 1));
    printf("isolated (LUT method, interleaved) / measured whole forward: %.3f (%+.1f %%)\n", iso_sum / w,
           100 * (iso_sum / w - 1));
    free(col);
    free(img);
    free(buf[0]);
    free(buf[1]);
    free(logits);
    free(whole);
    free(piece);
    free(iso);
    free(rin);
    free(rout);
    hr_device_lut_destroy(lut);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return 0;
fail:
    fprintf(stderr, "bench_lut: %s\n", err.msg);
    hr_device_lut_destroy(lut);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3]);
    if (argc >= 2 && strcmp(argv[1], "predict") == 0)
        return predict(argc, argv);
    fprintf(stderr, "usage: bench_lut compare A.json B.json\n"
                    "       bench_lut predict --lut L.json [--weights W] [--threads N] [--repeat R] [--rounds K]\n");
    return 2;
}
