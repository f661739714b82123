/* hyperrep report gamma: the γ analysis report of a merged LUT (SPEC §5). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/lut.h"

static const char *help =
    "usage: hyperrep report gamma --lut hardware_lut_complete.json [-o full_gamma_analysis.md]\n"
    "\n"
    "Writes the gamma configuration analysis of a merged LUT (ours or the original\n"
    "tool's) as Markdown, in the format of the original's full_gamma_analysis.md:\n"
    "a legend, then for every block a table per device (server, client) with each\n"
    "gamma's streams, FLOPs, bytes, intensity, latency, throughput and roofline\n"
    "status against the device's knee, plus Bytes_w / Intensity_w (weights counted).\n";

int hr_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"lut", required_argument, 0, 'l'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *lut_path = NULL, *output = "full_gamma_analysis.md";
    hr_lut *lut = NULL;
    hr_error err = {0};
    int c, rc = 1;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "gamma") != 0) {
        if (argc >= 2)
            hr_cli_fail("report", "unknown report '%s' (gamma)", argv[1]);
        fputs(help, stderr);
        return 2;
    }
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lut_path = optarg; break;
        case 'o': output = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("report gamma", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!lut_path) {
        hr_cli_fail("report gamma", "--lut is required");
        return 2;
    }
    if (hr_lut_load(lut_path, &lut, &err) || hr_lut_report_gamma_save(output, lut, &err)) {
        hr_cli_fail("report gamma", "%s", err.msg);
    } else {
        printf("wrote %s: %s, %d blocks x 2 devices\n", output, lut->model, lut->nblocks);
        rc = 0;
    }
    hr_lut_destroy(lut);
    return rc;
}
