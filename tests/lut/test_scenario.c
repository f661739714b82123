/* hr_lut_scenario_markdown: every part of the deployment declared, emulated
 * parts named as such, and the snprintf-like contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"

static hr_lut *make(void)
{
    hr_lut *lut = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_lut_create(2, &lut, &err), &err);
    strcpy(lut->device[HR_DEVICE_SERVER], "Test CPU 9000");
    strcpy(lut->device[HR_DEVICE_CLIENT], "Test CPU 9000");
    lut->threads[HR_DEVICE_SERVER] = 2;
    lut->threads[HR_DEVICE_CLIENT] = 1;
    return lut;
}

static void test_emulated_edge_named_link(void **state)
{
    (void)state;
    hr_lut *lut = make();
    const hr_link_profile *lp = NULL;
    HR_ASSERT_OK(hr_link_profile_find("WIFI-N", &lp, NULL), NULL);
    lut->link = hr_link_from_profile(lp);
    strcpy(lut->emulated[HR_DEVICE_CLIENT], "edge profile rpi4, whole model x 11.9");
    lut->slowdown[HR_DEVICE_CLIENT] = 11.9;
    strcpy(lut->edge_profile[HR_DEVICE_CLIENT], "rpi4");
    lut->roofline_source[HR_DEVICE_CLIENT] = HR_ROOF_PROFILE;
    lut->roofline_source[HR_DEVICE_SERVER] = HR_ROOF_MEASURED;
    lut->peak_gflops[HR_DEVICE_SERVER] = 250;
    lut->bandwidth_gbs[HR_DEVICE_SERVER] = 40;
    lut->has_frame_times = 1;
    lut->t_frame_ms[HR_DEVICE_CLIENT] = 0.5;
    char buf[2048];
    size_t n = hr_lut_scenario_markdown(lut, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_non_null(strstr(buf, "- **server**: measured on Test CPU 9000, 2 threads."));
    assert_non_null(strstr(buf, "250.0 GFLOP/s, 40.0 GB/s (measured)"));
    assert_non_null(strstr(buf, "- **edge (client)**: emulated: edge profile rpi4, whole model x 11.9."));
    assert_non_null(strstr(buf, "(profile: edge profile rpi4"));
    assert_non_null(strstr(buf, "T_frame 0.5000 ms"));
    assert_non_null(strstr(buf, "the wifi-n profile (802.11n"));
    assert_non_null(strstr(buf, "40 Mbit/s, 2 ms per transfer"));
    /* truncation: returns the full length, writes a prefix */
    char small[16];
    assert_int_equal(hr_lut_scenario_markdown(lut, small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, buf, sizeof small - 1);
    assert_int_equal(hr_lut_scenario_markdown(lut, NULL, 0), n);
    hr_lut_destroy(lut);
}

/* A client measured on the server's own machine without emulation is said
 * to be so: it is faster than any edge device. */
static void test_unemulated_client_flagged(void **state)
{
    (void)state;
    hr_lut *lut = make();
    lut->link.bandwidth_mbit_s = 12.5;
    lut->link.latency_ms = 3;
    lut->link.source = HR_BW_MBIT;
    char buf[2048];
    hr_lut_scenario_markdown(lut, buf, sizeof buf);
    assert_non_null(strstr(buf, "- **edge (client)**: measured on Test CPU 9000, 1 thread (the server's own machine, "
                                "not emulated: faster than any edge device)."));
    assert_non_null(strstr(buf, "- **link**: given: 12.5 Mbit/s, 3 ms per transfer"));
    assert_null(strstr(buf, "T_frame"));
    /* a real device: no such remark */
    strcpy(lut->device[HR_DEVICE_CLIENT], "ARMv8 Processor rev 3 (v8l)");
    lut->link.measured = 1;
    hr_lut_scenario_markdown(lut, buf, sizeof buf);
    assert_non_null(strstr(buf, "measured on ARMv8 Processor rev 3 (v8l), 1 thread."));
    assert_non_null(strstr(buf, "- **link**: measured: "));
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_emulated_edge_named_link),
                                       cmocka_unit_test(test_unemulated_client_flagged)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
