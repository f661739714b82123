/* Every file of the original tool that a command consumes, run through that
 * command (issue 14, part 1): the examples of
 * ../shared/reference/original-formats/, copied into tests/fixtures/original/
 * (its README says which command reads which file, and where a reduced
 * fixture stands in for RepVGG-B3). Also the original's virtual identity
 * (SPEC §13.7): hyper_identity on a block without an identity branch is
 * accepted, its value ignored and noted once, in checkpoints, α files and
 * pruned lists. The α tests need Debian's dataset-fashion-mnist and are
 * skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/data.h"
#include "hyperrep/model.h"
#include "hyperrep/weights.h"

#define ORIG HR_FIXTURES_DIR "/original"
#define REDUCED ORIG "/reduced"
/* The note every reader prints once per file that holds virtual identities. */
#define VIRTUAL_NOTE "ignored 4 hyper_identity entries of blocks without an identity branch"
#define VIRTUAL_BLOCKS "stage1.0, stage2.0, stage3.0, stage4.0"

HR_CLI_BUFFERS;

static json_t *load_json(const char *dir, const char *name)
{
    char p[1024];
    json_error_t je;
    json_t *j;
    if (dir)
        snprintf(p, sizeof p, "%s/%s", dir, name);
    else
        snprintf(p, sizeof p, "%s", name);
    j = json_load_file(p, 0, &je);
    if (!j)
        fail_msg("%s: %s", p, je.text);
    return j;
}

/* How often needle occurs in text. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Fails unless `got` has the structure and values of `want`: the same keys
 * (in any order), arrays of the same length in the same order, equal
 * strings, numbers within a relative 1e-9. */
static void expect_same_json(const json_t *got, const json_t *want, const char *where)
{
    char sub[512];
    if (json_is_number(want)) {
        double a = json_number_value(got), b = json_number_value(want);
        if (!json_is_number(got) || fabs(a - b) > 1e-9 * fmax(1.0, fabs(b)))
            fail_msg("%s: %.17g, want %.17g", where, a, b);
    } else if (json_is_object(want)) {
        const char *k;
        json_t *v;
        if (!json_is_object(got) || json_object_size(got) != json_object_size(want))
            fail_msg("%s: %zu keys, want %zu", where, json_object_size(got), json_object_size(want));
        json_object_foreach((json_t *)want, k, v) {
            snprintf(sub, sizeof sub, "%s.%s", where, k);
            if (!json_object_get(got, k))
                fail_msg("%s is missing", sub);
            expect_same_json(json_object_get(got, k), v, sub);
        }
    } else if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
            fail_msg("%s: %zu elements, want %zu", where, json_array_size(got), json_array_size(want));
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            expect_same_json(json_array_get(got, i), json_array_get(want, i), sub);
        }
    } else if (!json_equal((json_t *)got, (json_t *)want)) {
        fail_msg("%s differs", where);
    }
}

static int have_fashion_mnist(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", HR_FASHION_MNIST_DIR);
    return access(p, R_OK) == 0;
}

/* lut_server.json + lut_client.json (step 1's per-device files) merge into
 * the original's own hardware_lut_complete.json; lut_comm_model.json is the
 * link (`lut merge --link`). */
static void test_lut_merge(void **state)
{
    const char *dir = hr_test_tmpdir();
    (void)state;
    HR_EXPECT_CLI(dir,
                  "lut merge --server-lut " ORIG "/lut_server.json --client-lut " ORIG
                  "/lut_client.json --stat mean --link " ORIG "/lut_comm_model.json -o merged.json",
                  0, out_text, "wrote merged.json: repvgg-b3, 27 blocks");
    json_t *got = load_json(dir, "merged.json"), *want = load_json(ORIG, "hardware_lut_complete.json");
    expect_same_json(json_object_get(got, "T_server"), json_object_get(want, "T_server"), "T_server");
    expect_same_json(json_object_get(got, "T_client"), json_object_get(want, "T_client"), "T_client");
    expect_same_json(json_object_get(got, "Comm_size"), json_object_get(want, "Comm_size"), "Comm_size");
    expect_same_json(json_object_get(got, "N_stream"), json_object_get(want, "N_stream"), "N_stream");
    /* lut_comm_model.json: k = 0.0823 ms per MB (1e6 bytes), b = 1.37 ms; its
     * bandwidth_mbps (1000 / k) is MB/s: 8000 / k Mbit/s */
    json_t *bw = json_object_get(got, "bandwidth");
    assert_true(fabs(json_number_value(json_object_get(bw, "bandwidth_mbit_s")) - 8000.0 / 0.0823) < 1e-3);
    assert_true(json_number_value(json_object_get(bw, "latency_ms")) == 1.37);
    assert_true(json_number_value(json_object_get(bw, "k_ms_per_mb")) == 0.0823);
    json_decref(got);
    json_decref(want);
}

/* optimize on the original's merged LUT, pruned by its joint result and by
 * its α file (whose 4 virtual identities are ignored with one note, and
 * never enter the pruned set). */
static void test_optimize(void **state)
{
    const char *dir = hr_test_tmpdir();
    (void)state;
    HR_EXPECT_CLI(dir, "optimize --lut " ORIG "/hardware_lut_complete.json --method all --steps 50 --quiet -o a.json",
                  0, err_text, "");
    json_t *a = load_json(dir, "a.json");
    assert_int_equal(json_object_size(json_object_get(a, "optimal_gamma")), 27);
    json_decref(a);

    HR_EXPECT_CLI(dir,
                  "optimize --lut " ORIG "/hardware_lut_complete.json --method exact --quiet --pruned " ORIG
                  "/domain_0_joint.json -o b.json",
                  0, err_text, "");
    json_t *b = load_json(dir, "b.json");
    json_t *pw = json_object_get(json_object_get(b, "initial_config"), "pruned_weights");
    assert_int_equal(json_array_size(pw), 3);
    /* under the exact mask stage2.3 (1x1 pruned) takes γ 6, FUSED_3_I, its deploy form */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "optimal_gamma"), "stage2.3")), 6);
    json_decref(b);

    /* threshold 0.35 prunes stage3.3.hyper_1x1 (0.3038) and
     * stage3.15.hyper_identity (0.3396) of domain 0 */
    HR_EXPECT_CLI(dir,
                  "optimize --lut " ORIG "/hardware_lut_complete.json --method exact --quiet --pruned " ORIG
                  "/trained_hyper_weights.json --domain 0 --pruning-threshold 0.35 -o c.json",
                  0, err_text,
                  VIRTUAL_NOTE " (the original tool's virtual identity, never a branch here): " VIRTUAL_BLOCKS);
    assert_int_equal(occurrences(err_text, "hyper_identity entr"), 1);
    json_t *c = load_json(dir, "c.json");
    pw = json_object_get(json_object_get(c, "initial_config"), "pruned_weights");
    assert_int_equal(json_array_size(pw), 2);
    assert_string_equal(json_string_value(json_array_get(pw, 0)), "stage3.3.hyper_1x1");
    assert_string_equal(json_string_value(json_array_get(pw, 1)), "stage3.15.hyper_identity");
    json_decref(c);

    /* a pruned list naming a virtual identity: skipped, never a pruned branch */
    char path[600];
    snprintf(path, sizeof path, "%s/list.json", dir);
    const char *list = "[\"stage1.0.hyper_identity\", \"stage2.3.hyper_1x1\"]";
    hr_test_write_file(path, list, strlen(list));
    HR_EXPECT_CLI(dir,
                  "optimize --lut " ORIG "/hardware_lut_complete.json --method exact --quiet --pruned list.json "
                  "-o d.json",
                  0, err_text, "list.json: ignored 1 hyper_identity entry of blocks without an identity branch");
    json_t *d = load_json(dir, "d.json");
    pw = json_object_get(json_object_get(d, "initial_config"), "pruned_weights");
    assert_int_equal(json_array_size(pw), 1);
    assert_string_equal(json_string_value(json_array_get(pw, 0)), "stage2.3.hyper_1x1");
    json_decref(d);
}

/* Code 2 on the original's α file writes the original's five code-2 files
 * as the examples show them: branch_flops.json (virtual identities 0),
 * branch_info.json (virtual_identity / physical_identity),
 * filtered_branches.json (the virtual identities, α 1.0),
 * importance_scores.json and importance_rankings.json (virtual identities
 * left out). */
static void test_importance(void **state)
{
    static const char *files[] = {"branch_flops.json", "branch_info.json", "filtered_branches.json",
                                  "importance_scores.json", "importance_rankings.json"};
    const char *dir = hr_test_tmpdir();
    char out[600];
    (void)state;
    HR_EXPECT_CLI(dir, "importance --model repvgg-b3 --alpha " ORIG "/trained_hyper_weights.json -o t2", 0, out_text,
                  "2 domains, 77 ranked branches per domain");
    snprintf(out, sizeof out, "%s/t2", dir);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        json_t *got = load_json(out, files[i]), *want = load_json(ORIG, files[i]);
        expect_same_json(got, want, files[i]);
        json_decref(got);
        json_decref(want);
    }
}

/* initial_throughput_config.json's optimal_gamma (string keys, γ 4 on the
 * stride-2 blocks) as a γ file on RepVGG-B3 (random weights, 32×32 input:
 * the γ file is what is read). */
static void test_gamma_file(void **state)
{
    (void)state;
    HR_EXPECT_CLI(NULL,
                  "forward --model repvgg-b3 --input-size 32 --gamma-file " ORIG "/initial_throughput_config.json", 0,
                  out_text, "image 0: class");
}

/* plot over a results directory holding the original's step-1 to step-3
 * files (and code 1 and 2 outputs): every figure they support. */
static void test_plot(void **state)
{
    static const char *files[] = {"hardware_lut_complete.json", "initial_throughput_config.json",
                                  "trained_hyper_weights.json", "training_results.json", "importance_scores.json",
                                  "domain_0_joint.json"};
    const char *dir = hr_test_tmpdir();
    char from[600], to[600], text[1 << 14];
    size_t n;
    (void)state;
    snprintf(to, sizeof to, "%s/results", dir);
    assert_int_equal(mkdir(to, 0755), 0);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(from, sizeof from, "%s/%s", ORIG, files[i]);
        snprintf(to, sizeof to, "%s/results/%s", dir, files[i]);
        unsigned char *buf = hr_test_read_all(from, &n);
        hr_test_write_file(to, buf, n);
        free(buf);
    }
    HR_EXPECT_CLI(dir, "plot --results results --no-render -o vis", 0, out_text, "report.md");
    /* step 2's history: time_server + time_client + trans = 80.47 ms at step 0 */
    snprintf(to, sizeof to, "%s/vis/convergence.dat", dir);
    hr_test_read_file(to, text, sizeof text);
    assert_non_null(strstr(text, "\n0 80.47 900 "));
    assert_non_null(strstr(text, "\n700 80.47 550 "));
    /* code 1's best accuracy beside step 3's initial and final ones */
    snprintf(to, sizeof to, "%s/vis/domain_accuracy.dat", dir);
    hr_test_read_file(to, text, sizeof text);
    assert_non_null(strstr(text, "\n0 61.3 59.6 62.1 "));
    snprintf(to, sizeof to, "%s/vis/accuracy_throughput_domain_0.dat", dir);
    hr_test_read_file(to, text, sizeof text);
    assert_non_null(strstr(text, "\n0 final 15.42 62.1"));
    /* code 2's scores: 77 branches, the virtual identities are not among them */
    snprintf(to, sizeof to, "%s/vis/importance.dat", dir);
    hr_test_read_file(to, text, sizeof text);
    assert_non_null(strstr(text, "# columns (77): stage1.0.hyper_dense stage1.0.hyper_1x1 stage1.1.hyper_dense"));
    assert_null(strstr(text, "stage1.0.hyper_identity"));
    static const char *figures[] = {"hyper_weights.dat", "lut_server.dat", "lut_client.dat", "roofline_server.dat",
                                    "report.md", "report.html"};
    for (size_t i = 0; i < sizeof figures / sizeof *figures; i++) {
        snprintf(to, sizeof to, "%s/vis/%s", dir, figures[i]);
        if (access(to, R_OK) != 0)
            fail_msg("plot wrote no %s", figures[i]);
    }
}

/* A random repvgg-fmnist checkpoint at path. */
static void write_fmnist_weights(const char *path)
{
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 7, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, map, &err), &err);
    HR_ASSERT_OK(hr_safetensors_save(path, map, NULL, NULL, 0, &err), &err);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* The "accuracy=NN.NN%" line of the last command. */
static double accuracy(void)
{
    const char *p = strstr(out_text, "accuracy=");
    assert_non_null(p);
    return strtod(p + 9, NULL);
}

/* eval and joint --alpha with the original's trained_hyper_weights.json,
 * reduced to the 7 blocks repvgg-fmnist shares with B3 (reduced/): its
 * virtual identities are noted once and their values ignored, and they
 * never become pruning candidates. */
static void test_alpha_eval_joint(void **state)
{
    const char *dir = hr_test_tmpdir();
    char path[600];
    (void)state;
    if (!have_fashion_mnist())
        skip();
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    write_fmnist_weights(path);
#define EVAL "eval --model repvgg-fmnist --weights w.safetensors --max-samples 300 --domain 0 "
    HR_EXPECT_CLI(dir, EVAL "--alpha " REDUCED "/trained_hyper_weights.json", 0, err_text,
                  "trained_hyper_weights.json: " VIRTUAL_NOTE
                  " (the original tool's virtual identity, never a branch here): " VIRTUAL_BLOCKS);
    assert_int_equal(occurrences(err_text, "hyper_identity entr"), 1);
    double with_virtual = accuracy();
    /* the same α without the virtual entries, and with them at 0 (which
     * would empty nothing and prune nothing): the same accuracy, no note */
    json_t *all = load_json(REDUCED, "trained_hyper_weights.json");
    json_t *d0 = json_deep_copy(json_object_get(all, "domain_0")), *zero = json_deep_copy(d0);
    static const char *virt[] = {"stage1.0.hyper_identity", "stage2.0.hyper_identity", "stage3.0.hyper_identity",
                                 "stage4.0.hyper_identity"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(json_object_del(d0, virt[i]), 0);
        assert_int_equal(json_object_set_new(zero, virt[i], json_real(0.0)), 0);
    }
    snprintf(path, sizeof path, "%s/flat.json", dir);
    assert_int_equal(json_dump_file(d0, path, 0), 0);
    snprintf(path, sizeof path, "%s/zero.json", dir);
    assert_int_equal(json_dump_file(zero, path, 0), 0);
    json_decref(all), json_decref(d0), json_decref(zero);
    HR_EXPECT_CLI(dir, EVAL "--alpha flat.json", 0, out_text, "accuracy=");
    assert_null(strstr(err_text, "hyper_identity"));
    assert_true(accuracy() == with_virtual);
    HR_EXPECT_CLI(dir, EVAL "--alpha zero.json", 0, err_text, "zero.json: " VIRTUAL_NOTE);
    assert_true(accuracy() == with_virtual);
#undef EVAL

    HR_EXPECT_CLI(dir,
                  "joint --domain 0 --model repvgg-fmnist --weights w.safetensors --alpha " REDUCED
                  "/trained_hyper_weights.json --max-samples 300 --rounds 1 --pool 20 --epochs 1 -o j",
                  0, err_text, VIRTUAL_NOTE);
    assert_int_equal(occurrences(err_text, "hyper_identity entr"), 1);
    /* pool 20 > the 17 real branches: every candidate, pruned or not, is one */
    snprintf(path, sizeof path, "%s/j/domain_0_joint.json", dir);
    char *text = (char *)hr_test_read_all(path, &(size_t){0});
    for (int i = 0; i < 4; i++)
        if (strstr(text, virt[i]))
            fail_msg("the joint result names the virtual identity %s", virt[i]);
    assert_non_null(strstr(text, "stage1.1.hyper_identity"));
    free(text);
}

/* infer from the original's joint result. The example deploys γ 13
 * (FUSED_ALL, all three branches) on stage2.3, whose 1x1 it lists as
 * pruned: the refusal names the block (README.md: why this is right). The
 * same file made consistent and moved to repvgg-tiny (reduced/) runs, with
 * a checkpoint in the original's form (hyper_* on every block). */
static void test_infer_joint(void **state)
{
    const char *dir = hr_test_tmpdir();
    char path[600];
    hr_error err = {0};
    (void)state;
    HR_EXPECT_CLI(dir, "infer --deploy " ORIG "/domain_0_joint.json --in-process --frames 2 --warmup 0 --input-size 32",
                  1, err_text,
                  "stage2.3: gamma 13 (FUSED_ALL) is invalid for live branches dense+identity (exact mask)");

    HR_EXPECT_CLI(dir,
                  "infer --deploy " REDUCED "/domain_0_joint.json --in-process --frames 2 --warmup 0 --weights " REDUCED
                  "/tiny_virtual.pth --verify -o infer.json",
                  0, err_text, "weights: " VIRTUAL_NOTE);
    json_t *j = load_json(dir, "infer.json"), *meta = json_object_get(j, "metadata");
    assert_int_equal(json_integer_value(json_object_get(meta, "split")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "gamma"), "stage3.1")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "verified"), "class_mismatches")), 0);
    json_decref(j);

    /* --alpha as safetensors, in the original's naming: every block's three
     * hyper-weights, the virtual identities at 1.0 */
    hr_tensor_map *map = NULL;
    const int64_t one = 1;
    const float a = 1.0f;
    static const char *blocks[] = {"stage1.0", "stage1.1", "stage2.0", "stage2.1", "stage3.0", "stage3.1", "stage4.0"};
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    for (int b = 0; b < 7; b++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            char name[64];
            snprintf(name, sizeof name, "%s.hyper_%s", blocks[b], hr_branch_name((hr_branch)br));
            HR_ASSERT_OK(hr_tensor_map_add(map, name, 1, &one, &a, &err), &err);
        }
    snprintf(path, sizeof path, "%s/alpha.safetensors", dir);
    HR_ASSERT_OK(hr_safetensors_save(path, map, NULL, NULL, 0, &err), &err);
    hr_tensor_map_destroy(map);
    HR_EXPECT_CLI(dir,
                  "infer --deploy " REDUCED "/domain_0_joint.json --in-process --frames 2 --warmup 0 --alpha "
                  "alpha.safetensors --verify",
                  0, err_text, "alpha.safetensors: " VIRTUAL_NOTE);
    assert_int_equal(occurrences(err_text, "hyper_identity entr"), 1);
    /* the original's Code 1 JSON is the same --alpha: of several domains,
     * --domain picks one (and without it, the error says so) */
    static const char two[] = "{\"domain_0\": {}, \"domain_1\": {}}";
    snprintf(path, sizeof path, "%s/alpha.json", dir);
    hr_test_write_file(path, two, sizeof two - 1);
    HR_EXPECT_CLI(dir,
                  "infer --deploy " REDUCED "/domain_0_joint.json --in-process --frames 2 --warmup 0 --alpha alpha.json",
                  1, err_text, "alpha.json holds several domains: choose one with --domain");
    json_t *all = load_json(REDUCED, "trained_hyper_weights.json");
    json_t *d0 = json_pack("{s:O}", "domain_0", json_object_get(all, "domain_0"));
    snprintf(path, sizeof path, "%s/alpha0.json", dir);
    assert_int_equal(json_dump_file(d0, path, 0), 0);
    json_decref(d0);
    json_decref(all);
    HR_EXPECT_CLI(dir,
                  "infer --deploy " REDUCED "/domain_0_joint.json --in-process --frames 2 --warmup 0 --alpha alpha0.json "
                  "--verify",
                  0, out_text, "0 class mismatches");
}

/* A checkpoint saved from the original's HyperRepVGG carries hyper_identity
 * on every block: forward and convert accept it (the first
 * symptom), noting the 4 virtual ones once, and compute what PyTorch did. */
static void test_checkpoint(void **state)
{
    const char *dir = hr_test_tmpdir();
    hr_error err = {0};
    int nd, nd2;
    int64_t s[HR_MAX_DIMS], s2[HR_MAX_DIMS];
    float *y, *want;
    char path[600];
    (void)state;
    HR_EXPECT_CLI(dir,
                  "forward --model repvgg-tiny --weights " REDUCED "/tiny_virtual.pth --input " HR_FIXTURES_DIR
                  "/tiny_input.npy --output y.npy",
                  0, err_text, "weights: " VIRTUAL_NOTE);
    assert_int_equal(occurrences(err_text, "hyper_identity entr"), 1);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    HR_ASSERT_OK(hr_npy_load(path, &nd, s, &y, &err), &err);
    HR_ASSERT_OK(hr_npy_load(HR_FIXTURES_DIR "/tiny_out.npy", &nd2, s2, &want, &err), &err);
    hr_tensor ty = hr_tensor_view(y, nd, s), tw = hr_tensor_view(want, nd2, s2);
    assert_true(hr_tensor_same_shape(&ty, &tw));
    HR_ASSERT_CLOSE(&ty, &tw, 1e-4, "forward of the original-form checkpoint vs PyTorch");
    free(y);
    free(want);

    HR_EXPECT_CLI(dir, "convert " REDUCED "/tiny_virtual.pth w.safetensors --model repvgg-tiny", 0, err_text,
                  VIRTUAL_NOTE);
    HR_EXPECT_CLI(dir, "forward --model repvgg-tiny --weights w.safetensors --gamma deploy", 0, err_text, VIRTUAL_NOTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lut_merge),   cmocka_unit_test(test_optimize),
        cmocka_unit_test(test_importance),  cmocka_unit_test(test_gamma_file),
        cmocka_unit_test(test_plot),        cmocka_unit_test(test_alpha_eval_joint),
        cmocka_unit_test(test_infer_joint), cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
