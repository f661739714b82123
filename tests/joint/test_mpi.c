/* `mpirun -np N hyperrep joint` (Open MPI): the candidates of each pruning
 * round are spread over the ranks and the output is the same as one
 * process's, apart from timestamps and the thread and process counts:
 * -np 2 with 3 candidates, -np 4 with 3 (a rank with nothing to train), a
 * run stopped under mpirun and resumed by one process; ranks holding
 * different settings fail on every rank instead of waiting for each other,
 * and so does an error every rank meets; the library refuses bad process
 * settings and returns a failed exchange. Skipped when Debian's
 * dataset-fashion-mnist or mpiexec is missing. Open MPI's own allocations
 * are not ours to free: its children run with detect_leaks=0. */
// ctest-labels: slow
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/ctx.h"
#include "hyperrep/data.h"
#include "hyperrep/joint.h"

HR_CLI_BUFFERS;
static char dir[512];

/* Open MPI 4's mpirun binds its out-of-band listener to every interface
 * (no setting narrows it), so the runs go into a private network namespace
 * holding only loopback when unshare is allowed (root, or user namespaces);
 * otherwise they run as they are, with every setting that can keep MPI's
 * traffic local (shared memory between ranks, loopback for the rest).
 * Returns the wrapper to put before mpiexec ("" without a namespace). */
static const char *netns_wrapper(void)
{
    static const char *const tries[] = {"unshare -rn", "unshare -n"};
    static char wrapper[256];
    static int probed;
    if (!probed) {
        probed = 1;
        for (size_t i = 0; i < sizeof tries / sizeof tries[0] && !wrapper[0]; i++) {
            char cmd[512];
            snprintf(cmd, sizeof cmd,
                     "%s sh -c 'PATH=$PATH:/usr/sbin:/sbin ip link set lo up' >/dev/null 2>&1 </dev/null", tries[i]);
            if (system(cmd) == 0)
                snprintf(wrapper, sizeof wrapper,
                         "%s sh -c 'PATH=$PATH:/usr/sbin:/sbin ip link set lo up && exec \"$@\"' sh ", tries[i]);
        }
        print_message("mpiexec runs %s\n", wrapper[0] ? "in a private network namespace" : "without a namespace");
    }
    return wrapper;
}

/* Runs `mpiexec -np np <program> <args>` in the test directory, where
 * program is the CLI ($HR, set by hr_test_run_sh) or, with shell set,
 * `sh -c '<args>'` (args then hold no single quote). A timeout turns a hang
 * into a failure (status 124). */
static int run_mpi(int np, int shell, const char *args)
{
    char cmd[8192], prog[4096];
    if (shell)
        snprintf(prog, sizeof prog, "sh -c '%s'", args);
    else
        snprintf(prog, sizeof prog, "\"$HR\" %s", args);
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" OMPI_MCA_pml=ob1 "
             "OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_oob_tcp_if_include=lo "
             "timeout 300 %s'%s' --allow-run-as-root --oversubscribe -np %d %s </dev/null",
             netns_wrapper(), HR_MPIEXEC, np, prog);
    return HR_RUN_SH(dir, cmd);
}

/* 1 when a run failed by itself: not 0, not timeout's 124, not a crash. */
static int failed(int rc)
{
    return rc != 0 && rc != 124 && rc != 128;
}

/* The joint output without the lines that legitimately differ. */
static char *stripped(const char *name)
{
    char p[1024], line[4096];
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        fail_msg("%s is missing", p);
    assert_non_null(buf);
    buf[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (!strstr(line, "\"timestamp\"") && !strstr(line, "\"threads\"") && !strstr(line, "\"processes\"") &&
            len + strlen(line) < cap) {
            memcpy(buf + len, line, strlen(line) + 1);
            len += strlen(line);
        }
    fclose(f);
    return buf;
}

static void assert_same(const char *a, const char *b)
{
    char *x = stripped(a), *y = stripped(b);
    if (strcmp(x, y) != 0) {
        print_error("%s and %s differ\n", a, b);
        free(x), free(y);
        fail();
    }
    assert_non_null(strstr(x, "\"pruning_history\""));
    free(x), free(y);
}

static void assert_same_bytes(const char *a, const char *b)
{
    char pa[1024], pb[1024];
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    unsigned char *x = hr_test_read_all(pa, &na), *y = hr_test_read_all(pb, &nb);
    assert_true(na == nb && memcmp(x, y, na) == 0);
    free(x), free(y);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#define ARGS                                                                                                  \
    "joint --domain 3 --model repvgg-fmnist --weights base.safetensors --max-samples 1000 --rounds 2 "      \
    "--epochs 1 --threshold 50 --threads 1 "

static void test_mpi(void **state)
{
    (void)state;
    if (access(HR_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    if (access(HR_MPIEXEC, X_OK) != 0) {
        print_message("%s not found (openmpi-bin): skipped\n", HR_MPIEXEC);
        skip();
    }
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    HR_EXPECT_RC(HR_RUN_CLI(dir, "train-base --model repvgg-fmnist --max-samples 400 --epochs 1 --batch 32 "
                                 "-o base.safetensors"),
                 0, out_text, "accuracy=");

    /* one process, then two ranks sharing three candidates */
    HR_EXPECT_RC(HR_RUN_CLI(dir, ARGS "--pool 3 -o a"), 0, out_text, "wrote a/domain_3_joint.json");
    HR_EXPECT_RC(run_mpi(2, 0, ARGS "--pool 3 -o b"), 0, out_text, "on 2 processes");
    /* rank 1 prints nothing and writes nothing */
    assert_int_equal(count(out_text, "wrote b/domain_3_joint.json"), 1);
    assert_int_equal(count(out_text, "round 1: testing"), 1);
    assert_same("a/domain_3_joint.json", "b/domain_3_joint.json");
    assert_same_bytes("a/domain_3_alpha.safetensors", "b/domain_3_alpha.safetensors");

    /* more ranks than candidates: rank 3 trains nothing but still takes part */
    HR_EXPECT_RC(run_mpi(4, 0, ARGS "--pool 3 -o c"), 0, out_text, "on 4 processes");
    assert_same("a/domain_3_joint.json", "c/domain_3_joint.json");
    assert_same_bytes("a/domain_3_alpha.safetensors", "c/domain_3_alpha.safetensors");

    /* stopped under mpirun after a round (rank 0's checkpoint), resumed by one process */
    HR_EXPECT_RC(run_mpi(2, 0, ARGS "--pool 3 --stop-after 1 -o r"), 0, out_text, "stopped after 1 rounds");
    HR_EXPECT_RC(HR_RUN_CLI(dir, ARGS "--pool 3 -o r"), 0, out_text, "resumed from");
    assert_same("a/domain_3_joint.json", "r/domain_3_joint.json");
    assert_same_bytes("a/domain_3_alpha.safetensors", "r/domain_3_alpha.safetensors");

    /* rank 1 with other settings: every rank stops with the reason, none waits */
    HR_EXPECT_RC(
        failed(run_mpi(2, 1,
                       "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then e=2; else e=1; fi; exec \"$HR\" joint --domain 3 "
                       "--model repvgg-fmnist --weights base.safetensors --max-samples 1000 --rounds 2 --pool 3 "
                       "--threshold 50 --threads 1 --epochs $e -o x")),
        1, err_text, "does not hold the same settings and state as process 0");
    /* an error every rank meets */
    HR_EXPECT_RC(failed(run_mpi(2, 0, "joint --domain 3 --model repvgg-fmnist --weights nosuch.safetensors -o y")), 1,
                 err_text, "nosuch");
    /* goal programming is one process's work */
    HR_EXPECT_RC(failed(run_mpi(2, 0, ARGS "--lut lut.json --method goal -o g")), 1, err_text, "runs in one process");
}

static hr_status broken_exchange(void *user, const void *mine, size_t bytes, void *all, hr_error *err)
{
    (void)mine, (void)all;
    ++*(int *)user;
    return hr_error_set(err, HR_ERR_IO, "test exchange of %zu bytes refused", bytes);
}

/* The library's side without MPI: bad process settings are refused before
 * any work, and a failing exchange is returned, not waited on. */
static void test_dist_hook(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    hr_data *d = NULL;
    hr_joint_result r;
    int calls = 0;
    hr_joint_dist dist = {2, 2, broken_exchange, &calls};
    hr_joint_params jp = hr_joint_params_default();
    hr_joint_result_init(&r);
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 7, &err), &err);
    jp.dist = &dist;
    /* the data pointer is never dereferenced: settings are checked first */
    assert_int_equal(hr_joint_progressive(m, (const hr_data *)m, 0, &jp, &r, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "rank 2 of 2"));
    dist.rank = 1;
    dist.allgather = NULL;
    assert_int_equal(hr_joint_progressive(m, (const hr_data *)m, 0, &jp, &r, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "exchange missing"));
    assert_int_equal(calls, 0);
    if (access(HR_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0) {
        hr_data_params dp = hr_data_params_default();
        dp.load.max_samples = 300;
        HR_ASSERT_OK(hr_data_open(ctx, &dp, &d, &err), &err);
        dist.allgather = broken_exchange;
        jp.rounds = 1;
        jp.pool = 2;
        jp.epochs = 1;
        assert_int_equal(hr_joint_progressive(m, d, 0, &jp, &r, &err), HR_ERR_IO);
        assert_non_null(strstr(err.msg, "test exchange of"));
        assert_int_equal(calls, 1);
    }
    hr_joint_result_deinit(&r);
    hr_data_destroy(d);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dist_hook), cmocka_unit_test(test_mpi)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
