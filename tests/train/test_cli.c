/* The training commands end to end on a few hundred Fashion-MNIST images:
 * train-base (with a checkpoint and --resume), train-hyper's outputs in the
 * original tool's format, importance (also on the original's example file),
 * eval (also with the original's α file), and usage errors. Skipped when
 * Debian's dataset-fashion-mnist is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/data.h"
#include "hyperrep/weights.h"

HR_CLI_BUFFERS;
static char dir[512];

static int have_data(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", HR_FASHION_MNIST_DIR);
    return access(p, R_OK) == 0;
}

static json_t *load(const char *name)
{
    char p[1024];
    json_error_t je;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        fail_msg("%s: %s", p, je.text);
    return j;
}

static void test_usage(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    HR_EXPECT_CLI(dir, "train-base --help", 0, out_text, "--resume");
    HR_EXPECT_CLI(dir, "train-hyper --help", 0, out_text, "trained_hyper_weights.json");
    HR_EXPECT_CLI(dir, "importance --help", 0, out_text, "importance_rankings.json");
    HR_EXPECT_CLI(dir, "eval --help", 0, out_text, "accuracy=NN.NN%");
    HR_EXPECT_CLI(dir, "train-base --model repvgg-fmnist", 2, err_text, "-o are required");
    HR_EXPECT_CLI(dir, "train-base --model repvgg-fmnist --schedule linear -o x", 2, err_text, "--schedule");
    HR_EXPECT_CLI(dir, "train-base --model nosuch -o x.safetensors --max-samples 10", 1, err_text, "unknown model");
    HR_EXPECT_CLI(dir, "train-hyper --model repvgg-fmnist --weights nosuch.safetensors", 1, err_text, "nosuch");
    HR_EXPECT_CLI(dir, "eval --model repvgg-fmnist --weights w --part train", 2, err_text, "--part: 'train'");
    HR_EXPECT_CLI(dir, "eval --model repvgg-fmnist --weights w --split test", 2, err_text, "is now --part test|val");
    HR_EXPECT_CLI(dir, "importance --model repvgg-fmnist --alpha nosuch.json", 1, err_text, "nosuch.json");
    HR_EXPECT_CLI(dir, "train-base --model repvgg-tiny --max-samples 200 -o x.safetensors", 1, err_text,
                  "takes 3x48x48");
}

static void test_pipeline(void **state)
{
    (void)state;
    if (!have_data()) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    /* base training: 2 epochs, stopped after the first, then resumed */
    HR_EXPECT_CLI(
        dir,
        "train-base --model repvgg-fmnist --max-samples 600 --epochs 2 --stop-after 1 --batch 64 -o base.safetensors",
        0, err_text, "stopped after epoch 1");
    /* the checkpoint is its owner's alone; the weights are a result */
    {
        struct stat sb;
        char ck[700];
        snprintf(ck, sizeof ck, "%s/base.safetensors.ckpt", dir);
        assert_int_equal(stat(ck, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    HR_EXPECT_CLI(
        dir, "train-base --model repvgg-fmnist --max-samples 600 --epochs 2 --batch 64 --resume -o base.safetensors", 0,
        err_text, "resuming");
    assert_non_null(strstr(out_text, "epoch 2:"));
    assert_null(strstr(out_text, "epoch 1:"));
    /* an interrupted run resumed gives the uninterrupted run's weights, bit for bit */
    HR_EXPECT_CLI(dir,
                  "train-base --model repvgg-fmnist --max-samples 600 --epochs 2 --batch 64 -o straight.safetensors", 0,
                  out_text, "accuracy=");
    {
        char a[700], b[700];
        hr_tensor_map *ma, *mb;
        hr_error err = {0};
        snprintf(a, sizeof a, "%s/base.safetensors", dir);
        snprintf(b, sizeof b, "%s/straight.safetensors", dir);
        HR_ASSERT_OK(hr_safetensors_load(a, &ma, &err), &err);
        HR_ASSERT_OK(hr_safetensors_load(b, &mb, &err), &err);
        assert_int_equal(hr_tensor_map_count(ma), hr_tensor_map_count(mb));
        for (size_t i = 0; i < hr_tensor_map_count(ma); i++) {
            const hr_named_tensor *ta = hr_tensor_map_at(ma, i), *tb = hr_tensor_map_find(mb, ta->name);
            assert_non_null(tb);
            assert_memory_equal(ta->data, tb->data, sizeof(float) * (size_t)hr_named_tensor_numel(ta));
        }
        hr_tensor_map_destroy(ma);
        hr_tensor_map_destroy(mb);
    }
    json_t *info = load("base.safetensors.json");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "settings"), "epochs")), 2);
    json_decref(info);

    /* code 1, two domains, one epoch */
    HR_EXPECT_CLI(
        dir,
        "train-hyper --model repvgg-fmnist --weights base.safetensors --max-samples 600 --epochs 1 --domains 3 -o t1", 0,
        out_text, "domain 3: initial");
    json_t *w = load("t1/trained_hyper_weights.json"), *r = load("t1/training_results.json");
    json_t *d3 = json_object_get(w, "domain_3");
    assert_non_null(d3);
    /* every branch name, virtual identities at 1.0 as the original wrote them */
    assert_true(json_real_value(json_object_get(d3, "stage1.0.hyper_identity")) == 1.0);
    assert_non_null(json_object_get(d3, "stage4.0.hyper_1x1"));
    json_t *r3 = json_object_get(r, "domain_3");
    const char *keys[] = {"group_id", "domain_name", "domain_desc", "initial_acc", "train_loss", "val_acc",
                          "l1_penalty", "best_acc", "improvement"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(json_object_get(r3, keys[i]));
    assert_int_equal(json_array_size(json_object_get(r3, "val_acc")), 1);
    double best = json_real_value(json_object_get(r3, "best_acc"));
    assert_true(json_is_array(json_object_get(r3, "pruned_by_threshold")));
    json_decref(w), json_decref(r);

    /* the threshold rule (SPEC 13.7): a threshold above every |alpha| leaves
     * each block exactly its largest branch; the pruned are exactly 0 */
    HR_EXPECT_CLI(dir, "train-hyper --model repvgg-fmnist --weights base.safetensors --pruning-threshold -1", 2,
                  err_text, "--pruning-threshold");
    HR_EXPECT_CLI(
        dir,
        "train-hyper --model repvgg-fmnist --weights base.safetensors --max-samples 600 --epochs 1 --domains 3 "
        "--pruning-threshold 1000 -o t2",
        0, out_text, "domain 3: initial");
    w = load("t2/trained_hyper_weights.json"), r = load("t2/training_results.json");
    json_t *pt = json_object_get(json_object_get(r, "domain_3"), "pruned_by_threshold");
    size_t i;
    json_t *nm;
    assert_true(json_array_size(pt) >= 7); /* 7 blocks, each with 2 or 3 branches */
    json_array_foreach(pt, i, nm)
        assert_true(json_real_value(json_object_get(json_object_get(w, "domain_3"), json_string_value(nm))) == 0.0);
    json_decref(w), json_decref(r);

    /* eval with the trained α reproduces the reported best accuracy */
    HR_EXPECT_CLI(dir,
                  "eval --model repvgg-fmnist --weights base.safetensors --max-samples 600 --domain 3 --alpha "
                  "t1/trained_hyper_weights.json -o e.json",
                  0, out_text, "accuracy=");
    json_t *e = load("e.json");
    double acc = json_real_value(json_object_get(e, "accuracy"));
    json_decref(e);
    if (acc < best - 1e-9 || acc > best + 1e-9)
        fail_msg("eval %.4f%% vs train-hyper's best %.4f%%", acc, best);

    /* code 2 on our file, and on the original tool's example (RepVGG-B3) */
    HR_EXPECT_CLI(dir, "importance --model repvgg-fmnist --alpha t1/trained_hyper_weights.json -o t2", 0, out_text,
                  "1 domains");
    json_t *rk = load("t2/importance_rankings.json"), *fb = load("t2/filtered_branches.json");
    assert_int_equal(json_array_size(json_object_get(rk, "domain_3")), 17);
    assert_int_equal(json_array_size(json_object_get(fb, "domain_3")), 4); /* virtual identities */
    json_decref(rk), json_decref(fb);
    /* the original's example lives in shared/ beside the repository */
    char path[700], args[1024];
    snprintf(path, sizeof path, "%s/../../../shared/reference/original-formats/trained_hyper_weights.json",
             HR_FIXTURES_DIR);
    if (access(path, R_OK) == 0) {
        snprintf(args, sizeof args, "importance --model repvgg-b3 --alpha %s -o t2b", path);
        HR_EXPECT_CLI(dir, args, 0, out_text, "2 domains");
        json_t *fl = load("t2b/branch_flops.json"), *ref;
        json_error_t je;
        /* SPEC §7: FLOPs from the real output size; stage1.0 dense of B3 = 693.63 M,
         * as the original-formats example (which uses the same rule) */
        snprintf(path, sizeof path, "%s/../../../shared/reference/original-formats/branch_flops.json", HR_FIXTURES_DIR);
        ref = json_load_file(path, 0, &je);
        assert_non_null(ref);
        const char *k;
        json_t *v;
        json_object_foreach(ref, k, v) {
            json_t *ours = json_object_get(fl, k);
            assert_non_null(ours);
            assert_true(json_number_value(ours) == json_number_value(v));
        }
        json_decref(ref);
        json_decref(fl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_usage), cmocka_unit_test(test_pipeline)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
