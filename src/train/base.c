/* Base training (train-base): the backbone trained from random weights on
 * the clean training part with SGD and a learning-rate schedule, the clean
 * test set evaluated after every epoch, a checkpoint after every epoch so a
 * stopped run resumes where it was, and the trained weights written with the
 * settings as metadata. The CLI parses and prints; this does the work. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "hyperrep/clock.h"
#include "hyperrep/train.h"

/* Milliseconds on the monotonic clock. */
static double now_ms(void)
{
    return hr_clock_now_ms();
}

hr_train_base_params hr_train_base_params_default(void)
{
    hr_train_base_params p;
    memset(&p, 0, sizeof p);
    p.data = hr_data_params_default();
    p.epochs = 10;
    p.batch = 128;
    p.threads = 2;
    p.lr = 0.1;
    p.momentum = 0.9;
    p.weight_decay = 5e-4;
    p.schedule = HR_LR_COSINE;
    p.seed = 42;
    return p;
}

void hr_train_base_result_deinit(hr_train_base_result *r)
{
    if (!r)
        return;
    free(r->history);
    memset(r, 0, sizeof *r);
}

static void say(const hr_train_base_params *p, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (p->log ? p->log : hr_log_stderr)(p->user, HR_LOG_INFO, msg);
}

hr_status hr_eval_trainer(hr_trainer *t, hr_batch_iter *it, float *logits, double *acc, int64_t *n, hr_error *err)
{
    hr_batch b;
    hr_status st;
    int64_t correct = 0, total = 0, K = hr_model_num_classes(hr_trainer_model(t));
    if ((st = hr_batch_iter_seek(it, 0, 0, err)))
        return st;
    while ((st = hr_batch_iter_next(it, &b, err)) == HR_OK && b.n > 0) {
        hr_tensor tl = hr_tensor_view(logits, 2, (int64_t[]){b.n, K});
        if ((st = hr_trainer_predict(t, &b.x, &tl, err)))
            return st;
        for (int64_t i = 0; i < b.n; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (logits[i * K + k] > logits[i * K + best])
                    best = k;
            correct += best == b.labels[i];
        }
        total += b.n;
    }
    if (st)
        return st;
    *acc = total ? 100.0 * (double)correct / (double)total : 0.0;
    if (n)
        *n = total;
    return HR_OK;
}

/* The trained weights with the settings as metadata. */
static hr_status save_weights(const hr_train_base_params *p, hr_model *m, hr_trainer *t, double test_acc,
                              double minutes, hr_error *err)
{
    static const char *const names[] = {"epochs", "epochs_done", "batch", "lr", "momentum", "weight_decay", "augment",
                                        "threads", "seed", "test_accuracy", "train_minutes"};
    const double vals_d[] = {(double)p->epochs, (double)p->epochs, (double)p->batch, p->lr, p->momentum,
                             p->weight_decay, (double)p->augment, (double)p->threads, (double)p->seed, test_acc,
                             minutes};
    static const char *const fmts[] = {"%.0f", "%.0f", "%.0f", "%g", "%g", "%g", "%.0f", "%.0f", "%.0f", "%.4f", "%.3f"};
    const char *keys[16], *vals[16];
    char buf[16][64];
    size_t n = 0;
    keys[n] = "model", vals[n++] = p->arch;
    keys[n] = "data", vals[n++] = p->data.source;
    keys[n] = "schedule", vals[n++] = hr_lr_schedule_name(p->schedule);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++, n++) {
        snprintf(buf[n], sizeof buf[n], fmts[i], vals_d[i]);
        keys[n] = names[i];
        vals[n] = buf[n];
    }
    return hr_train_weights_save(p->output, m, t, keys, vals, n, err);
}

/* OUTPUT.json: the settings, the result and every epoch of this call. */
static hr_status write_run_info(const hr_train_base_params *p, const hr_train_base_result *r, hr_error *err)
{
    char path[4096], ts[32];
    json_t *hist = json_array(), *info;
    hr_status st;
    if ((size_t)snprintf(path, sizeof path, "%s.json", p->output) >= sizeof path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-base: output path too long");
    for (int i = 0; hist && i < r->nhistory; i++) {
        const hr_train_epoch_report *e = &r->history[i];
        json_array_append_new(hist, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", (json_int_t)e->epoch, "loss",
                                              e->loss, "train_acc", e->train_acc, "test_acc", e->test_acc,
                                              "images_per_s", e->images_per_s, "minutes", e->minutes));
    }
    info = json_pack("{s:s, s:s, s:s, s:{s:s, s:I, s:I, s:f, s:f, s:f, s:s, s:b, s:I, s:I, s:I}, s:f, s:f, s:o*, s:s}",
                     "command", "train-base", "timestamp", hr__iso_timestamp(ts, sizeof ts), "weights", p->output,
                     "settings", "model", p->arch, "epochs", (json_int_t)p->epochs, "batch", (json_int_t)p->batch, "lr",
                     p->lr, "momentum", p->momentum, "weight_decay", p->weight_decay, "schedule",
                     hr_lr_schedule_name(p->schedule), "augment", p->augment, "threads", (json_int_t)p->threads, "seed",
                     (json_int_t)p->seed, "max_samples", (json_int_t)p->data.load.max_samples, "test_accuracy",
                     r->test_acc, "minutes", r->minutes, "history", hist, "data", r->data_source);
    if (!info)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    st = hr__run_info_write(path, info, err);
    json_decref(info);
    return st;
}

hr_status hr_train_base(const hr_train_base_params *p, hr_train_base_result *out, hr_error *err)
{
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    hr_model *m = NULL;
    hr_trainer *t = NULL;
    hr_batch_iter *tr = NULL, *te = NULL;
    hr_tensor_map *state = NULL;
    float *logits = NULL;
    char ckpt[4096];
    int64_t chw[3], start_epoch = 0;
    double prev_minutes = 0, t_start, test_acc = 0;
    hr_status st;

    memset(out, 0, sizeof *out);
    if (!p->arch || !p->output)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-base: a model and an output path are required");
    if (p->epochs < 1 || p->batch < 2 || p->threads < 1 || !(p->lr >= 0) || !(p->momentum >= 0 && p->momentum < 1) ||
        !(p->weight_decay >= 0) || (unsigned)p->schedule >= HR_LR_SCHEDULE_COUNT || p->stop_after < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-base: settings out of range (epochs %lld, batch %lld, "
                            "threads %d, lr %g, momentum %g, weight decay %g)", (long long)p->epochs,
                            (long long)p->batch, p->threads, p->lr, p->momentum, p->weight_decay);
    if ((size_t)snprintf(ckpt, sizeof ckpt, "%s.ckpt", p->output) >= sizeof ckpt)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "train-base: output path too long");

    hr_ctx_params cp = hr_ctx_params_default();
    hr_data_params dp = p->data;
    cp.threads = p->threads;
    cp.seed = p->seed;
    dp.seed = p->seed;
    if ((st = hr_ctx_create(&cp, &ctx, err)) || (st = hr_data_open(ctx, &dp, &d, err)) ||
        (st = hr_model_create(ctx, p->arch, NULL, &m, err)))
        goto done;
    hr_dataset_shape(hr_data_pool(d, HR_POOL_TRAIN), chw);
    if (chw[0] != hr_model_in_channels(m) || chw[1] != hr_model_input_size(m) || chw[2] != hr_model_input_size(m) ||
        hr_dataset_num_classes(hr_data_pool(d, HR_POOL_TRAIN)) != hr_model_num_classes(m)) {
        st = hr_error_set(err, HR_ERR_SHAPE, "%s takes %lldx%lldx%lld inputs and %lld classes; %s has %lldx%lldx%lld "
                          "and %d", p->arch, (long long)hr_model_in_channels(m), (long long)hr_model_input_size(m),
                          (long long)hr_model_input_size(m), (long long)hr_model_num_classes(m), dp.source,
                          (long long)chw[0], (long long)chw[1], (long long)chw[2],
                          hr_dataset_num_classes(hr_data_pool(d, HR_POOL_TRAIN)));
        goto done;
    }
    if (p->resume) {
        if ((st = hr_train_checkpoint_load(ckpt, m, &state, &start_epoch, &prev_minutes, err)))
            goto done;
        say(p, "resuming %s after epoch %lld", ckpt, (long long)start_epoch);
    } else if ((st = hr_model_init_random(m, p->seed, err))) {
        goto done;
    }
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_FULL);
    tp.batch = p->batch;
    tp.momentum = (float)p->momentum;
    tp.weight_decay = (float)p->weight_decay;
    hr_batch_params bp = hr_batch_params_default();
    bp.batch_size = p->batch;
    bp.shuffle = 1;
    bp.drop_last = 1; /* BN statistics of a tiny last batch are noise */
    bp.seed = p->seed;
    bp.hflip = p->augment;
    bp.shift = p->augment ? 2 : 0;
    hr_batch_params ep = hr_batch_params_default();
    ep.batch_size = p->batch;
    if ((st = hr_trainer_create(m, &tp, &t, err)) || (state && (st = hr_trainer_import_state(t, state, err))) ||
        (st = hr_data_iter_create(ctx, d, HR_DOMAIN_CLEAN, HR_PART_TRAIN, &bp, &tr, err)) ||
        (st = hr_batch_iter_create(ctx, hr_data_pool(d, HR_POOL_TEST), NULL, 0, &ep, &te, err)))
        goto done;
    logits = malloc(sizeof(float) * (size_t)(p->batch * hr_model_num_classes(m)));
    out->history = calloc((size_t)p->epochs, sizeof *out->history);
    if (!logits || !out->history) {
        st = hr_error_set(err, HR_ERR_NOMEM, "train-base: out of memory");
        goto done;
    }
    snprintf(out->data_source, sizeof out->data_source, "%s", hr_data_source(d));
    out->train_images = hr_batch_iter_samples(tr);
    out->test_images = hr_dataset_size(hr_data_pool(d, HR_POOL_TEST));
    const int64_t per_epoch = hr_batch_iter_batches(tr), total = per_epoch * p->epochs;
    t_start = now_ms();
    say(p, "%s on %s: %lld training images, %lld test, batch %lld, %lld epochs, %s lr %g, %d threads", p->arch,
        out->data_source, (long long)out->train_images, (long long)out->test_images, (long long)p->batch,
        (long long)p->epochs, hr_lr_schedule_name(p->schedule), p->lr, p->threads);
    for (int64_t e = start_epoch; e < p->epochs; e++) {
        hr_batch b;
        double loss_sum = 0, t0 = now_ms();
        int64_t correct = 0, seen = 0, step = e * per_epoch;
        if ((st = hr_batch_iter_seek(tr, e, 0, err)))
            goto done;
        while ((st = hr_batch_iter_next(tr, &b, err)) == HR_OK && b.n > 0) {
            hr_train_stats s;
            float lr = (float)hr_lr_at(p->schedule, p->lr, step++, total);
            if ((st = hr_trainer_step(t, &b.x, b.labels, lr, &s, err)))
                goto done;
            if (!isfinite(s.loss)) {
                st = hr_error_set(err, HR_ERR_INVALID_ARG, "epoch %lld: the loss diverged (%g); try a smaller --lr",
                                  (long long)(e + 1), s.loss);
                goto done;
            }
            loss_sum += s.loss * (double)s.n;
            correct += s.correct;
            seen += s.n;
            if (p->on_step)
                p->on_step(p->user, e, step - e * per_epoch, per_epoch, loss_sum / (double)seen,
                           100.0 * (double)correct / (double)seen, (double)seen / ((now_ms() - t0) / 1000.0));
        }
        if (st)
            goto done;
        double train_s = (now_ms() - t0) / 1000.0;
        if ((st = hr_eval_trainer(t, te, logits, &test_acc, NULL, err)))
            goto done;
        hr_train_epoch_report *r = &out->history[out->nhistory++];
        r->epoch = e + 1;
        r->epochs = p->epochs;
        r->loss = seen ? loss_sum / (double)seen : 0;
        r->train_acc = seen ? 100.0 * (double)correct / (double)seen : 0;
        r->test_acc = test_acc;
        r->images_per_s = train_s > 0 ? (double)seen / train_s : 0;
        r->minutes = prev_minutes + (now_ms() - t_start) / 60000.0;
        if (p->on_epoch)
            p->on_epoch(p->user, r);
        if ((st = hr_train_checkpoint_save(ckpt, m, t, p->arch, e + 1, r->minutes, err)))
            goto done;
        if (p->stop_after > 0 && e + 1 >= p->stop_after && e + 1 < p->epochs) {
            say(p, "stopped after epoch %lld; %s holds the state (--resume continues)", (long long)(e + 1), ckpt);
            out->epochs_done = e + 1;
            out->stopped = 1;
            out->test_acc = test_acc;
            out->minutes = r->minutes;
            goto done;
        }
    }
    if (start_epoch >= p->epochs && (st = hr_eval_trainer(t, te, logits, &test_acc, NULL, err)))
        goto done;
    out->epochs_done = p->epochs;
    out->test_acc = test_acc;
    out->minutes = prev_minutes + (now_ms() - t_start) / 60000.0;
    if (!(st = save_weights(p, m, t, test_acc, out->minutes, err)))
        st = write_run_info(p, out, err);
done:
    free(logits);
    hr_batch_iter_destroy(tr);
    hr_batch_iter_destroy(te);
    hr_trainer_destroy(t);
    hr_tensor_map_destroy(state);
    hr_model_destroy(m);
    hr_data_destroy(d);
    hr_ctx_destroy(ctx);
    if (st)
        hr_train_base_result_deinit(out);
    return st;
}
