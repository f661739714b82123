/* hyperrep data: look at the data — corrupted sample sheets per domain, and
 * the partition into domains (partition_info.json). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hyperrep/data.h"

static const char *help =
    "usage: hyperrep data samples [options] [-o DIR]\n"
    "       hyperrep data partition [options] [-o partition_info.json]\n"
    "\n"
    "samples    writes DIR/clean.png, DIR/domain_<k>.png (k = 0..9) and DIR/overview.png:\n"
    "           the first --per-domain test images, clean and under each domain's\n"
    "           corruption (the same images in every file, so noise levels compare)\n"
    "partition  writes partition_info.json and prints each domain's part sizes\n"
    "\n"
    "options:\n"
    "  --data SRC           fashion-mnist (default; " HR_FASHION_MNIST_DIR "),\n"
    "                       fashion-mnist:DIR, or an image folder DIR/<class>/*.jpg|png\n"
    "                       (or DIR/train/<class>/… with DIR/val/<class>/…)\n"
    "  --partition P        auto (default), classes or dirichlet\n"
    "  --alpha A            Dirichlet concentration (0.5)\n"
    "  --val-fraction F     validation share of each domain's training subset (0.15)\n"
    "  --test-fraction F    single image folders: share held out as test pool (0.2)\n"
    "  --seed S             partition and corruption seed (42)\n"
    "  --on-bad-file M      stop (default) or skip undecodable image files\n"
    "  --max-samples N      use only N samples of each pool (quick looks)\n"
    "  --threads N          threads for checking image files (1)\n"
    "  --per-domain N       samples: images per domain (4)\n"
    "  --scale N            samples: enlarge each pixel N times (default: to ~112 px)\n"
    "  -o PATH              output directory (samples, default data_samples) or file\n"
    "                       (partition, default partition_info.json)\n";

static int parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        hr_cli_fail("data", "%s: '%s' is not a number in %g..%g", flag, s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

static void print_partition(const hr_data *d)
{
    const hr_partition *p = hr_data_partition(d);
    const hr_dataset *tr = hr_data_pool(d, HR_POOL_TRAIN);
    int K = hr_dataset_num_classes(tr);

    printf("source %s: %lld training / %lld test samples, %d classes, partition %s\n", hr_data_source(d),
           (long long)hr_dataset_size(tr), (long long)hr_dataset_size(hr_data_pool(d, HR_POOL_TEST)), K,
           hr_partition_kind_name(hr_partition_kind_of(p)));
    printf("%-6s %-32s %7s %7s %7s  %s\n", "domain", "name", "train", "val", "test", "largest class share");
    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        int64_t ntr, nva, nte, best = 0, total = 0;
        const int64_t *c = hr_partition_class_counts(p, k, HR_PART_TRAIN);
        const int64_t *cv = hr_partition_class_counts(p, k, HR_PART_VAL);
        int arg = 0;
        hr_partition_indices(p, k, HR_PART_TRAIN, &ntr);
        hr_partition_indices(p, k, HR_PART_VAL, &nva);
        hr_partition_indices(p, k, HR_PART_TEST, &nte);
        for (int j = 0; j < K; j++) {
            total += c[j] + cv[j];
            if (c[j] + cv[j] > best) {
                best = c[j] + cv[j];
                arg = j;
            }
        }
        printf("%-6d %-32s %7lld %7lld %7lld  %5.1f%% %s\n", k, hr_domain_get(k)->name, (long long)ntr,
               (long long)nva, (long long)nte, total ? 100.0 * (double)best / (double)total : 0.0,
               hr_dataset_class_name(tr, arg));
    }
}

int hr_cmd_data(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},          {"partition", required_argument, 0, 'P'},
        {"alpha", required_argument, 0, 'a'},         {"val-fraction", required_argument, 0, 'v'},
        {"test-fraction", required_argument, 0, 'T'}, {"seed", required_argument, 0, 'S'},
        {"on-bad-file", required_argument, 0, 'B'},   {"max-samples", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 't'},       {"per-domain", required_argument, 0, 'k'},
        {"scale", required_argument, 0, 's'},         {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    hr_data_params dp = hr_data_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    const char *sub, *output = NULL;
    int64_t threads = 1, per_domain = 4, scale = 0, v;
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    int c, rc = 1;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    if (strcmp(sub, "samples") != 0 && strcmp(sub, "partition") != 0) {
        hr_cli_fail("data", "unknown subcommand '%s' (samples or partition)", sub);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dp.source = optarg; break;
        case 'o': output = optarg; break;
        case 'P':
            if ((c = hr_partition_kind_parse(optarg)) < 0) {
                hr_cli_fail("data", "--partition: '%s' is not auto, classes or dirichlet", optarg);
                return 2;
            }
            dp.partition.kind = (hr_partition_kind)c;
            break;
        case 'a':
            if (!parse_double("--alpha", optarg, 1e-6, 1e6, &dp.partition.dirichlet_alpha))
                return 2;
            break;
        case 'v':
            if (!parse_double("--val-fraction", optarg, 0.0, 0.99, &dp.partition.val_fraction))
                return 2;
            break;
        case 'T':
            if (!parse_double("--test-fraction", optarg, 0.01, 0.99, &dp.test_fraction))
                return 2;
            break;
        case 'S':
            if (!hr_cli_parse_i64("data", "--seed", optarg, 0, INT64_MAX, &v))
                return 2;
            dp.seed = (uint64_t)v;
            break;
        case 'B':
            if (strcmp(optarg, "stop") == 0)
                dp.load.on_bad_file = HR_BAD_FILE_STOP;
            else if (strcmp(optarg, "skip") == 0)
                dp.load.on_bad_file = HR_BAD_FILE_SKIP;
            else {
                hr_cli_fail("data", "--on-bad-file: '%s' is not stop or skip", optarg);
                return 2;
            }
            break;
        case 'n':
            if (!hr_cli_parse_i64("data", "--max-samples", optarg, 1, INT32_MAX, &dp.load.max_samples))
                return 2;
            break;
        case 't':
            if (!hr_cli_parse_i64("data", "--threads", optarg, 1, 1024, &threads))
                return 2;
            break;
        case 'k':
            if (!hr_cli_parse_i64("data", "--per-domain", optarg, 1, 1000, &per_domain))
                return 2;
            break;
        case 's':
            if (!hr_cli_parse_i64("data", "--scale", optarg, 1, 64, &scale))
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind + 1 < argc) {
        hr_cli_fail("data", "unexpected argument '%s'", argv[optind + 1]);
        return 2;
    }
    cp.threads = (int)threads;
    if (hr_ctx_create(&cp, &ctx, &err) != HR_OK || hr_data_open(ctx, &dp, &d, &err) != HR_OK) {
        hr_cli_fail("data", "%s", err.msg);
        goto done;
    }
    if (hr_dataset_skipped(hr_data_pool(d, HR_POOL_TRAIN)) + hr_dataset_skipped(hr_data_pool(d, HR_POOL_TEST)) > 0)
        fprintf(stderr, "hyperrep data: skipped %lld undecodable files\n",
                (long long)(hr_dataset_skipped(hr_data_pool(d, HR_POOL_TRAIN)) +
                            hr_dataset_skipped(hr_data_pool(d, HR_POOL_TEST))));
    if (strcmp(sub, "partition") == 0) {
        if (!output)
            output = "partition_info.json";
        if (hr_partition_write_json(hr_data_partition(d), output, &err) != HR_OK) {
            hr_cli_fail("data", "%s", err.msg);
            goto done;
        }
        print_partition(d);
        printf("wrote %s\n", output);
    } else {
        int64_t chw[3];
        if (!output)
            output = "data_samples";
        if (mkdir(output, 0777) != 0 && errno != EEXIST) {
            hr_cli_fail("data", "%s: cannot create directory: %s", output, strerror(errno));
            goto done;
        }
        hr_dataset_shape(hr_data_pool(d, HR_POOL_TEST), chw);
        if (scale == 0)
            scale = chw[1] >= 112 ? 1 : (112 + chw[1] - 1) / chw[1];
        if (hr_data_write_samples(d, output, (int)per_domain, (int)scale, &err) != HR_OK) {
            hr_cli_fail("data", "%s", err.msg);
            goto done;
        }
        printf("wrote %s/clean.png, %s/domain_0.png … domain_%d.png and %s/overview.png (%lld images each, scale "
               "%lld)\n",
               output, output, HR_NUM_DOMAINS - 1, output, (long long)per_domain, (long long)scale);
    }
    rc = 0;
done:
    hr_data_destroy(d);
    hr_ctx_destroy(ctx);
    return rc;
}
