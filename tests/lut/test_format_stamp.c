/* Format stamps of our own files (docs/FORMATS.md, "Format stamps"):
 * roofline.json and link.json are written with one and read back; a newer
 * major version, another kind of file and a malformed stamp are refused
 * with the file named; a file without a stamp (older) still reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hr_test.h"
#include "hyperrep/lut.h"

static void write_json(const char *path, const char *text)
{
    hr_test_write_file(path, text, strlen(text));
}

static void expect(hr_status got, hr_status want, const hr_error *err, const char *part)
{
    assert_int_equal(got, want);
    if (!strstr(err->msg, part))
        fail_msg("'%s' does not contain '%s'", err->msg, part);
}

static void test_roofline(void **state)
{
    (void)state;
    hr_roofline r, back;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("roofline.json");
    memset(&r, 0, sizeof r);
    snprintf(r.device, sizeof r.device, "test cpu");
    r.peak_gflops = 100, r.bandwidth_gbs = 10, r.i_knee = 10, r.threads = 1;
    HR_ASSERT_OK(hr_roofline_save(p, &r, &err), &err);
    json_t *root = json_load_file(p, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "format"), "name")),
                        "hyperrep.roofline");
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "format"), "version")), "1.0");
    json_decref(root);
    HR_ASSERT_OK(hr_roofline_load(p, &back, &err), &err);
    assert_true(back.peak_gflops == 100);

    /* a later minor version reads; a later major does not */
    write_json(p, "{\"format\": {\"name\": \"hyperrep.roofline\", \"version\": \"1.7\"}, \"peak_gflops\": 5, "
                  "\"bandwidth_gbs\": 1}");
    HR_ASSERT_OK(hr_roofline_load(p, &back, &err), &err);
    write_json(p, "{\"format\": {\"name\": \"hyperrep.roofline\", \"version\": \"2.0\"}, \"peak_gflops\": 5, "
                  "\"bandwidth_gbs\": 1}");
    expect(hr_roofline_load(p, &back, &err), HR_ERR_UNSUPPORTED, &err, "version 2.0 is newer than this build reads");
    assert_non_null(strstr(err.msg, "roofline.json"));
    write_json(p, "{\"format\": {\"name\": \"hyperrep.link\", \"version\": \"1.0\"}, \"peak_gflops\": 5, "
                  "\"bandwidth_gbs\": 1}");
    expect(hr_roofline_load(p, &back, &err), HR_ERR_FORMAT, &err, "a hyperrep.link file, not a hyperrep.roofline");
    write_json(p, "{\"format\": {\"name\": \"hyperrep.roofline\", \"version\": \"one\"}, \"peak_gflops\": 5, "
                  "\"bandwidth_gbs\": 1}");
    expect(hr_roofline_load(p, &back, &err), HR_ERR_FORMAT, &err, "MAJOR.MINOR");
    write_json(p, "{\"format\": \"hyperrep.roofline\", \"peak_gflops\": 5, \"bandwidth_gbs\": 1}");
    expect(hr_roofline_load(p, &back, &err), HR_ERR_FORMAT, &err, "format");
    /* no stamp: an older file */
    write_json(p, "{\"peak_gflops\": 5, \"bandwidth_gbs\": 1}");
    HR_ASSERT_OK(hr_roofline_load(p, &back, &err), &err);
    assert_true(back.i_knee == 5);
}

static void test_link(void **state)
{
    (void)state;
    hr_link l = hr_link_default(), back;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("link.json");
    HR_ASSERT_OK(hr_link_save(p, &l, &err), &err);
    HR_ASSERT_OK(hr_link_load(p, &back, &err), &err);
    assert_true(back.bandwidth_mbit_s == l.bandwidth_mbit_s);
    write_json(p, "{\"format\": {\"name\": \"hyperrep.link\", \"version\": \"3.1\"}, \"bandwidth_mbit_s\": 10, "
                  "\"latency_ms\": 1}");
    expect(hr_link_load(p, &back, &err), HR_ERR_UNSUPPORTED, &err, "hyperrep.link version 3.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roofline), cmocka_unit_test(test_link)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
