/* hyperrep roofline: peak FLOP rate, memory bandwidth and their knee. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/lut.h"

static const char *help =
    "usage: hyperrep roofline [--threads N] [--gemm-n 1536] [--copy-mb 256] [--repeat 5] [-o roofline.json]\n"
    "\n"
    "Measures this machine's roofline on a context of --threads threads: peak\n"
    "GFLOP/s from n x n x n float32 SGEMMs (serial OpenBLAS, one column panel per\n"
    "thread), memory bandwidth in GB/s from copies of --copy-mb MiB (bytes read +\n"
    "written), and the knee I_knee = peak / bandwidth (FLOP/byte); best of --repeat\n"
    "runs each. Writes roofline.json (or -o FILE) atomically; `hyperrep lut merge\n"
    "--roofline-server/--roofline-client` carries the knees into the merged LUT.\n";

int hr_cmd_roofline(int argc, char **argv)
{
    static const struct option opts[] = {{"threads", required_argument, 0, 't'}, {"gemm-n", required_argument, 0, 'n'},
                                         {"copy-mb", required_argument, 0, 'c'}, {"repeat", required_argument, 0, 'r'},
                                         {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *output = "roofline.json";
    int64_t threads = 1, copy_mb = 256, repeat = 5;
    hr_roofline_params rp = hr_roofline_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx = NULL;
    hr_roofline r;
    hr_error err = {0};
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 't':
            if (!hr_cli_parse_i64("roofline", "--threads", optarg, 1, 1024, &threads))
                return 2;
            break;
        case 'n':
            if (!hr_cli_parse_i64("roofline", "--gemm-n", optarg, 64, 16384, &rp.gemm_n))
                return 2;
            break;
        case 'c':
            if (!hr_cli_parse_i64("roofline", "--copy-mb", optarg, 1, 16384, &copy_mb))
                return 2;
            break;
        case 'r':
            if (!hr_cli_parse_i64("roofline", "--repeat", optarg, 1, 1000, &repeat))
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("roofline", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    rp.copy_bytes = (size_t)copy_mb << 20;
    rp.repeat = (int)repeat;
    cp.threads = (int)threads;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_roofline_measure(ctx, &rp, &r, &err) ||
        hr_roofline_save(output, &r, &err)) {
        hr_cli_fail("roofline", "%s", err.msg);
    } else {
        printf("wrote %s: %s, %d thread%s: peak %.1f GFLOP/s, bandwidth %.2f GB/s, I_knee %.2f FLOP/byte\n", output,
               r.device, r.threads, r.threads == 1 ? "" : "s", r.peak_gflops, r.bandwidth_gbs, r.i_knee);
        rc = 0;
    }
    hr_ctx_destroy(ctx);
    return rc;
}
