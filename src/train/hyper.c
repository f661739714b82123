/* Code 1 (train-hyper): for every domain, only the hyper-weights α of the
 * live branches are trained (backbone and BatchNorm frozen, BN in inference
 * mode), each domain from the same starting α; the validation part selects
 * the best epoch and the test part reports it. The threshold rule of SPEC
 * §13.7 prunes |α| below the threshold on the starting α and after every
 * epoch. hr_train_hyper_save writes the original tool's files. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "hyperrep/plot.h"
#include "hyperrep/clock.h"
#include "hyperrep/train.h"

/* Milliseconds on the monotonic clock. */
static double now_ms(void)
{
    return hr_clock_now_ms();
}

hr_train_hyper_params hr_train_hyper_params_default(void)
{
    hr_train_hyper_params p;
    memset(&p, 0, sizeof p);
    p.data = hr_data_params_default();
    p.alpha_domain = -1;
    p.domains = 0;
    p.epochs = 3;
    p.batch = 32;
    p.threads = 2;
    p.lr = 0.01;
    p.momentum = 0.9;
    p.l1 = 0.001;
    p.pruning_threshold = 0.01;
    p.seed = 42;
    return p;
}

void hr_train_hyper_result_deinit(hr_train_hyper_result *r)
{
    if (!r)
        return;
    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        hr_train_hyper_domain *d = &r->domain[k];
        free(d->train_loss), free(d->val), free(d->test), free(d->l1), free(d->alpha);
    }
    free(r->names);
    free(r->existing);
    free(r->live);
    memset(r, 0, sizeof *r);
}

static void collect_alpha(hr_trainer *t, int nb, float *a)
{
    for (int i = 0; i < nb; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[i * 3 + br] = hr_trainer_alpha(t, i, (hr_branch)br);
}

static hr_status restore_alpha(hr_trainer *t, const hr_model *m, const float *a, hr_error *err)
{
    hr_status st;
    for (int i = 0; i < hr_model_num_blocks(m); i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((bi.live >> br & 1u) && (st = hr_trainer_set_alpha(t, i, (hr_branch)br, a[i * 3 + br], err)))
                return st;
    }
    return HR_OK;
}

static hr_status domain_alloc(hr_train_hyper_domain *d, int64_t epochs, int nb, hr_error *err)
{
    d->train_loss = calloc((size_t)epochs, sizeof(double));
    d->val = calloc((size_t)epochs, sizeof(double));
    d->test = calloc((size_t)epochs, sizeof(double));
    d->l1 = calloc((size_t)epochs, sizeof(double));
    d->alpha = calloc((size_t)nb * 3, sizeof(float));
    if (!d->train_loss || !d->val || !d->test || !d->l1 || !d->alpha)
        return hr_error_set(err, HR_ERR_NOMEM, "train-hyper: out of memory");
    return HR_OK;
}

/* One domain: the starting α restored, thresholded and scored, then the
 * epochs, keeping the best validation epoch's α. */
static hr_status train_domain(const hr_train_hyper_params *p, hr_ctx *ctx, hr_data *data, hr_model *m,
                              hr_trainer *t, const float *init, float *logits, int k, hr_train_hyper_domain *r,
                              hr_error *err)
{
    hr_batch_iter *tr = NULL, *va = NULL, *te = NULL;
    hr_batch_params bp = hr_batch_params_default(), ev = hr_batch_params_default();
    const int nb = hr_model_num_blocks(m);
    hr_status st;
    bp.batch_size = p->batch;
    bp.shuffle = 1;
    bp.seed = p->seed + (uint64_t)k;
    ev.batch_size = p->batch;
    if ((st = hr_data_iter_create(ctx, data, k, HR_PART_TRAIN, &bp, &tr, err)) ||
        (st = hr_data_iter_create(ctx, data, k, HR_PART_VAL, &ev, &va, err)) ||
        (st = hr_data_iter_create(ctx, data, k, HR_PART_TEST, &ev, &te, err)))
        goto done;
    if ((st = restore_alpha(t, m, init, err)))
        goto done;
    hr_trainer_reset_momentum(t);
    /* the starting α obeys the threshold rule too: it is kept when no epoch beats it */
    if ((st = hr_trainer_threshold(t, p->pruning_threshold, NULL, NULL, err)) ||
        (st = hr_eval_trainer(t, va, logits, &r->initial_val, NULL, err)) ||
        (st = hr_eval_trainer(t, te, logits, &r->initial_test, NULL, err)))
        goto done;
    r->best_val = r->initial_val;
    r->best_test = r->initial_test;
    r->best_epoch = 0;
    r->train_images = hr_batch_iter_samples(tr);
    r->val_images = hr_batch_iter_samples(va);
    r->test_images = hr_batch_iter_samples(te);
    collect_alpha(t, nb, r->alpha);
    if (p->on_domain)
        p->on_domain(p->user, k, r);
    for (int64_t e = 0; e < p->epochs; e++) {
        hr_batch b;
        hr_train_stats s = {0};
        double loss_sum = 0, t0 = now_ms(), l1s = 0;
        int64_t seen = 0, correct = 0, nbat = 0;
        if ((st = hr_batch_iter_seek(tr, e, 0, err)))
            goto done;
        while ((st = hr_batch_iter_next(tr, &b, err)) == HR_OK && b.n > 0) {
            if ((st = hr_trainer_step(t, &b.x, b.labels, (float)p->lr, &s, err)))
                goto done;
            loss_sum += s.loss * (double)s.n;
            correct += s.correct;
            seen += s.n;
            if (p->on_step)
                p->on_step(p->user, k, e, ++nbat, hr_batch_iter_batches(tr), loss_sum / (double)seen,
                           100.0 * (double)correct / (double)seen, (double)seen / ((now_ms() - t0) / 1000.0));
        }
        if (st)
            goto done;
        for (int i = 0; i < nb; i++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                l1s += fabs(hr_trainer_alpha(t, i, (hr_branch)br));
        r->train_loss[e] = seen ? loss_sum / (double)seen : 0;
        r->l1[e] = l1s;
        /* the threshold rule before the evaluation: the α scored is the α kept */
        if ((st = hr_trainer_threshold(t, p->pruning_threshold, NULL, NULL, err)) ||
            (st = hr_eval_trainer(t, va, logits, &r->val[e], NULL, err)) ||
            (st = hr_eval_trainer(t, te, logits, &r->test[e], NULL, err)))
            goto done;
        if (p->on_epoch)
            p->on_epoch(p->user, k, e, r, (double)seen / ((now_ms() - t0) / 1000.0));
        if (r->val[e] > r->best_val) {
            r->best_val = r->val[e];
            r->best_test = r->test[e];
            r->best_epoch = (int)(e + 1);
            collect_alpha(t, nb, r->alpha);
        }
    }
    r->trained = 1;
done:
    if (st)
        hr_error_prefix(err, "domain %d", k);
    hr_batch_iter_destroy(tr), hr_batch_iter_destroy(va), hr_batch_iter_destroy(te);
    return st;
}

hr_status hr_train_hyper(const hr_train_hyper_params *p, hr_train_hyper_result *out, hr_error *err)
{
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    hr_model *m = NULL;
    hr_trainer *t = NULL;
    hr_tensor_map *map = NULL;
    float *logits = NULL, *init = NULL;
    hr_status st;
    int nb;

    memset(out, 0, sizeof *out);
    if (!p->arch || !p->weights)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-hyper: a model and its weights are required");
    if (p->epochs < 1 || p->batch < 1 || p->threads < 1 || p->domains >= 1u << HR_NUM_DOMAINS ||
        p->alpha_domain >= HR_NUM_DOMAINS || !(p->lr >= 0) || !(p->momentum >= 0 && p->momentum < 1) ||
        !(p->l1 >= 0) || !(p->pruning_threshold >= 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-hyper: settings out of range (epochs %lld, batch %lld, "
                            "threads %d, domains 0x%x, lr %g, momentum %g, l1 %g, pruning threshold %g)",
                            (long long)p->epochs, (long long)p->batch, p->threads, p->domains, p->lr, p->momentum,
                            p->l1, p->pruning_threshold);
    hr_ctx_params cp = hr_ctx_params_default();
    hr_data_params dp = p->data;
    cp.threads = p->threads;
    cp.seed = p->seed;
    dp.seed = p->seed;
    if ((st = hr_ctx_create(&cp, &ctx, err)) || (st = hr_model_create(ctx, p->arch, NULL, &m, err)) ||
        (st = hr_weights_load(p->weights, &map, err)) || (st = hr_model_load(m, map, err)) ||
        (st = hr_data_open(ctx, &dp, &d, err)))
        goto done;
    nb = hr_model_num_blocks(m);
    init = malloc(sizeof(float) * (size_t)nb * 3);
    logits = malloc(sizeof(float) * (size_t)(p->batch * hr_model_num_classes(m)));
    out->names = calloc((size_t)nb * 3, sizeof *out->names);
    out->existing = calloc((size_t)nb, sizeof *out->existing);
    out->live = calloc((size_t)nb, sizeof *out->live);
    if (!init || !logits || !out->names || !out->existing || !out->live) {
        st = hr_error_set(err, HR_ERR_NOMEM, "train-hyper: out of memory");
        goto done;
    }
    /* the starting α: the model's, or the file's; the trainer's live set comes from the model */
    if (p->alpha_file && (st = hr_alpha_file_apply(m, p->alpha_file, p->alpha_domain, err)))
        goto done;
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    tp.batch = p->batch;
    tp.momentum = (float)p->momentum;
    tp.l1 = (float)p->l1;
    if ((st = hr_trainer_create(m, &tp, &t, err)))
        goto done;
    collect_alpha(t, nb, init);
    out->nblocks = nb;
    snprintf(out->arch, sizeof out->arch, "%s", hr_model_arch(m)->name);
    snprintf(out->data_source, sizeof out->data_source, "%s", hr_data_source(d));
    for (int i = 0; i < nb; i++) {
        hr_block_info bi = hr_model_block(m, i);
        out->existing[i] = bi.existing;
        out->live[i] = bi.live;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            hr_model_alpha_name(m, i, (hr_branch)br, out->names[i * 3 + br], sizeof out->names[0]);
    }
    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        if (p->domains && !(p->domains & 1u << k))
            continue;
        if ((st = domain_alloc(&out->domain[k], p->epochs, nb, err)) ||
            (st = train_domain(p, ctx, d, m, t, init, logits, k, &out->domain[k], err)))
            goto done;
        out->epochs = p->epochs;
        if (p->on_domain_done)
            p->on_domain_done(p->user, k, &out->domain[k]);
    }
done:
    free(logits);
    free(init);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    hr_tensor_map_destroy(map);
    hr_data_destroy(d);
    hr_ctx_destroy(ctx);
    if (st)
        hr_train_hyper_result_deinit(out);
    return st;
}

static hr_status save_json(const char *dir, const char *file, json_t *root, hr_error *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: path too long", dir);
    if (!root)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    return hr__json_write(path, root, err);
}

/* run_info.json: the settings of the run. */
static hr_status save_run_info(const hr_train_hyper_params *p, const hr_train_hyper_result *r, const char *dir,
                               hr_error *err)
{
    char path[4096], ts[32];
    json_t *info;
    hr_status st;
    if ((size_t)snprintf(path, sizeof path, "%s/run_info.json", dir) >= sizeof path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: path too long", dir);
    info = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:s, s:f}, s:s}",
                     "command", "train-hyper", "timestamp", hr__iso_timestamp(ts, sizeof ts), "model", r->arch,
                     "weights", p->weights, "data", r->data_source, "initial_alpha",
                     p->alpha_file ? p->alpha_file : "model", "settings", "epochs", (json_int_t)p->epochs, "batch",
                     (json_int_t)p->batch, "lr", p->lr, "momentum", p->momentum, "l1", p->l1, "threads",
                     (json_int_t)p->threads, "seed", (json_int_t)p->seed, "max_samples",
                     (json_int_t)p->data.load.max_samples, "bn", "inference", "pruning_threshold",
                     p->pruning_threshold, "accuracies", "percent; val_acc[] and selection on each domain's validation "
                     "part, initial_acc, best_acc and test_acc[] on its test part");
    if (!info)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    st = hr__run_info_write(path, info, err);
    json_decref(info);
    return st;
}

/* The domains × α heatmap of the trained domains. */
static hr_status save_heatmap(const hr_train_hyper_params *p, const hr_train_hyper_result *r, const char *dir,
                              hr_error *err)
{
    const int ncols = r->nblocks * 3;
    const char *rows[HR_NUM_DOMAINS], **cols = malloc(sizeof(char *) * (size_t)ncols);
    char rowbuf[HR_NUM_DOMAINS][16], hint[4400], msg[4600];
    double *mat = calloc((size_t)(HR_NUM_DOMAINS * ncols), sizeof(double));
    int nrows = 0, rendered = 0;
    hr_status st = HR_OK;
    if (!cols || !mat) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    for (int i = 0; i < ncols; i++)
        cols[i] = r->names[i];
    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        if (!r->domain[k].trained)
            continue;
        snprintf(rowbuf[nrows], sizeof rowbuf[nrows], "domain_%d", k);
        rows[nrows] = rowbuf[nrows];
        for (int i = 0; i < ncols; i++)
            mat[nrows * ncols + i] = (r->existing[i / 3] >> (i % 3) & 1u) ? r->domain[k].alpha[i] : 0.0;
        nrows++;
    }
    st = hr_plot_domain_heatmap(dir, "hyper_weights_heatmap", "hyper-weights (alpha) per domain", rows, nrows, cols,
                                ncols, mat, &rendered, err);
    if (!st && !rendered) {
        snprintf(msg, sizeof msg, "gnuplot is not installed: wrote %s/hyper_weights_heatmap.dat and "
                 "hyper_weights_heatmap.gp (%s)", dir, hr_plot_render_hint(dir, "hyper_weights_heatmap", hint,
                                                                           sizeof hint));
        (p->log ? p->log : hr_log_stderr)(p->user, HR_LOG_WARN, msg);
    }
done:
    free(cols);
    free(mat);
    return st;
}

hr_status hr_train_hyper_save(const hr_train_hyper_params *p, const hr_train_hyper_result *r, const char *dir,
                              hr_error *err)
{
    const int nb = r->nblocks, ncols = nb * 3;
    json_t *wj = json_object(), *rj = json_object();
    size_t cap = 64 + (size_t)ncols * 100, len = 0;
    char *csv = malloc(cap * (HR_NUM_DOMAINS + 1));
    hr_status st = HR_OK;
    int ok = wj && rj && csv;
    cap *= HR_NUM_DOMAINS + 1;
    if (ok) {
        len += (size_t)snprintf(csv + len, cap - len, "domain");
        for (int c = 0; c < ncols; c++)
            len += (size_t)snprintf(csv + len, cap - len, ",%s", r->names[c]);
        len += (size_t)snprintf(csv + len, cap - len, "\n");
    }
    for (int k = 0; ok && k < HR_NUM_DOMAINS; k++) {
        const hr_train_hyper_domain *d = &r->domain[k];
        const hr_domain_info *di = hr_domain_get(k);
        char key[32];
        if (!d->trained)
            continue;
        snprintf(key, sizeof key, "domain_%d", k);
        json_t *a = json_object(), *tl = json_array(), *vl = json_array(), *ll = json_array(), *tel = json_array(),
               *pt = json_array();
        ok = a && tl && vl && ll && tel && pt;
        len += (size_t)snprintf(csv + len, cap - len, "%s", key);
        for (int i = 0; ok && i < nb; i++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                int exists = r->existing[i] >> br & 1u;
                /* blocks without an identity: 1.0, as the original's untrained virtual α */
                double val = exists ? d->alpha[i * 3 + br] : 1.0;
                ok = ok && !json_object_set_new(a, r->names[i * 3 + br], json_real(val));
                len += (size_t)snprintf(csv + len, cap - len, ",%.6g", val);
                if ((r->live[i] >> br & 1u) && d->alpha[i * 3 + br] == 0.0f)
                    ok = ok && !json_array_append_new(pt, json_string(r->names[i * 3 + br]));
            }
        len += (size_t)snprintf(csv + len, cap - len, "\n");
        for (int64_t e = 0; ok && e < r->epochs; e++) {
            json_array_append_new(tl, json_real(d->train_loss[e]));
            json_array_append_new(vl, json_real(d->val[e]));
            json_array_append_new(ll, json_real(d->l1[e]));
            json_array_append_new(tel, json_real(d->test[e]));
        }
        json_t *res = ok ? json_pack("{s:i, s:s, s:s, s:f, s:O, s:O, s:O, s:f, s:f, s:f, s:f, s:O, s:i, s:O}",
                                     "group_id", k, "domain_name", di->name, "domain_desc", di->description,
                                     "initial_acc", d->initial_test, "train_loss", tl, "val_acc", vl, "l1_penalty", ll,
                                     "best_acc", d->best_test, "improvement", d->best_test - d->initial_test,
                                     "initial_val_acc", d->initial_val, "best_val_acc", d->best_val, "test_acc", tel,
                                     "best_epoch", d->best_epoch, "pruned_by_threshold", pt)
                         : NULL;
        ok = ok && res && !json_object_set_new(wj, key, json_incref(a)) && !json_object_set_new(rj, key, res);
        json_decref(a), json_decref(tl), json_decref(vl), json_decref(ll), json_decref(tel), json_decref(pt);
    }
    if (!ok)
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the results", dir);
    if (!st)
        st = hr_mkdirs(dir, err);
    if (!st)
        st = save_json(dir, "trained_hyper_weights.json", wj, err);
    if (!st)
        st = save_json(dir, "training_results.json", rj, err);
    if (!st) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/hyper_weights_matrix.csv", dir) >= sizeof path)
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: path too long", dir);
        else
            st = hr_write_file_atomic(path, csv, len, err);
    }
    if (!st)
        st = save_run_info(p, r, dir, err);
    if (!st)
        st = save_heatmap(p, r, dir, err);
    json_decref(wj);
    json_decref(rj);
    free(csv);
    return st;
}
