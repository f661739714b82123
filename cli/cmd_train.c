/* hyperrep train-base (base training of a model's weights) and
 * hyperrep train-hyper (code 1: α per domain, backbone frozen) — SPEC §7. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
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
    hr_train_base_result res;
    base_view view;
    int64_t v;
    int c, sched, rc = 1;
    hr_error err = {0};
    char jpath[4096];

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
    snprintf(jpath, sizeof jpath, "%s.json", o.output);
    memset(&view, 0, sizeof view);
    view.epoch = -1;
    view.epochs = o.epochs;
    o.on_step = base_step;
    o.on_epoch = base_epoch;
    o.log = base_log;
    o.user = &view;
    if (hr_train_base(&o, &res, &err)) {
        hr_cli_fail("train-base", "%s", err.msg);
        return 1;
    }
    if (res.stopped) {
        hr_train_base_result_deinit(&res);
        return 0;
    }
    char ts[32];
    json_t *hist = json_array();
    for (int i = 0; hist && i < res.nhistory; i++) {
        const hr_train_epoch_report *r = &res.history[i];
        json_array_append_new(hist, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", (json_int_t)r->epoch, "loss",
                                              r->loss, "train_acc", r->train_acc, "test_acc", r->test_acc,
                                              "images_per_s", r->images_per_s, "minutes", r->minutes));
    }
    json_t *info = json_pack("{s:s, s:s, s:s, s:{s:s, s:I, s:I, s:f, s:f, s:f, s:s, s:b, s:I, s:I, s:I}, s:f, s:f, s:o*}",
                             "command", "train-base", "timestamp", hr_cli_timestamp(ts, sizeof ts), "weights", o.output,
                             "settings", "model", o.arch, "epochs", (json_int_t)o.epochs, "batch", (json_int_t)o.batch,
                             "lr", o.lr, "momentum", o.momentum, "weight_decay", o.weight_decay, "schedule",
                             hr_lr_schedule_name(o.schedule), "augment", o.augment, "threads", (json_int_t)o.threads,
                             "seed", (json_int_t)o.seed, "max_samples", (json_int_t)o.data.load.max_samples,
                             "test_accuracy", res.test_acc, "minutes", res.minutes, "history", hist);
    if (!info) {
        hr_cli_fail("train-base", "out of memory");
    } else {
        json_object_set_new(info, "data", json_string(res.data_source));
        rc = hr_cli_write_run_info("train-base", jpath, info) ? 0 : 1;
        json_decref(info);
        printf("accuracy=%.2f%% epochs=%lld minutes=%.2f weights=%s\n", res.test_acc, (long long)o.epochs,
               res.minutes, o.output);
    }
    hr_train_base_result_deinit(&res);
    return rc;
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
    "  --domain K              train domain K only (default: all 10)\n"
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

typedef struct domain_result {
    int trained;
    double initial_val, initial_test, best_val, best_test;
    int best_epoch;
    double train_loss[64], val[64], test[64], l1[64];
    float *alpha;  /* best α: [blocks][3] */
} domain_result;

static int collect_alpha(hr_trainer *t, int nb, float *a)
{
    for (int i = 0; i < nb; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[i * 3 + br] = hr_trainer_alpha(t, i, (hr_branch)br);
    return 1;
}

static int restore_alpha(hr_trainer *t, const hr_model *m, const float *a)
{
    hr_error err = {0};
    for (int i = 0; i < hr_model_num_blocks(m); i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((bi.live >> br & 1u) && hr_trainer_set_alpha(t, i, (hr_branch)br, a[i * 3 + br], &err)) {
                hr_cli_fail("train-hyper", "%s", err.msg);
                return 0;
            }
    }
    return 1;
}

int hr_cmd_train_hyper(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"weights", required_argument, 0, 'w'},
        {"alpha", required_argument, 0, 'a'},   {"alpha-domain", required_argument, 0, 'D'},
        {"data", required_argument, 0, 'd'},    {"domain", required_argument, 0, 'k'},
        {"epochs", required_argument, 0, 'e'},  {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},      {"momentum", required_argument, 0, 'M'},
        {"l1", required_argument, 0, 'L'},      {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'S'},    {"max-samples", required_argument, 0, 'n'},
        {"pruning-threshold", required_argument, 0, 'P'},
        {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *alpha_file = NULL, *outdir = NULL;
    double pruning_threshold = 0.01;
    hr_data_params dp = hr_data_params_default();
    int64_t epochs = 3, batch = 32, threads = 2, only = -1, alpha_domain = -1, v;
    double lr = 0.01, momentum = 0.9, l1 = 0.001;
    uint64_t seed = 42;
    int c, rc = 1, nb = 0;
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    hr_model *m = NULL;
    hr_trainer *t = NULL;
    hr_tensor_map *map = NULL;
    float *logits = NULL, *init = NULL;
    domain_result res[HR_NUM_DOMAINS];
    char dirbuf[512], path[4096];

    memset(res, 0, sizeof res);
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': arch = optarg; break;
        case 'w': weights = optarg; break;
        case 'a': alpha_file = optarg; break;
        case 'd': dp.source = optarg; break;
        case 'o': outdir = optarg; break;
        case 'D': if (!hr_cli_parse_i64("train-hyper", "--alpha-domain", optarg, 0, 9, &alpha_domain)) return 2; break;
        case 'k': if (!hr_cli_parse_i64("train-hyper", "--domain", optarg, 0, 9, &only)) return 2; break;
        case 'e': if (!hr_cli_parse_i64("train-hyper", "--epochs", optarg, 1, 64, &epochs)) return 2; break;
        case 'b': if (!hr_cli_parse_i64("train-hyper", "--batch", optarg, 1, 65536, &batch)) return 2; break;
        case 't': if (!hr_cli_parse_i64("train-hyper", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'S': if (!hr_cli_parse_i64("train-hyper", "--seed", optarg, 0, INT64_MAX, &v)) return 2; seed = (uint64_t)v; break;
        case 'n':
            if (!hr_cli_parse_i64("train-hyper", "--max-samples", optarg, 1, INT64_MAX, &dp.load.max_samples))
                return 2;
            break;
        case 'l': if (!hr_cli_parse_f64("train-hyper", "--lr", optarg, 0, 100, &lr)) return 2; break;
        case 'M': if (!hr_cli_parse_f64("train-hyper", "--momentum", optarg, 0, 0.999999, &momentum)) return 2; break;
        case 'L': if (!hr_cli_parse_f64("train-hyper", "--l1", optarg, 0, 100, &l1)) return 2; break;
        case 'P':
            if (!hr_cli_parse_f64("train-hyper", "--pruning-threshold", optarg, 0, 1e6, &pruning_threshold))
                return 2;
            break;
        case 'h': fputs(hyper_help, stdout); return 0;
        default: fputs(hyper_help, stderr); return 2;
        }
    }
    if (optind < argc || !arch || !weights) {
        hr_cli_fail("train-hyper", optind < argc ? "unexpected argument '%s'" : "--model and --weights are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    dp.seed = seed;
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = (int)threads;
    cp.seed = seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err) ||
        hr_data_open(ctx, &dp, &d, &err)) {
        hr_cli_fail("train-hyper", "%s", err.msg);
        goto done;
    }
    if (!outdir) {
        snprintf(dirbuf, sizeof dirbuf, "task1_trained_weights_%s", hr_model_arch(m)->name);
        outdir = dirbuf;
    }
    nb = hr_model_num_blocks(m);
    init = malloc(sizeof(float) * (size_t)(nb * 3 * (HR_NUM_DOMAINS + 1)));
    logits = malloc(sizeof(float) * (size_t)(batch * hr_model_num_classes(m)));
    if (!init || !logits) {
        hr_cli_fail("train-hyper", "out of memory");
        goto done;
    }
    for (int k = 0; k < HR_NUM_DOMAINS; k++)
        res[k].alpha = init + (size_t)(nb * 3 * (k + 1));
    /* the starting α: the model's, or the file's (one domain, or each domain
     * its own entry); the trainer's live set comes from the model */
    if (alpha_file && !hr_cli_apply_alpha_file("train-hyper", m, alpha_file, (int)alpha_domain))
        goto done;
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    tp.batch = batch;
    tp.momentum = (float)momentum;
    tp.l1 = (float)l1;
    if (hr_trainer_create(m, &tp, &t, &err)) {
        hr_cli_fail("train-hyper", "%s", err.msg);
        goto done;
    }
    collect_alpha(t, nb, init);
    if (!hr_cli_mkdirs("train-hyper", outdir))
        goto done;

    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        domain_result *r = &res[k];
        hr_batch_iter *tr = NULL, *va = NULL, *te = NULL;
        hr_batch_params bp = hr_batch_params_default();
        const hr_domain_info *di = hr_domain_get(k);
        if (only >= 0 && k != only)
            continue;
        bp.batch_size = batch;
        bp.shuffle = 1;
        bp.seed = seed + (uint64_t)k;
        hr_batch_params ev = hr_batch_params_default();
        ev.batch_size = batch;
        if (hr_data_iter_create(ctx, d, k, HR_PART_TRAIN, &bp, &tr, &err) ||
            hr_data_iter_create(ctx, d, k, HR_PART_VAL, &ev, &va, &err) ||
            hr_data_iter_create(ctx, d, k, HR_PART_TEST, &ev, &te, &err)) {
            hr_cli_fail("train-hyper", "domain %d: %s", k, err.msg);
            hr_batch_iter_destroy(tr), hr_batch_iter_destroy(va), hr_batch_iter_destroy(te);
            goto done;
        }
        if (!restore_alpha(t, m, init))
            goto domain_fail;
        hr_trainer_reset_momentum(t);
        /* the starting α obeys the threshold rule too: it is kept when no epoch beats it */
        if (hr_trainer_threshold(t, pruning_threshold, NULL, NULL, &err))
            goto domain_err;
        if (hr_eval_trainer(t, va, logits, &r->initial_val, NULL, &err) ||
            hr_eval_trainer(t, te, logits, &r->initial_test, NULL, &err))
            goto domain_err;
        r->best_val = r->initial_val;
        r->best_test = r->initial_test;
        r->best_epoch = 0;
        collect_alpha(t, nb, r->alpha);
        fprintf(stderr, "domain %d (%s): %lld train / %lld val / %lld test, initial val %.2f%% test %.2f%%\n", k,
                di->name, (long long)hr_batch_iter_samples(tr), (long long)hr_batch_iter_samples(va),
                (long long)hr_batch_iter_samples(te), r->initial_val, r->initial_test);
        for (int64_t e = 0; e < epochs; e++) {
            hr_progress pr;
            hr_batch b;
            hr_status st;
            hr_train_stats s = {0};
            char label[64];
            double loss_sum = 0, t0 = hr_cli_now_ms();
            int64_t seen = 0, correct = 0, nbat = 0;
            snprintf(label, sizeof label, "domain %d epoch %lld/%lld", k, (long long)(e + 1), (long long)epochs);
            hr_progress_start(&pr, label);
            if (hr_batch_iter_seek(tr, e, 0, &err))
                goto domain_err;
            while ((st = hr_batch_iter_next(tr, &b, &err)) == HR_OK && b.n > 0) {
                if (hr_trainer_step(t, &b.x, b.labels, (float)lr, &s, &err))
                    goto domain_err;
                loss_sum += s.loss * (double)s.n;
                correct += s.correct;
                seen += s.n;
                hr_progress_update(&pr, ++nbat, hr_batch_iter_batches(tr), loss_sum / (double)seen,
                                   100.0 * (double)correct / (double)seen,
                                   (double)seen / ((hr_cli_now_ms() - t0) / 1000.0));
            }
            if (st)
                goto domain_err;
            hr_progress_end(&pr);
            double l1s = 0;
            for (int i = 0; i < nb; i++)
                for (int br = 0; br < HR_BRANCH_COUNT; br++)
                    l1s += fabs(hr_trainer_alpha(t, i, (hr_branch)br));
            r->train_loss[e] = seen ? loss_sum / (double)seen : 0;
            r->l1[e] = l1s;
            /* the threshold rule before the evaluation: the α scored is the α kept */
            if (hr_trainer_threshold(t, pruning_threshold, NULL, NULL, &err))
                goto domain_err;
            if (hr_eval_trainer(t, va, logits, &r->val[e], NULL, &err) ||
                hr_eval_trainer(t, te, logits, &r->test[e], NULL, &err))
                goto domain_err;
            printf("domain %d epoch %lld: loss %.4f val_acc %.2f%% test_acc %.2f%% sum|alpha| %.3f images/s %.0f\n",
                   k, (long long)(e + 1), r->train_loss[e], r->val[e], r->test[e], l1s,
                   (double)seen / ((hr_cli_now_ms() - t0) / 1000.0));
            fflush(stdout);
            if (r->val[e] > r->best_val) {
                r->best_val = r->val[e];
                r->best_test = r->test[e];
                r->best_epoch = (int)(e + 1);
                collect_alpha(t, nb, r->alpha);
            }
        }
        r->trained = 1;
        printf("domain %d: initial %.2f%% best %.2f%% (epoch %d, selected on validation)\n", k, r->initial_test,
               r->best_test, r->best_epoch);
        hr_batch_iter_destroy(tr), hr_batch_iter_destroy(va), hr_batch_iter_destroy(te);
        continue;
    domain_err:
        hr_cli_fail("train-hyper", "domain %d: %s", k, err.msg);
    domain_fail:
        hr_batch_iter_destroy(tr), hr_batch_iter_destroy(va), hr_batch_iter_destroy(te);
        goto done;
    }

    /* outputs */
    {
        json_t *wj = json_object(), *rj = json_object(), *info;
        char name[64], key[32], ts[32];
        const char *rows[HR_NUM_DOMAINS], *cols[1024];
        char rowbuf[HR_NUM_DOMAINS][16], (*colbuf)[48] = calloc((size_t)(nb * 3), 48);
        double *mat = calloc((size_t)(HR_NUM_DOMAINS * nb * 3), sizeof(double));
        int nrows = 0, ncols = 0, ok = wj && rj && colbuf && mat;
        size_t cap = 1 << 16, len = 0;
        char *csv = malloc(cap);
        ok = ok && csv;
        for (int i = 0; ok && i < nb && ncols < 1024; i++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                hr_model_alpha_name(m, i, (hr_branch)br, colbuf[ncols], 48);
                cols[ncols] = colbuf[ncols];
                ncols++;
            }
        if (ok)
            len += (size_t)snprintf(csv + len, cap - len, "domain");
        for (int cidx = 0; ok && cidx < ncols; cidx++) {
            if (cap - len < 128 && !(csv = realloc(csv, cap *= 2))) {
                ok = 0;
                break;
            }
            len += (size_t)snprintf(csv + len, cap - len, ",%s", cols[cidx]);
        }
        if (ok)
            len += (size_t)snprintf(csv + len, cap - len, "\n");
        for (int k = 0; ok && k < HR_NUM_DOMAINS; k++) {
            domain_result *r = &res[k];
            const hr_domain_info *di = hr_domain_get(k);
            if (!r->trained)
                continue;
            snprintf(key, sizeof key, "domain_%d", k);
            json_t *a = json_object(), *tl = json_array(), *vl = json_array(), *ll = json_array(), *tel = json_array();
            snprintf(rowbuf[nrows], 16, "domain_%d", k);
            rows[nrows] = rowbuf[nrows];
            len += (size_t)snprintf(csv + len, cap - len, "%s", key);
            for (int i = 0; i < nb; i++) {
                hr_block_info bi = hr_model_block(m, i);
                for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                    /* blocks without an identity: 1.0, as the original's untrained virtual α */
                    double val = (bi.existing >> br & 1u) ? r->alpha[i * 3 + br] : 1.0;
                    json_object_set_new(a, hr_model_alpha_name(m, i, (hr_branch)br, name, sizeof name), json_real(val));
                    mat[nrows * ncols + i * 3 + br] = (bi.existing >> br & 1u) ? val : 0.0;
                    if (cap - len < 64 && !(csv = realloc(csv, cap *= 2))) {
                        ok = 0;
                        break;
                    }
                    len += (size_t)snprintf(csv + len, cap - len, ",%.6g", val);
                }
            }
            if (!ok)
                break;
            len += (size_t)snprintf(csv + len, cap - len, "\n");
            nrows++;
            for (int64_t e = 0; e < epochs; e++) {
                json_array_append_new(tl, json_real(r->train_loss[e]));
                json_array_append_new(vl, json_real(r->val[e]));
                json_array_append_new(ll, json_real(r->l1[e]));
                json_array_append_new(tel, json_real(r->test[e]));
            }
            json_object_set_new(wj, key, a);
            json_t *pt = json_array();
            for (int i = 0; pt && i < nb; i++) {
                hr_block_info bi = hr_model_block(m, i);
                for (int br = 0; br < HR_BRANCH_COUNT; br++)
                    if ((bi.live >> br & 1u) && r->alpha[i * 3 + br] == 0.0f)
                        json_array_append_new(pt, json_string(hr_model_alpha_name(m, i, (hr_branch)br, name, sizeof name)));
            }
            json_object_set_new(rj, key, json_pack("{s:i, s:s, s:s, s:f, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:o, s:i}",
                "group_id", k, "domain_name", di->name, "domain_desc", di->description, "initial_acc",
                r->initial_test, "train_loss", tl, "val_acc", vl, "l1_penalty", ll, "best_acc", r->best_test,
                "improvement", r->best_test - r->initial_test, "initial_val_acc", r->initial_val, "best_val_acc",
                r->best_val, "test_acc", tel, "best_epoch", r->best_epoch));
            json_object_set_new(json_object_get(rj, key), "pruned_by_threshold", pt ? pt : json_array());
        }
        info = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:s}, s:s}",
                         "command", "train-hyper", "timestamp", hr_cli_timestamp(ts, sizeof ts), "model",
                         hr_model_arch(m)->name, "weights", weights, "data", hr_data_source(d), "initial_alpha",
                         alpha_file ? alpha_file : "model", "settings", "epochs", (json_int_t)epochs, "batch",
                         (json_int_t)batch, "lr", lr, "momentum", momentum, "l1", l1, "threads", (json_int_t)threads,
                         "seed", (json_int_t)seed, "max_samples", (json_int_t)dp.load.max_samples, "bn", "inference",
                         "accuracies", "percent; val_acc[] and selection on each domain's validation part, "
                         "initial_acc, best_acc and test_acc[] on its test part");
        if (info)
            json_object_set_new(json_object_get(info, "settings"), "pruning_threshold", json_real(pruning_threshold));
        if (ok && info) {
            snprintf(path, sizeof path, "%s/trained_hyper_weights.json", outdir);
            ok = hr_cli_write_json("train-hyper", path, wj);
            snprintf(path, sizeof path, "%s/training_results.json", outdir);
            ok = ok && hr_cli_write_json("train-hyper", path, rj);
            snprintf(path, sizeof path, "%s/run_info.json", outdir);
            ok = ok && hr_cli_write_run_info("train-hyper", path, info);
            snprintf(path, sizeof path, "%s/hyper_weights_matrix.csv", outdir);
            ok = ok && hr_cli_write_text("train-hyper", path, csv, len);
            ok = ok && hr_cli_heatmap("train-hyper", outdir, "hyper_weights_heatmap", "hyper-weights (alpha) per domain",
                                      rows, nrows, cols, ncols, mat);
        } else if (ok) {
            hr_cli_fail("train-hyper", "out of memory");
            ok = 0;
        }
        json_decref(wj), json_decref(rj), json_decref(info);
        free(colbuf), free(mat), free(csv);
        if (ok) {
            printf("%-8s %-34s %9s %9s %11s\n", "domain", "name", "initial", "best", "improvement");
            for (int k = 0; k < HR_NUM_DOMAINS; k++)
                if (res[k].trained)
                    printf("%-8d %-34s %8.2f%% %8.2f%% %+10.2f\n", k, hr_domain_get(k)->name, res[k].initial_test,
                           res[k].best_test, res[k].best_test - res[k].initial_test);
            printf("outputs in %s/\n", outdir);
            rc = 0;
        }
    }
done:
    free(logits);
    free(init);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_tensor_map_destroy(map);
    hr_data_destroy(d);
    hr_ctx_destroy(ctx);
    return rc;
}
