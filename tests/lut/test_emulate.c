/* Emulated devices (pseudo mode): hr_device_lut_emulate scales every time
 * and records the emulation; per-device and merged files keep it through a
 * save/load round trip; the merge carries it into the merged LUT with a
 * note; a malformed metadata.emulated is an error naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"

#define ORIG HR_FIXTURES_DIR "/lut/original/"

static void expect_scaled(const hr_lut_entry *got, const hr_lut_entry *ref, double f)
{
    const double g[4] = {got->time_ms, got->median_ms, got->std_ms, got->min_ms};
    const double r[4] = {ref->time_ms, ref->median_ms, ref->std_ms, ref->min_ms};
    for (int k = 0; k < 4; k++) {
        if (r[k] < 0)
            assert_true(g[k] == r[k]); /* absent stays absent */
        else if (fabs(g[k] - f * r[k]) > 1e-9 * fmax(1.0, f * r[k]))
            fail_msg("statistic %d: %.9g, expected %.9g x %g", k, g[k], r[k], f);
    }
}

static void test_emulate_round_trip(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_device_lut *ref, *c, *back, *s;
    hr_lut *merged, *mback;
    char path[600], mpath[600];
    snprintf(path, sizeof path, "%s/client.json", hr_test_tmpdir());
    snprintf(mpath, sizeof mpath, "%s/merged.json", hr_test_tmpdir());
    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_client.json", &ref, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_client.json", &c, &err), &err);
    assert_string_equal(c->emulated, "");
    assert_true(c->slowdown == 1);
    assert_int_equal(hr_device_lut_emulate(c, "this machine, 1 thread", 0, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_device_lut_emulate(c, "", 2, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_device_lut_emulate(c, "this machine, 1 thread", 3.5, &err), &err);
    HR_ASSERT_OK(hr_device_lut_save(path, c, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    assert_string_equal(back->emulated, "this machine, 1 thread");
    assert_true(fabs(back->slowdown - 3.5) < 1e-12);
    int scaled = 0;
    for (int i = 0; i < ref->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            assert_int_equal(back->blocks[i].e[g].valid, ref->blocks[i].e[g].valid);
            if (ref->blocks[i].e[g].valid) {
                expect_scaled(&back->blocks[i].e[g], &ref->blocks[i].e[g], 3.5);
                scaled++;
            }
        }
    assert_true(scaled > 0);

    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_server.json", &s, &err), &err);
    hr_lut_merge_params mp = hr_lut_merge_params_default();
    mp.stat = HR_LUT_STAT_MEAN; /* the original's files have no median */
    HR_ASSERT_OK(hr_lut_merge(s, back, &mp, &merged, &err), &err);
    assert_string_equal(merged->emulated[HR_DEVICE_CLIENT], "this machine, 1 thread");
    assert_string_equal(merged->emulated[HR_DEVICE_SERVER], "");
    assert_true(merged->synthetic);
    assert_non_null(strstr(merged->note, "client is emulated"));
    /* The merged client times are the scaled means. */
    assert_true(fabs(merged->blocks[0].t_ms[HR_DEVICE_CLIENT][0] - 3.5 * ref->blocks[0].e[0].time_ms) < 1e-9);
    HR_ASSERT_OK(hr_lut_save(mpath, merged, &err), &err);
    HR_ASSERT_OK(hr_lut_load(mpath, &mback, &err), &err);
    assert_string_equal(mback->emulated[HR_DEVICE_CLIENT], "this machine, 1 thread");
    assert_true(fabs(mback->slowdown[HR_DEVICE_CLIENT] - 3.5) < 1e-12);
    assert_true(mback->slowdown[HR_DEVICE_SERVER] == 1);

    /* Files written here name the code that wrote them. */
    size_t tn;
    char *text = (char *)hr_test_read_all(mpath, &tn);
    text[tn] = '\0';
    assert_non_null(strstr(text, "\"commit\""));
    free(text);

    hr_lut_destroy(mback);
    hr_lut_destroy(merged);
    hr_device_lut_destroy(s);
    hr_device_lut_destroy(back);
    hr_device_lut_destroy(c);
    hr_device_lut_destroy(ref);
}

static void test_malformed_emulated(void **state)
{
    (void)state;
    static const char *bad[] = {"\"emulated\": \"yes\"", "\"emulated\": {\"description\": \"x\"}",
                                "\"emulated\": {\"description\": \"x\", \"slowdown\": -2}",
                                "\"emulated\": {\"description\": \"\", \"slowdown\": 2}"};
    size_t on;
    char *orig = (char *)hr_test_read_all(ORIG "lut_client.json", &on);
    char path[600];
    orig[on] = '\0';
    char *meta = strstr(orig, "\"metadata\": {");
    assert_non_null(meta);
    meta += strlen("\"metadata\": {");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(orig) + strlen(bad[i]) + 8;
        char *text = malloc(n);
        hr_error err = {0};
        hr_device_lut *l = NULL;
        assert_non_null(text);
        snprintf(text, n, "%.*s%s, %s", (int)(meta - orig), orig, bad[i], meta);
        snprintf(path, sizeof path, "%s/bad.json", hr_test_tmpdir());
        hr_test_write_file(path, text, strlen(text));
        assert_int_equal(hr_device_lut_load(path, &l, &err), HR_ERR_FORMAT);
        assert_null(l);
        if (!strstr(err.msg, "metadata.emulated"))
            fail_msg("case %zu: message does not name the field: %s", i, err.msg);
        free(text);
    }
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_emulate_round_trip),
                                       cmocka_unit_test(test_malformed_emulated)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
