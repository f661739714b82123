/* Edge emulation figure (SPEC §13.2, issue 12 part 3): the emulated head time
 * of a whole forward against the LUT's prediction. The head is the local
 * placement (stage 0, every block at its deploy γ, the classifier: all on
 * the edge), so the prediction is the LUT's client stage 0 + Σ blocks +
 * classifier. Per frame: the wall time of hr_deploy_part_run_whole with the
 * emulator set, median over --frames frames after --warmup; the ratio
 * measured / predicted should lie within ±10 %.
 *
 *   bench_edge_emulate --lut hardware_lut_complete.json [--frames 300]
 *                      [--warmup 20] [--threads 1] [--flat F]
 *
 * The LUT's client must be emulated (an edge profile, or a flat slowdown):
 * that is what the emulator plays. --flat F also times the flat form
 * without a LUT (each unit F × its own time here) against F × the
 * unemulated median. Prints one line per figure; see bench/edge_figures.sh
 * for the whole recipe (LUTs measured, merged, then this). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/clock.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/lut.h"
#include "hyperrep/serve.h"

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

/* Median ms per frame of `frames` forwards (after `warmup`) of part with
 * emu set (NULL: unemulated); stats over the timed frames into st. */
static int time_frames(hr_deploy_part *part, hr_edge_emu *emu, const float *x, float *y, int warmup, int frames,
                       double *med, hr_edge_emu_stats *st, hr_error *err)
{
    double *t = malloc(sizeof(double) * (size_t)frames);
    if (!t || hr_deploy_part_set_edge_emu(part, emu, err)) {
        free(t);
        return 0;
    }
    for (int i = 0; i < warmup + frames; i++) {
        if (emu && i == warmup)
            hr_edge_emu_stats_reset(emu);
        int64_t t0 = hr_clock_now_ns();
        if (hr_deploy_part_run_whole(part, x, y, err)) {
            free(t);
            return 0;
        }
        if (i >= warmup)
            t[i - warmup] = (double)(hr_clock_now_ns() - t0) / 1e6;
    }
    *med = median(t, frames);
    if (emu)
        hr_edge_emu_stats_get(emu, st);
    free(t);
    return 1;
}

int main(int argc, char **argv)
{
    const char *lut_path = NULL;
    int frames = 300, warmup = 20, threads = 1;
    double flat = 0;
    hr_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) {
            fprintf(stderr, "bench_edge_emulate: %s needs a value\n", a);
            return 2;
        }
        errno = 0;
        if (strcmp(a, "--lut") == 0)
            lut_path = v;
        else if (strcmp(a, "--frames") == 0)
            frames = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--warmup") == 0)
            warmup = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--threads") == 0)
            threads = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--flat") == 0)
            flat = strtod(v, &end);
        else {
            fprintf(stderr, "usage: bench_edge_emulate --lut FILE [--frames N] [--warmup N] [--threads N] "
                            "[--flat F]\n");
            return 2;
        }
        if (end && (*end || errno)) {
            fprintf(stderr, "bench_edge_emulate: %s: '%s' is not a number\n", a, v);
            return 2;
        }
        i++;
    }
    if (!lut_path || frames < 1 || warmup < 0 || threads < 1) {
        fprintf(stderr, "usage: bench_edge_emulate --lut FILE [--frames N] [--warmup N] [--threads N] [--flat F]\n");
        return 2;
    }

    hr_lut *lut = NULL;
    hr_ctx *ctx = NULL;
    hr_deploy_part *part = NULL;
    hr_edge_emu *emu = NULL, *femu = NULL;
    hr_deploy_config cfg;
    hr_ctx_params cp = hr_ctx_params_default();
    hr_edge_emu_stats st;
    char planned[320], json[160];
    float *x = NULL, *y = NULL;
    int rc = 1;
    hr_deploy_config_init(&cfg);
    if (hr_lut_load(lut_path, &lut, &err))
        goto fail;
    if (!hr_edge_emu_lut_planned(lut, planned, sizeof planned)) {
        fprintf(stderr, "bench_edge_emulate: %s's client is not an emulated edge: nothing to compare\n", lut_path);
        goto out;
    }
    const hr_arch *arch = hr_arch_find(lut->model);
    if (!arch) {
        hr_error_set(&err, HR_ERR_NOT_FOUND, "%s: unknown model %s", lut_path, lut->model);
        goto fail;
    }
    if (lut->input_shape[1] > 0)
        snprintf(json, sizeof json, "{\"arch\": \"%s\", \"split\": \"local\", \"input_size\": %lld}",
                 arch->name, (long long)lut->input_shape[1]);
    else
        snprintf(json, sizeof json, "{\"arch\": \"%s\", \"split\": \"local\"}", arch->name);
    cp.threads = threads;
    if (hr_deploy_config_parse(json, "bench", &cfg, &err) || hr_ctx_create(&cp, &ctx, &err) ||
        hr_deploy_part_create(ctx, &cfg, HR_DEPLOY_WHOLE, NULL, 42, &part, &err) ||
        hr_deploy_config_resolve(&cfg, hr_deploy_part_model(part), &err) ||
        hr_edge_emu_create(lut, hr_deploy_part_model(part), cfg.gamma, &emu, &err))
        goto fail;

    /* the LUT's prediction of the head: every unit at the deployed γ */
    double predicted = hr_edge_emu_lut_time_ms(lut, HR_EDGE_EMU_STAGE0, 0) +
                       hr_edge_emu_lut_time_ms(lut, HR_EDGE_EMU_CLASSIFIER, 0);
    for (int k = 0; k < cfg.nblocks; k++)
        predicted += hr_edge_emu_lut_time_ms(lut, k, cfg.gamma[k]);
    int64_t in[4];
    hr_deploy_part_input_shape(part, in);
    x = calloc((size_t)(in[1] * in[2] * in[3]), sizeof *x);
    y = calloc((size_t)hr_deploy_part_num_classes(part), sizeof *y);
    if (!x || !y) {
        hr_error_set(&err, HR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < in[1] * in[2] * in[3]; i++)
        x[i] = (float)sin((double)i);

    double host, emulated;
    if (!time_frames(part, NULL, x, y, warmup, frames, &host, NULL, &err) ||
        !time_frames(part, emu, x, y, warmup, frames, &emulated, &st, &err))
        goto fail;
    printf("model %s, local placement (%d blocks + stage 0 + classifier on the edge), %d thread(s), %d frames "
           "(median after %d warm-up)\n",
           arch->name, cfg.nblocks, threads, frames, warmup);
    printf("LUT %s: client %s; client threads in the LUT %d\n", lut_path, planned, lut->threads[HR_DEVICE_CLIENT]);
    printf("this machine, unemulated: %.4f ms per frame\n", host);
    printf("emulated (LUT deadlines): %.4f ms per frame, LUT predicts %.4f ms: ratio %.4f (%+.2f %%)\n", emulated,
           predicted, emulated / predicted, 100 * (emulated / predicted - 1));
    printf("  means per frame: emulated %.4f ms / target %.4f ms = %.4f;\n", st.emulated_ms / frames,
           st.target_ms / frames, st.emulated_ms / st.target_ms);
    printf("  per frame: target %.4f ms, compute %.4f ms, wake-up lateness %.4f ms; %lld overruns (%.4f ms), "
           "%lld waits over %d frames; spin tail %.0f us\n",
           st.target_ms / frames, st.host_ms / frames, st.late_ms / frames, (long long)st.overruns, st.overrun_ms,
           (long long)st.waits, frames, (double)HR_CLOCK_SPIN_TAIL_NS / 1e3);
    if (flat > 0) {
        double fmed;
        if (hr_edge_emu_create_flat(flat, &femu, &err) ||
            !time_frames(part, femu, x, y, warmup, frames, &fmed, &st, &err))
            goto fail;
        /* The flat form multiplies each unit's own time here, so its
         * target moves with every frame's compute: compare means (a
         * descheduled unit inflates both sides), and with F x the
         * unemulated forward for scale (a unit run alone, one block per
         * call, costs a little more than its share of the fused forward). */
        double em = st.emulated_ms / frames, tm = st.target_ms / frames;
        printf("flat x %g without a LUT: median %.4f ms per frame; mean %.4f ms against its target %g x its units' "
               "own compute = %.4f ms: ratio %.4f (%+.2f %%); median against %g x the unemulated median (%.4f ms): "
               "ratio %.4f (%+.2f %%)\n",
               flat, fmed, em, flat, tm, em / tm, 100 * (em / tm - 1), flat, flat * host, fmed / (flat * host),
               100 * (fmed / (flat * host) - 1));
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_edge_emulate: %s\n", err.msg);
out:
    hr_deploy_part_destroy(part);
    hr_edge_emu_destroy(emu);
    hr_edge_emu_destroy(femu);
    hr_deploy_config_deinit(&cfg);
    hr_ctx_destroy(ctx);
    hr_lut_destroy(lut);
    free(x);
    free(y);
    return rc;
}
