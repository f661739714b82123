/* hyperrep convert: PyTorch checkpoint → safetensors, without Python. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: hyperrep convert IN.pth OUT.safetensors [--model M [--input-size H] [--classes K]]\n"
    "\n"
    "Reads a torch.save checkpoint (zip format) with a restricted unpickler that\n"
    "executes nothing, unwraps a nested state_dict, strips 'module.' prefixes and\n"
    "writes every tensor as float32 safetensors (atomically). With --model the\n"
    "weights are also checked against that architecture: every tensor it needs\n"
    "must be present with the right shape, and nothing else.\n";

int hr_cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"input-size", required_argument, 0, 's'},
                                         {"classes", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *arch = NULL;
    hr_model_params mp = hr_model_params_default();
    hr_error err = {0};
    hr_tensor_map *map = NULL;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': arch = optarg; break;
        case 's':
            if (!hr_cli_parse_i64("convert", "--input-size", optarg, 1, 65536, &mp.input_size))
                return 2;
            break;
        case 'k':
            if (!hr_cli_parse_i64("convert", "--classes", optarg, 1, 1000000, &mp.num_classes))
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        fputs(help, stderr);
        return 2;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (hr_weights_load(in, &map, &err)) {
        hr_cli_fail("convert", "%s", err.msg);
        return 1;
    }
    if (arch) {
        if (hr_ctx_create(NULL, &ctx, &err) || hr_model_create(ctx, arch, &mp, &m, &err) ||
            hr_model_load(m, map, &err)) {
            hr_cli_fail("convert", "%s: %s", in, err.msg);
            goto out;
        }
    }
    if (hr_safetensors_save(out, map, NULL, NULL, 0, &err)) {
        hr_cli_fail("convert", "%s", err.msg);
        goto out;
    }
    int64_t elems = 0;
    for (size_t i = 0; i < hr_tensor_map_count(map); i++)
        elems += hr_named_tensor_numel(hr_tensor_map_at(map, i));
    printf("%s: %zu tensors, %lld values%s%s -> %s\n", in, hr_tensor_map_count(map), (long long)elems,
           arch ? ", checked against " : "", arch ? hr_model_arch(m)->name : "", out);
    rc = 0;
out:
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    hr_tensor_map_destroy(map);
    return rc;
}
