/* hyperrep pipeline: the INI config (errors naming file, line and key;
 * configs/original.ini accepted), --dry-run, and a reduced end-to-end run on
 * one domain (skipped without Debian's dataset-fashion-mnist). */
// ctest-labels: slow
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "hyperrep/data.h"

HR_CLI_BUFFERS;
static char dir[512];

static void write_text(const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    hr_test_write_file(p, text, strlen(text));
}

static void test_config(void **state)
{
    (void)state;
    char args[1024];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    HR_EXPECT_CLI(dir, "pipeline --help", 0, out_text, "--quick");
    write_text("bad.ini", "[joint]\nrounds = 2\nbogus = 1\n");
    HR_EXPECT_CLI(dir, "pipeline --config bad.ini --dry-run", 1, err_text, "bad.ini:3: unknown key [joint] bogus");
    write_text("bad2.ini", "; comment\n[joint]\nrounds = -3\n");
    HR_EXPECT_CLI(dir, "pipeline --config bad2.ini --dry-run", 1, err_text, "bad2.ini:3: bad value [joint] rounds");
    write_text("bad3.ini", "[optimizer]\nobjective = fastest\n");
    HR_EXPECT_CLI(dir, "pipeline --config bad3.ini --dry-run", 1, err_text,
                  "bad3.ini:2: bad value [optimizer] objective");
    HR_EXPECT_CLI(dir, "pipeline --config nosuch.ini --dry-run", 1, err_text, "nosuch.ini");
    HR_EXPECT_CLI(dir, "pipeline --domains 12 --dry-run", 2, err_text, "--domains");
    /* SPEC 13.3: keys that moved name their new place; the scenario's parts
       are named or numbered, never both */
    write_text("old.ini", "[lut]\nwarmup = 2\nclient_slowdown = 3\n");
    HR_EXPECT_CLI(dir, "pipeline --config old.ini --dry-run", 1, err_text,
                  "old.ini:3: [lut] client_slowdown has moved to [edge] slowdown");
    write_text("old2.ini", "[lut]\nbandwidth_mbit = 10\n");
    HR_EXPECT_CLI(dir, "pipeline --config old2.ini --dry-run", 1, err_text, "[link] bandwidth_mbit");
    write_text("old3.ini", "[lut]\nlatency_ms = 10\n");
    HR_EXPECT_CLI(dir, "pipeline --config old3.ini --dry-run", 1, err_text, "[link] latency_ms");
    write_text("edge.ini", "[edge]\nprofile = pdp-11\n");
    HR_EXPECT_CLI(dir, "pipeline --config edge.ini --dry-run", 1, err_text, "bad value [edge] profile = 'pdp-11'");
    write_text("edge2.ini", "[edge]\nprofile = rpi4\nslowdown = 4\n");
    HR_EXPECT_CLI(dir, "pipeline --config edge2.ini --dry-run", 2, err_text, "exclusive");
    write_text("edge3.ini", "[edge]\nslowdown = 0.5\n");
    HR_EXPECT_CLI(dir, "pipeline --config edge3.ini --dry-run", 1, err_text, "bad value [edge] slowdown");
    write_text("link.ini", "[link]\nprofile = wifi-n\nbandwidth_mbit = 5\nlatency_ms = 1\n");
    HR_EXPECT_CLI(dir, "pipeline --config link.ini --dry-run", 2, err_text, "exclusive");
    write_text("link2.ini", "[link]\nbandwidth_mbit = 5\n");
    HR_EXPECT_CLI(dir, "pipeline --config link2.ini --dry-run", 2, err_text, "go together");
    write_text("link3.ini", "[link]\nprofile = carrier-pigeon\n");
    HR_EXPECT_CLI(dir, "pipeline --config link3.ini --dry-run", 1, err_text, "bad value [link] profile");
    write_text("real.ini", "[real]\nhost = 1.2.3.4\n");
    HR_EXPECT_CLI(dir, "pipeline --config real.ini --dry-run", 1, err_text, "unknown key [real] host");
    HR_EXPECT_CLI(dir, "pipeline --dry-run --client-lut dev.json --config edge2.ini", 2, err_text, "exclusive");
    write_text("guard.ini", "[joint]\nguard = maybe\n");
    HR_EXPECT_CLI(dir, "pipeline --config guard.ini --dry-run", 1, err_text,
                  "guard.ini:2: bad value [joint] guard = 'maybe'");
    write_text("guard2.ini", "[joint]\nguard = point\n");
    HR_EXPECT_CLI(dir, "pipeline --config guard2.ini --dry-run", 0, out_text, "--guard point");
    /* the default scenario: the whole of step 1, a named edge and link */
    HR_EXPECT_CLI(dir, "pipeline --quick --dry-run", 0, out_text,
                  "roofline --threads 2 -o results/roofline_server.json");
    assert_non_null(strstr(out_text, "--edge rpi4 --roofline results/roofline_host_client_threads.json"));
    assert_non_null(strstr(out_text, "--link-profile wifi-n"));
    assert_non_null(strstr(out_text, "--guard bound")); /* the default guard */
    assert_non_null(strstr(out_text, "--roofline-server results/roofline_server.json"));
    assert_non_null(strstr(out_text, "report gamma --lut results/hardware_lut_complete.json -o "
                                     "results/full_gamma_analysis.md"));
    assert_non_null(strstr(out_text, "== scenario: server = this machine"));
    /* a real device's LUT replaces the emulation */
    HR_EXPECT_CLI(dir, "pipeline --quick --dry-run --client-lut dev.json", 0, out_text, "--client-lut dev.json");
    assert_null(strstr(out_text, "--role client"));
    /* numbers instead of names */
    write_text("nums.ini", "[edge]\nslowdown = 8\n[link]\nbandwidth_mbit = 5\nlatency_ms = 20\n");
    HR_EXPECT_CLI(dir, "pipeline --config nums.ini --dry-run", 0, out_text, "--edge-slowdown 8");
    assert_non_null(strstr(out_text, "--bandwidth-mbit 5 --latency-ms 20"));
    /* the original's values; flags override the file */
    snprintf(args, sizeof args, "pipeline --config %s/../../configs/original.ini --dry-run --threads 3 -o r",
             HR_FIXTURES_DIR);
    HR_EXPECT_CLI(dir, args, 0, out_text, "--model repvgg-b3");
    assert_non_null(strstr(out_text, "--rounds 10 --pool 10 --epochs 3 --threshold 2"));
    assert_non_null(strstr(out_text, "--steps 800"));
    assert_non_null(strstr(out_text, "--guard point")); /* the original's rule */
    assert_non_null(strstr(out_text, "--threads 3"));
    /* its knees override the measurement: no server roofline runs */
    assert_non_null(strstr(out_text, "--knee-server 25.15"));
    assert_non_null(strstr(out_text, "--knee-client 16.1"));
    assert_null(strstr(out_text, "roofline --threads 3"));
    assert_non_null(strstr(out_text, "--bandwidth-mbit 100 --latency-ms 1"));
    assert_int_equal(access("r", F_OK), -1); /* a dry run writes nothing */
    /* --quick keeps every sample and trains the base model for 3 epochs. */
    HR_EXPECT_CLI(dir, "pipeline --quick --dry-run --domains 3", 0, out_text, "--epochs 3 --batch 64");
    assert_null(strstr(out_text, "--max-samples"));
    assert_non_null(strstr(out_text, "joint --domain 3"));
    assert_null(strstr(out_text, "joint --domain 4"));
}

static void test_run(void **state)
{
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", HR_FASHION_MNIST_DIR);
    if (access(p, R_OK) != 0) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    write_text("small.ini", "[pipeline]\nmax_samples = 1200\n[joint]\nrounds = 1\npool = 2\n[optimizer]\nsteps = 20\n"
                            "[edge]\nslowdown = 3\n");
    HR_EXPECT_CLI(dir, "pipeline --quick --config small.ini --domains 2 -o res", 0, out_text, "pipeline done");
    json_error_t je;
    snprintf(p, sizeof p, "%s/res/joint_optimization/domain_2_joint.json", dir);
    json_t *j = json_load_file(p, 0, &je);
    assert_non_null(j);
    assert_non_null(json_object_get(j, "final_configuration"));
    json_decref(j);
    snprintf(p, sizeof p, "%s/res/pipeline_info.json", dir);
    j = json_load_file(p, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "joint"), "rounds")), 1);
    assert_non_null(json_string_value(json_object_get(json_object_get(j, "software"), "commit")));
    json_decref(j);
    /* the emulated client: recorded with its slowdown in the merged LUT */
    hr_lut *lut = NULL;
    snprintf(p, sizeof p, "%s/res/hardware_lut_complete.json", dir);
    HR_ASSERT_OK(hr_lut_load(p, &lut, NULL), NULL);
    assert_non_null(strstr(lut->emulated[HR_DEVICE_CLIENT], "this machine, 1 thread, times x 3 (flat --edge-slowdown)"));
    assert_true(lut->slowdown[HR_DEVICE_CLIENT] == 3);
    assert_string_equal(lut->emulated[HR_DEVICE_SERVER], "");
    /* the whole of step 1: the server's knee measured, the link named */
    assert_true(lut->roofline_measured[HR_DEVICE_SERVER]);
    assert_true(lut->peak_gflops[HR_DEVICE_SERVER] > 0);
    assert_string_equal(lut->link.profile, "wifi-n");
    assert_true(lut->link.bandwidth_mbit_s == 40);
    hr_lut_destroy(lut);
    snprintf(p, sizeof p, "%s/res/full_gamma_analysis.md", dir);
    if (access(p, R_OK) != 0)
        fail_msg("pipeline wrote no full_gamma_analysis.md");
    /* Step 4 found the results in the pipeline's layout (Code 1/2 directories,
     * joint_optimization/): their figures' data files exist. */
    static const char *figs[] = {"hyper_weights.dat", "importance.dat", "domain_accuracy.dat", "lut_client.dat",
                                 "accuracy_throughput_domain_2.dat"};
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        snprintf(p, sizeof p, "%s/res/visualization/%s", dir, figs[i]);
        if (access(p, R_OK) != 0)
            fail_msg("pipeline did not draw %s", figs[i]);
    }
    /* rerun: finished steps are reused */
    HR_EXPECT_CLI(dir, "pipeline --quick --config small.ini --domains 2 -o res", 0, out_text, "base model: reusing");
    assert_non_null(strstr(out_text, "resumed from"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_config), cmocka_unit_test(test_run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
