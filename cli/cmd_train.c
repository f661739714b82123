/* hyperrep train-base (base training of a model's weights) and
 * hyperrep train-hyper (code 1: α per domain, backbone frozen) — SPEC §7. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "run.h"
#include "train_common.h"

/* ------------------------------------------------------------ train-base */

static const char *base_help =
    "usage: hyperrep train-base --model M [--data SRC] [options] -o base.safetensors\n"
    "\n"
    "Trains every weight of the training-time model (BN in training mode, alpha = 1)\n"
    "on the training parts of all domains, clean (validation parts held out), with\n"
    "SGD; evaluates the clean test set after every epoch. A checkpoint (weights,\n"
    "momentum, epoch) is written atomically after every epoch to OUT.ckpt; --resume\n"
    "continues from it. The output records its settings in its metadata and in\n"
    "OUT.json (with the per-epoch history).\n"
    "\n"
    "options:\n"
    "  --model M            architecture (hyperrep models), e.g. repvgg-fmnist\n"
    "  --data SRC           fashion-mnist (default), fashion-mnist:DIR or an image folder\n"
    "  --epochs E           epochs (10)\n"
    "  --batch B            batch size (128)\n"
    "  --lr LR              initial learning rate (0.1)\n"
    "  --momentum M         SGD momentum (0.9)\n"
    "  --weight-decay WD    on conv and linear weights (5e-4)\n"
    "  --schedule S         cosine (default), step (x0.1 at 50% and 75%) or constant\n"
    "  --augment            random horizontal flips and shifts of up to 2 pixels\n"
    "  --threads N          threads (2)\n"
    "  --seed S             initialisation, shuffling and data seed (42)\n"
    "  --max-samples N      use only N samples of each pool (quick runs)\n"
    "  --resume             continue from OUT.ckpt\n"
    "  --stop-after E       stop after epoch E (checkpoint written; --resume goes on)\n"
    "  -o PATH              output weights (safetensors)\n";

/* Progress of the library's training, as the terminal shows it. */
typedef struct base_view {
    hr_progress pr;
    int64_t epoch;       /* the epoch the bar shows; -1 before the first */
    int64_t epochs;
    char label[64];
} base_view;

static void base_step(void *user, int64_t epoch, int64_t done, int64_t total, double loss, double acc, double rate)
{
    base_view *v = user;
    (void)total;
    if (epoch != v->epoch) {
        v->epoch = epoch;
        snprintf(v->label, sizeof v->label, "epoch %lld/%lld", (long long)(epoch + 1), (long long)v->epochs);
        hr_progress_start(&v->pr, v->label);
    }
    hr_progress_update(&v->pr, done, total, loss, acc, rate);
}

static void base_epoch(void *user, const hr_train_epoch_report *r)
{
    base_view *v = user;
    if (v->epoch == r->epoch - 1)
        hr_progress_end(&v->pr);
    printf("epoch %lld: loss %.4f train_acc %.2f%% test_acc %.2f%% images/s %.0f minutes %.2f\n", (long long)r->epoch,
           r->loss, r->train_acc, r->test_acc, r->images_per_s, r->minutes);
    fflush(stdout);
}

static void base_log(void *user, hr_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    fprintf(stderr, "train-base: %s\n", msg);
}

int hr_cli_run_train_base(hr_train_base_params *o)
{
    hr_train_base_result res;
    base_view view;
    hr_error err = {0};
    memset(&view, 0, sizeof view);
    view.epoch = -1;
    view.epochs = o->epochs;
    o->on_step = base_step;
    o->on_epoch = base_epoch;
    o->log = base_log;
    o->user = &view;
    if (hr_train_base(o, &res, &err)) {
        hr_cli_fail("train-base", "%s", err.msg);
        return 1;
    }
    if (!res.stopped)
        printf("accuracy=%.2f%% epochs=%lld minutes=%.2f weights=%s\n", res.test_acc, (long long)o->epochs,
               res.minutes, o->output);
    hr_train_base_result_deinit(&res);
    return 0;
}

int hr_cmd_train_base(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
        {"epochs", required_argument, 0, 'e'},  {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},      {"momentum", required_argument, 0, 'M'},
        {"weight-decay", required_argument, 0, 'W'}, {"schedule", required_argument, 0, 's'},
        {"augment", no_argument, 0, 'A'},       {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'S'},    {"max-samples", required_argument, 0, 'n'},
        {"resume", no_argument, 0, 'r'},        {"output", required_argument, 0, 'o'},
        {"stop-after", required_argument, 0, 'X'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    hr_train_base_params o = hr_train_base_params_default();
    int64_t v;
    int c, sched;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.arch = optarg; break;
        case 'd': o.data.source = optarg; break;
        case 'o': o.output = optarg; break;
        case 'A': o.augment = 1; break;
        case 'r': o.resume = 1; break;
        case 'e': if (!hr_cli_parse_i64("train-base", "--epochs", optarg, 1, 100000, &o.epochs)) return 2; break;
        case 'X': if (!hr_cli_parse_i64("train-base", "--stop-after", optarg, 1, 100000, &o.stop_after)) return 2; break;
        case 'b': if (!hr_cli_parse_i64("train-base", "--batch", optarg, 2, 65536, &o.batch)) return 2; break;
        case 't': if (!hr_cli_parse_i64("train-base", "--threads", optarg, 1, 1024, &v)) return 2; o.threads = (int)v; break;
        case 'S': if (!hr_cli_parse_i64("train-base", "--seed", optarg, 0, INT64_MAX, &v)) return 2; o.seed = (uint64_t)v; break;
        case 'n':
            if (!hr_cli_parse_i64("train-base", "--max-samples", optarg, 1, INT64_MAX, &o.data.load.max_samples))
                return 2;
            break;
        case 'l': if (!hr_cli_parse_f64("train-base", "--lr", optarg, 0, 100, &o.lr)) return 2; break;
        case 'M': if (!hr_cli_parse_f64("train-base", "--momentum", optarg, 0, 0.999999, &o.momentum)) return 2; break;
        case 'W': if (!hr_cli_parse_f64("train-base", "--weight-decay", optarg, 0, 1, &o.weight_decay)) return 2; break;
        case 's':
            if ((sched = hr_lr_schedule_parse(optarg)) < 0) {
                hr_cli_fail("train-base", "--schedule: '%s' is not cosine, step or constant", optarg);
                return 2;
            }
            o.schedule = (hr_lr_schedule)sched;
            break;
        case 'h': fputs(base_help, stdout); return 0;
        default: fputs(base_help, stderr); return 2;
        }
    }
    if (optind < argc || !o.arch || !o.output) {
        hr_cli_fail("train-base", optind < argc ? "unexpected argument '%s'" : "--model and -o are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    return hr_cli_run_train_base(&o);
}

/* ----------------------------------------------------------- train-hyper */

static const char *hyper_help =
    "usage: hyperrep train-hyper --model M --weights W [--data SRC] [options] [-o DIR]\n"
    "\n"
    "Code 1: for every domain, trains only the hyper-weights alpha of the live branches\n"
    "(backbone and BN frozen, BN in inference mode; pruned alpha stay 0) with SGD on\n"
    "cross-entropy + L1 * sum|alpha|, starting each domain from the same alpha.\n"
    "Evaluates the domain's validation part (selection) and test part (reported)\n"
    "before training and after every epoch, and keeps the alpha of the best\n"
    "validation epoch. Writes to DIR (default task1_trained_weights_<model>):\n"
    "  trained_hyper_weights.json  {domain_k: {stage1.0.hyper_dense: v, ...}} (the\n"
    "                              original's format; blocks without an identity\n"
    "                              carry hyper_identity 1.0 as the original did)\n"
    "  training_results.json       {domain_k: {group_id, domain_name, domain_desc,\n"
    "                              initial_acc, train_loss[], val_acc[], l1_penalty[],\n"
    "                              best_acc, improvement, ...}}; accuracies are test-part\n"
    "                              except val_acc[] (validation part, the selection)\n"
    "  hyper_weights_matrix.csv    domains x branches\n"
    "  hyper_weights_heatmap.dat/.gp (and .png when gnuplot is installed)\n"
    "  run_info.json               the settings of the run\n"
    "\n"
    "options:\n"
    "  --model M --weights W   architecture and its trained weights (.safetensors/.pth)\n"
    "  --alpha FILE            initial alpha (trained_hyper_weights.json, ours or the\n"
    "                          original's, with --alpha-domain K; or a flat object)\n"
    "  --alpha-domain K        which domain of --alpha to start from (default: each\n"
    "                          domain its own entry when present)\n"
    "  --data SRC              fashion-mnist (default), fashion-mnist:DIR or a folder\n"
    "  --domains LIST          the domains to train: \"3\", \"0-9\", \"1,3,5\" (default: all 10)\n"
    "  --epochs E              epochs per domain (3)\n"
    "  --batch B               batch size (32)\n"
    "  --lr LR                 learning rate (0.01)\n"
    "  --momentum M            SGD momentum (0.9)\n"
    "  --l1 L                  weight of sum|alpha| in the loss (0.001)\n"
    "  --pruning-threshold T   on the starting alpha and after every epoch, |alpha| < T\n"
    "                          becomes exactly 0 and the branch is pruned, never a\n"
    "                          block's last live branch\n"
    "                          (SPEC 13.7; 0.01; 0: off); training_results.json lists\n"
    "                          them per domain (pruned_by_threshold)\n"
    "  --threads N             threads (2)\n"
    "  --seed S                data, partition and shuffling seed (42)\n"
    "  --max-samples N         use only N samples of each pool (quick runs)\n"
    "  -o DIR                  output directory\n";

/* Progress of the library's Code 1, as the terminal shows it. */
typedef struct hyper_view {
    hr_progress pr;
    int domain;
    int64_t epoch, epochs;
    char label[64];
} hyper_view;

static void hyper_domain(void *user, int k, const hr_train_hyper_domain *d)
{
    (void)user;
    fprintf(stderr, "domain %d (%s): %lld train / %lld val / %lld test, initial val %.2f%% test %.2f%%\n", k,
            hr_domain_get(k)->name, (long long)d->train_images, (long long)d->val_images, (long long)d->test_images,
            d->initial_val, d->initial_test);
}

static void hyper_step(void *user, int k, int64_t epoch, int64_t done, int64_t total, double loss, double acc,
                       double rate)
{
    hyper_view *v = user;
    if (k != v->domain || epoch != v->epoch) {
        v->domain = k;
        v->epoch = epoch;
        snprintf(v->label, sizeof v->label, "domain %d epoch %lld/%lld", k, (long long)(epoch + 1),
                 (long long)v->epochs);
        hr_progress_start(&v->pr, v->label);
    }
    hr_progress_update(&v->pr, done, total, loss, acc, rate);
}

static void hyper_epoch(void *user, int k, int64_t e, const hr_train_hyper_domain *d, double rate)
{
    hyper_view *v = user;
    if (v->domain == k && v->epoch == e)
        hr_progress_end(&v->pr);
    printf("domain %d epoch %lld: loss %.4f val_acc %.2f%% test_acc %.2f%% sum|alpha| %.3f images/s %.0f\n", k,
           (long long)(e + 1), d->train_loss[e], d->val[e], d->test[e], d->l1[e], rate);
    fflush(stdout);
}

static void hyper_log(void *user, hr_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    fprintf(stderr, "hyperrep train-hyper: %s\n", msg);
}

static void hyper_done(void *user, int k, const hr_train_hyper_domain *d)
{
    (void)user;
    printf("domain %d: initial %.2f%% best %.2f%% (epoch %d, selected on validation)\n", k, d->initial_test,
           d->best_test, d->best_epoch);
}

int hr_cli_run_train_hyper(hr_train_hyper_params *p, const char *outdir)
{
    hr_train_hyper_result res;
    hyper_view view;
    hr_error err = {0};
    char dirbuf[512];
    int rc = 1;
    memset(&view, 0, sizeof view);
    view.domain = -1;
    view.epochs = p->epochs;
    p->on_domain = hyper_domain;
    p->on_step = hyper_step;
    p->on_epoch = hyper_epoch;
    p->on_domain_done = hyper_done;
    p->log = hyper_log;
    p->user = &view;
    if (hr_train_hyper(p, &res, &err)) {
        hr_cli_fail("train-hyper", "%s", err.msg);
        return 1;
    }
    if (!outdir) {
        snprintf(dirbuf, sizeof dirbuf, "task1_trained_weights_%s", res.arch);
        outdir = dirbuf;
    }
    if (hr_train_hyper_save(p, &res, outdir, &err)) {
        hr_cli_fail("train-hyper", "%s", err.msg);
        goto done;
    }
    printf("%-8s %-34s %9s %9s %11s\n", "domain", "name", "initial", "best", "improvement");
    for (int k = 0; k < HR_NUM_DOMAINS; k++)
        if (res.domain[k].trained)
            printf("%-8d %-34s %8.2f%% %8.2f%% %+10.2f\n", k, hr_domain_get(k)->name, res.domain[k].initial_test,
                   res.domain[k].best_test, res.domain[k].best_test - res.domain[k].initial_test);
    printf("outputs in %s/\n", outdir);
    rc = 0;
done:
    hr_train_hyper_result_deinit(&res);
    return rc;
}

int hr_cmd_train_hyper(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"weights", required_argument, 0, 'w'},
        {"alpha", required_argument, 0, 'a'},   {"alpha-domain", required_argument, 0, 'D'},
        {"data", required_argument, 0, 'd'},    {"domains", required_argument, 0, 'k'},
        {"epochs", required_argument, 0, 'e'},  {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},      {"momentum", required_argument, 0, 'M'},
        {"l1", required_argument, 0, 'L'},      {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'S'},    {"max-samples", required_argument, 0, 'n'},
        {"pruning-threshold", required_argument, 0, 'P'},
        {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
        /* old spelling: refused, naming the new one (a set of domains is --domains) */
        {"domain", required_argument, 0, 1},
        {0, 0, 0, 0}};
    hr_train_hyper_params p = hr_train_hyper_params_default();
    hr_error derr = {0};
    const char *outdir = NULL;
    int64_t v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': p.arch = optarg; break;
        case 'w': p.weights = optarg; break;
        case 'a': p.alpha_file = optarg; break;
        case 'd': p.data.source = optarg; break;
        case 'o': outdir = optarg; break;
        case 'D': if (!hr_cli_parse_i64("train-hyper", "--alpha-domain", optarg, 0, 9, &v)) return 2; p.alpha_domain = (int)v; break;
        case 'k':
            if (hr_domains_parse(optarg, &p.domains, &derr)) {
                hr_cli_fail("train-hyper", "--domains: %s", derr.msg);
                return 2;
            }
            break;
        case 1: return hr_cli_renamed("train-hyper", "--domain", "--domains LIST (\"3\", \"0-9\", \"1,3,5\")");
        case 'e': if (!hr_cli_parse_i64("train-hyper", "--epochs", optarg, 1, 64, &p.epochs)) return 2; break;
        case 'b': if (!hr_cli_parse_i64("train-hyper", "--batch", optarg, 1, 65536, &p.batch)) return 2; break;
        case 't': if (!hr_cli_parse_i64("train-hyper", "--threads", optarg, 1, 1024, &v)) return 2; p.threads = (int)v; break;
        case 'S': if (!hr_cli_parse_i64("train-hyper", "--seed", optarg, 0, INT64_MAX, &v)) return 2; p.seed = (uint64_t)v; break;
        case 'n':
            if (!hr_cli_parse_i64("train-hyper", "--max-samples", optarg, 1, INT64_MAX, &p.data.load.max_samples))
                return 2;
            break;
        case 'l': if (!hr_cli_parse_f64("train-hyper", "--lr", optarg, 0, 100, &p.lr)) return 2; break;
        case 'M': if (!hr_cli_parse_f64("train-hyper", "--momentum", optarg, 0, 0.999999, &p.momentum)) return 2; break;
        case 'L': if (!hr_cli_parse_f64("train-hyper", "--l1", optarg, 0, 100, &p.l1)) return 2; break;
        case 'P':
            if (!hr_cli_parse_f64("train-hyper", "--pruning-threshold", optarg, 0, 1e6, &p.pruning_threshold))
                return 2;
            break;
        case 'h': fputs(hyper_help, stdout); return 0;
        default: fputs(hyper_help, stderr); return 2;
        }
    }
    if (optind < argc || !p.arch || !p.weights) {
        hr_cli_fail("train-hyper", optind < argc ? "unexpected argument '%s'" : "--model and --weights are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    return hr_cli_run_train_hyper(&p, outdir);
}
