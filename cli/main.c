/* hyperrep: one binary, one subcommand per step (SPEC §11). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli.h"
#include "hyperrep/clock.h"

static const hr_cli_command commands[] = {
    {"models", hr_cmd_models, "list architectures, or one model's blocks, shapes, parameters and FLOPs"},
    {"forward", hr_cmd_forward, "run a model (any gamma per block) on an .npy input, optionally timed"},
    {"convert", hr_cmd_convert, "convert a PyTorch .pth checkpoint to safetensors (no Python needed)"},
    {"data", hr_cmd_data, "Fashion-MNIST / image folders: domain sample PNGs, partition_info.json"},
    {"lut", hr_cmd_lut, "measure a per-device latency LUT, or merge a server and a client LUT (step 1)"},
    {"roofline", hr_cmd_roofline, "measure peak GFLOP/s, memory bandwidth and the roofline knee"},
    {"report", hr_cmd_report, "write the gamma analysis report of a merged LUT (report gamma)"},
    {"optimize", hr_cmd_optimize, "step 2 and split search on a merged LUT: gradient method, grid, exact optimum"},
    {"train-base", hr_cmd_train_base, "train a model's weights (BN in training mode, SGD, checkpoints, --resume)"},
    {"train-hyper", hr_cmd_train_hyper, "code 1: train the hyper-weights alpha per domain, backbone frozen"},
    {"importance", hr_cmd_importance, "code 2: branch importance |alpha| / GFLOPs and rankings per domain"},
    {"eval", hr_cmd_eval, "top-1 accuracy of a model (alpha file, gamma file) on a domain's test or val part"},
    {"joint", hr_cmd_joint, "step 3: progressive pruning under the accuracy constraint, then the split search"},
    {"pipeline", hr_cmd_pipeline, "every step for every domain in pseudo mode from one command (--quick: <= 10 min)"},
    {"plot", hr_cmd_plot, "step 4: figures (gnuplot PNG + PDF, data + script beside each) and report.md / report.html"},
    {"client", hr_cmd_client, "real mode: the edge worker; dials the server and serves its commands (LUT, link, split training)"},
    {"serve", hr_cmd_serve, "real mode: the cloud side of split inference; runs the tail for many edges at once"},
    {"infer", hr_cmd_infer, "real mode: the edge side of split inference; pipelined frames, measured vs LUT-predicted fps"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hyperrep <command> [options]   (hyperrep <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

void hr_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hyperrep %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void hr_cli_format_stamp(json_t *root, const char *name)
{
    if (root)
        json_object_set_new(root, "format", json_pack("{s:s, s:s}", "name", name, "version", "1.0"));
}

int hr_cli_renamed(const char *cmd, const char *old, const char *now)
{
    hr_cli_fail(cmd, "%s is now %s (docs/CLI.md)", old, now);
    return 2;
}

int hr_cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s) {
        hr_cli_fail(cmd, "%s needs a value", flag);
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        hr_cli_fail(cmd, "%s: '%s' is not an integer in %lld..%lld", flag, s, (long long)lo, (long long)hi);
        return 0;
    }
    *out = v;
    return 1;
}

double hr_cli_now_ms(void)
{
    return hr_clock_now_ms();
}

int main(int argc, char **argv)
{
#if defined(__GLIBC__)
    /* Building a model allocates and frees large temporaries (unfused weights,
     * fused kernels) block by block. glibc raises its mmap threshold after
     * each large free, after which such buffers come from the heap and stay
     * resident when freed; a fixed threshold returns them to the system, which
     * keeps peak RSS at what the model really holds. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hyperrep %s\n", HR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hyperrep: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
