/* Where co-design pays, the plot side: sensitivity.dat holds the sweep's
 * values column by column; the joint result's pruned state is read from
 * final_configuration.pruned, else stage1_accuracy.pruned_weights; a joint
 * result for another model is refused; the report section carries the
 * region sentence and the table. Nothing is rendered here (test_plot.c
 * draws the figure through `hyperrep plot`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/plot.h"

#define FIX HR_FIXTURES_DIR "/plot"

/* The whole file as a string (hr_test_read_all leaves room for the NUL). */
static char *slurp(const char *path)
{
    size_t n;
    char *p = (char *)hr_test_read_all(path, &n);
    p[n] = '\0';
    return p;
}

static void assert_col(double got, double want, const char *what, int row)
{
    if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= 1e-8 * fmax(1.0, fabs(want))))
        fail_msg("row %d, %s: %.17g in the file, %.17g in the sweep", row, what, got, want);
}

/* tests/core/test_placement.c checks the text forms themselves */
static const char *placement_text(int placement, char *buf, size_t size)
{
    return hr_placement_format(placement, buf, size);
}

/* Every column of every row against the point it comes from: the sweeps'
 * points one after the other. */
static void check_dat(const char *path, const hr_sensitivity *sweeps, int nsweeps)
{
    char *dat = slurp(path), *line, *save = NULL;
    int row = 0, j = 0, n = sweeps[0].nblocks;
    const hr_sensitivity *s = sweeps;
    assert_non_null(strstr(dat, "# edges slowdown bandwidth_mbit_s codesign_placement codesign_y "));
    for (line = strtok_r(dat, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char fpl[32], bpl[32], want[32], obj[32];
        double c[22];
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (row == s->npoints) {
            assert_true(++j < nsweeps);
            s = &sweeps[j];
            row = 0;
        }
        int got = sscanf(line, "%lf %lf %lf %31s %lf %lf %lf %lf %lf %31s %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf "
                         "%lf %31s", &c[0], &c[1], &c[2], fpl, &c[4], &c[5], &c[6], &c[7], &c[8], bpl, &c[10],
                         &c[11], &c[12], &c[13], &c[14], &c[15], &c[16], &c[17], &c[18], &c[19], &c[20], &c[21], obj);
        if (got != 23)
            fail_msg("row %d has %d of 23 columns: %s", row, got, line);
        assert_string_equal(obj, hr_objective_name(s->objective));
        const hr_sensitivity_point *p = &s->points[row];
        const hr_optim_eval *f = &p->final_eval, *b = &p->baseline_eval;
        assert_col(c[0], p->edges, "edges", row);
        assert_col(c[1], p->slowdown, "slowdown", row);
        assert_col(c[2], p->bandwidth_mbit_s, "bandwidth", row);
        assert_string_equal(fpl, placement_text(f->placement, want, sizeof want));
        assert_col(c[4], f->placement == HR_PLACEMENT_RAW ? -1 : f->placement == HR_PLACEMENT_LOCAL ? n + 1 : f->placement,
                   "codesign_y", row);
        assert_col(c[5], f->latency_ms, "codesign latency", row);
        assert_col(c[6], f->cycle_ms, "codesign cycle", row);
        assert_col(c[7], f->fps, "codesign fps", row);
        assert_col(c[8], f->pipelined_fps, "codesign pipelined fps", row);
        assert_string_equal(bpl, placement_text(b->placement, want, sizeof want));
        assert_col(c[10], b->placement == HR_PLACEMENT_RAW ? -1 : b->placement == HR_PLACEMENT_LOCAL ? n + 1 : b->placement,
                   "baseline_y", row);
        assert_col(c[11], b->latency_ms, "baseline latency", row);
        assert_col(c[12], b->cycle_ms, "baseline cycle", row);
        assert_col(c[13], b->fps, "baseline fps", row);
        assert_col(c[14], b->pipelined_fps, "baseline pipelined fps", row);
        assert_col(c[15], p->gain_fps_pct, "gain fps", row);
        assert_col(c[16], p->gain_pipelined_pct, "gain pipelined", row);
        assert_col(c[17], p->best_split, "best split", row);
        assert_col(c[18], p->split_saving_pct, "split saving", row);
        assert_col(c[19], p->split_pays, "split pays", row);
        assert_col(c[20], p->final_value, "codesign objective", row);
        assert_col(c[21], p->baseline_value, "baseline objective", row);
        row++;
    }
    assert_int_equal(j, nsweeps - 1);
    assert_int_equal(row, s->npoints);
    free(dat);
}

static void test_dat_columns(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    static const double sl[] = {1, 6};
    HR_ASSERT_OK(hr_lut_load(FIX "/hardware_lut_complete.json", &lut, &err), &err);
    unsigned *live = malloc(sizeof *live * (size_t)lut->nblocks);
    assert_non_null(live);
    HR_ASSERT_OK(hr_optim_existing_branches(lut, live, &err), &err);
    live[3] &= ~(unsigned)HR_BR_DENSE;
    hr_sensitivity_params sp = hr_sensitivity_params_default();
    sp.optim.objective = HR_OBJECTIVE_CYCLE;
    sp.slowdown = sl, sp.nslowdown = 2;
    hr_sensitivity s;
    hr_sensitivity_init(&s);
    HR_ASSERT_OK(hr_sensitivity_compute(lut, live, &sp, &s, &err), &err);

    const char *dir = hr_test_tmpdir();
    hr_plot_params pp = hr_plot_params_default();
    pp.render = 0;
    int rendered = 1;
    HR_ASSERT_OK(hr_plot_sensitivity_figure(dir, "sens", &s, 1, "test state", &pp, &rendered, &err), &err);
    assert_int_equal(rendered, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/sens.dat", dir);
    check_dat(path, &s, 1);
    /* The script draws the three panels from that file, one series per row
     * of the grid. */
    snprintf(path, sizeof path, "%s/sens.gp", dir);
    char *gp = slurp(path);
    assert_non_null(strstr(gp, "set multiplot"));
    assert_non_null(strstr(gp, "'sens.dat' index base + i using 3:($5 + off(i))"));
    assert_non_null(strstr(gp, "'sens.dat' index base + i using 3:($11 + off(i))"));
    assert_non_null(strstr(gp, "'sens.dat' index base + i using 3:16"));
    assert_non_null(strstr(gp, "'sens.dat' index base + i using 3:17"));
    assert_non_null(strstr(gp, "set logscale x"));
    assert_non_null(strstr(gp, "'all on server (raw)' -1"));
    assert_non_null(strstr(gp, "'all on edge (local)' 28"));
    assert_non_null(strstr(gp, "ns = 2"));
    assert_non_null(strstr(gp, "(a) cycle objective (pipelined stream)"));
    free(gp);

    hr_sensitivity empty;
    hr_sensitivity_init(&empty);
    assert_int_equal(hr_plot_sensitivity_figure(dir, "e", &empty, 1, NULL, &pp, NULL, &err), HR_ERR_INVALID_ARG);
    /* Two columns must share the grid. */
    hr_sensitivity two[2];
    static const double one[] = {4};
    two[0] = s;
    hr_sensitivity_init(&two[1]);
    sp.slowdown = one, sp.nslowdown = 1;
    HR_ASSERT_OK(hr_sensitivity_compute(lut, live, &sp, &two[1], &err), &err);
    assert_int_equal(hr_plot_sensitivity_figure(dir, "e", two, 2, NULL, &pp, NULL, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "another grid"));
    hr_sensitivity_deinit(&two[1]);
    hr_sensitivity_deinit(&s);
    free(live);
    hr_lut_destroy(lut);
}

static char outdir[512];

/* Runs hr_plot_sensitivity on a joint file into outdir; returns its status. */
static hr_status run_joint(const char *joint, hr_lut *lut, hr_plot_sensitivity_out *out, hr_error *err)
{
    hr_plot_params pp = hr_plot_params_default();
    pp.render = 0;
    return hr_plot_sensitivity(outdir, lut, joint, 0, NULL, &pp, out, err);
}

static void test_joint_state(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    hr_plot_sensitivity_out out;
    HR_ASSERT_OK(hr_lut_load(FIX "/hardware_lut_complete.json", &lut, &err), &err);
    hr_plot_sensitivity_out_init(&out);
    snprintf(outdir, sizeof outdir, "%s", hr_test_tmpdir());

    /* The original's file: the pruned weights of its accepted rounds. */
    HR_ASSERT_OK(run_joint(FIX "/domain_0_joint.json", lut, &out, &err), &err);
    assert_string_equal(out.state, "state after the last accepted pruning round (3 branches pruned)");
    assert_non_null(out.section.p);
    const char *sec = out.section.p;
    assert_non_null(strstr(sec, "\n## Where co-design pays\n\nDomain 0, state after the last accepted pruning round "
                                "(3 branches pruned), against its baseline"));
    /* The TX2 fixture: every split tensor of RepVGG-B3 (502 kB and up) is
     * larger than the 150 kB frame; no split pays, for either objective. */
    assert_non_null(strstr(sec, "One frame at a time (latency objective): There is none for this model: "));
    assert_non_null(strstr(sec, "Pipelined stream (cycle objective): There is none for this model: "));
    assert_non_null(strstr(sec, "A raw frame is 151 kB; the smallest tensor a split sends is 502 kB (split 27)."));
    assert_non_null(strstr(sec, "| edge slowdown | 1 Mbit/s | 2 Mbit/s |"));
    assert_non_null(strstr(sec, "\n| 32x |"));
    assert_non_null(strstr(out.summary, "There is none for this model"));
    assert_non_null(strstr(out.summary, "for the latency objective"));
    assert_non_null(strstr(out.summary_cycle, "for the cycle objective"));
    assert_non_null(strstr(sec, "Placement the co-design chooses for the latency objective"));
    assert_non_null(strstr(sec, "Placement the co-design chooses for the cycle objective"));
    assert_non_null(strstr(out.title, "Where co-design pays"));

    /* Ours (SPEC §13.4): the final configuration's own list wins. */
    const char *path = hr_test_tmp_path("joint_fin.json");
    static const char fin[] =
        "{\"metadata\": {\"model\": \"repvgg-b3\", \"head\": \"client\"}, \"stage1_accuracy\": {\"pruned_weights\": "
        "[\"stage3.7.hyper_identity\", \"stage2.3.hyper_1x1\", \"stage3.12.hyper_dense\"]}, "
        "\"final_configuration\": {\"pruned\": [\"stage2.3.hyper_1x1\"], \"round\": 1}}";
    hr_test_write_file(path, fin, sizeof fin - 1);
    HR_ASSERT_OK(run_joint(path, lut, &out, &err), &err);
    assert_string_equal(out.state, "final configuration (1 branch pruned)");
    /* ... and the figure's data is the sweep of exactly that state. */
    {
        unsigned *live = malloc(sizeof *live * (size_t)lut->nblocks);
        const char *name = "stage2.3.hyper_1x1";
        hr_sensitivity s[2];
        hr_sensitivity_params sp = hr_sensitivity_params_default();
        char dat[1024];
        assert_non_null(live);
        HR_ASSERT_OK(hr_optim_existing_branches(lut, live, &err), &err);
        HR_ASSERT_OK(hr_pruned_apply_names(lut, &name, 1, live, &err), &err);
        for (int j = 0; j < 2; j++) {
            hr_sensitivity_init(&s[j]);
            sp.optim.objective = j ? HR_OBJECTIVE_CYCLE : HR_OBJECTIVE_LATENCY;
            HR_ASSERT_OK(hr_sensitivity_compute(lut, live, &sp, &s[j], &err), &err);
        }
        assert_int_equal(s[0].npruned, 1);
        snprintf(dat, sizeof dat, "%s/sensitivity.dat", outdir);
        check_dat(dat, s, 2);
        hr_sensitivity_deinit(&s[0]);
        hr_sensitivity_deinit(&s[1]);
        free(live);
    }
    static const char unpruned[] =
        "{\"metadata\": {\"model\": \"RepVGG-B3\"}, \"final_configuration\": {\"pruned\": [], \"round\": -1}}";
    hr_test_write_file(path, unpruned, sizeof unpruned - 1);
    HR_ASSERT_OK(run_joint(path, lut, &out, &err), &err);
    assert_string_equal(out.state, "final configuration: the unpruned model (round -1)");

    /* Refusals: another model's result, a branch the LUT lacks, no state. */
    assert_int_equal(run_joint(FIX "/domain_2_joint.json", lut, &out, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "is a result for repvgg-fmnist, but the LUT is for repvgg-b3"));
    static const char bad[] = "{\"final_configuration\": {\"pruned\": [\"stage9.0.hyper_dense\"]}}";
    hr_test_write_file(path, bad, sizeof bad - 1);
    assert_int_equal(run_joint(path, lut, &out, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "final_configuration.pruned"));
    assert_non_null(strstr(err.msg, "stage9.0"));
    static const char none[] = "{\"metadata\": {}}";
    hr_test_write_file(path, none, sizeof none - 1);
    assert_int_equal(run_joint(path, lut, &out, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no pruned state"));
    assert_int_equal(run_joint("/nonexistent/domain_0_joint.json", lut, &out, &err), HR_ERR_IO);

    hr_plot_sensitivity_out_deinit(&out);
    hr_plot_sensitivity_out_deinit(NULL);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dat_columns),
        cmocka_unit_test(test_joint_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
