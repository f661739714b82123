/* Optimizer figures (issue 3):
 *   - time of 800 gradient steps on a 27-block LUT (target ≤ 5 ms), of the
 *     exact solver for one objective over every placement (≤ 50 µs) and of
 *     the grid search (8 splits × 800 steps);
 *   - the gradient method's and the grid's results against the exact
 *     optimum for each objective and orientation: a Markdown table.
 *
 * usage: bench_optim [--repeat N] [LUT.json …]
 * Without files it uses the reference-based RepVGG-B3 LUT (client = the
 * Jetson TX2 columns of full_gamma_analysis.md, tests/optim/ref_lut_tx2.h);
 * each file given (a merged LUT, e.g. one measured on this machine) gets the
 * same timings and table. Timings are medians of N runs (default 200). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/optim.h"
#include "../tests/optim/ref_lut_tx2.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
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

static hr_lut *reference_lut(void)
{
    hr_error err = {0};
    hr_lut *lut = NULL;
    if (hr_lut_create(HR_REF_NBLOCKS, &lut, &err)) {
        fprintf(stderr, "bench_optim: %s\n", err.msg);
        return NULL;
    }
    snprintf(lut->model, sizeof lut->model, "RepVGG-B3");
    for (int k = 0; k < HR_REF_NBLOCKS; k++) {
        const hr_ref_block *r = &hr_ref_lut_tx2[k];
        hr_lut_block *b = &lut->blocks[k];
        snprintf(b->name, sizeof b->name, "%s", r->name);
        for (int j = 0; j < 4; j++) {
            b->in_shape[j] = r->in_shape[j];
            b->out_shape[j] = r->out_shape[j];
        }
        memcpy(b->t_ms[HR_DEVICE_SERVER], r->t_server, sizeof r->t_server);
        memcpy(b->t_ms[HR_DEVICE_CLIENT], r->t_client, sizeof r->t_client);
        memcpy(b->comm_mb, r->comm_mb, sizeof r->comm_mb);
        memcpy(b->intensity, r->intensity, sizeof r->intensity);
    }
    lut->link.bandwidth_mbit_s = 100;
    lut->link.latency_ms = 1;
    lut->link.source = HR_BW_ORIGINAL_MBPS;
    lut->input_shape[0] = 3;
    lut->input_shape[1] = lut->input_shape[2] = 224;
    lut->num_classes = 1000;
    return lut;
}

typedef hr_status (*method_fn)(const hr_optim_problem *, hr_optim_result *, hr_error *);

/* Median wall time (µs) of one method call, result allocation included. */
static int time_method(const hr_optim_problem *p, method_fn fn, int repeat, double *us)
{
    double *t = malloc(sizeof(double) * (size_t)repeat);
    hr_optim_result r;
    hr_error err = {0};
    if (!t)
        return 0;
    hr_optim_result_init(&r);
    for (int i = 0; i < repeat; i++) {
        double t0 = now_us();
        if (fn(p, &r, &err)) {
            fprintf(stderr, "bench_optim: %s\n", err.msg);
            free(t);
            return 0;
        }
        t[i] = now_us() - t0;
        hr_optim_result_deinit(&r);
    }
    *us = median(t, repeat);
    free(t);
    return 1;
}

static const char *placement_str(int pl, char *buf, size_t size)
{
    if (pl == HR_PLACEMENT_RAW)
        return "raw";
    if (pl == HR_PLACEMENT_LOCAL)
        return "local";
    snprintf(buf, size, "s=%d", pl);
    return buf;
}

static int bench_lut(const hr_lut *lut, const char *label, int repeat)
{
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    hr_optim_params prm = hr_optim_params_default();
    double us_gd, us_gd_subset, us_exact, us_grid;

    if (hr_optim_problem_create(lut, NULL, &prm, &p, &err)) {
        fprintf(stderr, "bench_optim: %s: %s\n", label, err.msg);
        return 0;
    }
    printf("## %s (%s, %d blocks)\n\n", label, lut->model, lut->nblocks);
    if (!time_method(p, hr_optim_gd, repeat, &us_gd) || !time_method(p, hr_optim_exact, repeat * 10, &us_exact) ||
        !time_method(p, hr_optim_grid, repeat > 20 ? repeat / 10 : 2, &us_grid)) {
        hr_optim_problem_destroy(p);
        return 0;
    }
    hr_optim_problem_destroy(p);
    p = NULL;
    prm.mask = HR_MASK_SUBSET;
    if (hr_optim_problem_create(lut, NULL, &prm, &p, &err) || !time_method(p, hr_optim_gd, repeat, &us_gd_subset)) {
        fprintf(stderr, "bench_optim: %s: %s\n", label, err.msg);
        hr_optim_problem_destroy(p);
        return 0;
    }
    printf("| what | median |\n|---|---:|\n");
    printf("| gradient method, %d steps (exact mask) | %.3f ms |\n", prm.steps, us_gd / 1000);
    printf("| gradient method, %d steps (subset mask) | %.3f ms |\n", prm.steps, us_gd_subset / 1000);
    printf("| exact solver, one objective, every placement | %.2f µs |\n", us_exact);
    printf("| grid search, default split range, %d steps per split | %.3f ms |\n\n", prm.steps, us_grid / 1000);
    hr_optim_problem_destroy(p);

    printf("| head | objective | gd: placement | gd ms | gap %% | gd (λ from exact) ms | gap %% | grid: placement | "
           "grid ms | gap %% | exact: placement | exact ms | best split | its ms |\n");
    printf("|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---|---:|\n");
    for (int hd = 0; hd < HR_DEVICE_COUNT; hd++) {
        hr_device head = hd == 0 ? HR_DEVICE_CLIENT : HR_DEVICE_SERVER;
        for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++) {
            hr_optim_result r[4];
            char b0[16], b1[16], b2[16];
            int ok = 1;
            for (int m = 0; m < 4; m++)
                hr_optim_result_init(&r[m]);
            prm = hr_optim_params_default();
            prm.head = head;
            prm.objective = (hr_objective)obj;
            ok = !hr_optim_problem_create(lut, NULL, &prm, &p, &err) && !hr_optim_gd(p, &r[0], &err) &&
                 !hr_optim_grid(p, &r[2], &err) && !hr_optim_exact(p, &r[3], &err);
            hr_optim_problem_destroy(p);
            p = NULL;
            prm.lambda_init = HR_LAMBDA_INIT_EXACT;
            ok = ok && !hr_optim_problem_create(lut, NULL, &prm, &p, &err) && !hr_optim_gd(p, &r[1], &err);
            hr_optim_problem_destroy(p);
            p = NULL;
            if (!ok) {
                fprintf(stderr, "bench_optim: %s\n", err.msg);
                for (int m = 0; m < 4; m++)
                    hr_optim_result_deinit(&r[m]);
                return 0;
            }
            /* the exact optimum restricted to the splits the gradient method can reach */
            int bs = -1;
            for (int i = 0; i < r[3].nsplits; i++)
                if (r[3].splits[i].eval.placement >= 0 &&
                    (bs < 0 || r[3].splits[i].objective_value < r[3].splits[bs].objective_value))
                    bs = i;
            char b3[16];
            printf("| %s | %s | %s | %.3f | %.1f | %.3f | %.1f | %s | %.3f | %.1f | %s | %.3f | %s | %.3f |\n",
                   hr_device_name(head), hr_objective_name((hr_objective)obj),
                   placement_str(r[0].eval.placement, b0, sizeof b0), r[0].objective_value, r[0].gap_to_exact_pct,
                   r[1].objective_value, r[1].gap_to_exact_pct, placement_str(r[2].eval.placement, b1, sizeof b1),
                   r[2].objective_value, r[2].gap_to_exact_pct, placement_str(r[3].eval.placement, b2, sizeof b2),
                   r[3].objective_value, placement_str(r[3].splits[bs].eval.placement, b3, sizeof b3),
                   r[3].splits[bs].objective_value);
            for (int m = 0; m < 4; m++)
                hr_optim_result_deinit(&r[m]);
        }
    }
    printf("\n");
    return 1;
}

int main(int argc, char **argv)
{
    int repeat = 200, nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "bench_optim: --repeat needs 1..100000\n");
                return 2;
            }
            repeat = (int)v;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_optim [--repeat N] [LUT.json …]\n");
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        hr_lut *lut = NULL;
        hr_error err = {0};
        if (strcmp(argv[i], "--repeat") == 0) {
            i++;
            continue;
        }
        nfiles++;
        if (hr_lut_load(argv[i], &lut, &err)) {
            fprintf(stderr, "bench_optim: %s\n", err.msg);
            rc = 1;
            continue;
        }
        if (!bench_lut(lut, argv[i], repeat))
            rc = 1;
        hr_lut_destroy(lut);
    }
    if (!nfiles) {
        hr_lut *lut = reference_lut();
        if (!lut || !bench_lut(lut, "reference-based LUT (client = Jetson TX2, full_gamma_analysis.md)", repeat))
            rc = 1;
        hr_lut_destroy(lut);
    }
    return rc;
}
