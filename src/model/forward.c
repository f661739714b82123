/* Planning and running the forward pass.
 *
 * The plan holds three activation buffers, each as large as the largest
 * activation for the planned batch, and one workspace as large as the
 * largest convolution needs. Blocks ping-pong between two buffers; the third
 * holds stage 0's output or the features entering the classifier, so a range
 * of blocks never overwrites its own input. */
#include <string.h>

#include "model/model_internal.h"

static size_t max_act_floats(const hr_model *m, int64_t batch)
{
    size_t best = (size_t)(m->stage0.cout * m->stage0.out_h * m->stage0.out_w);
    for (int i = 0; i < m->nblocks; i++) {
        const hr__block *b = &m->blocks[i];
        size_t in = (size_t)(b->cin * b->in_h * b->in_w), out = (size_t)(b->cout * b->out_h * b->out_w);
        if (in > best)
            best = in;
        if (out > best)
            best = out;
    }
    return best * (size_t)batch;
}

static size_t max_ws_bytes(const hr_model *m, int64_t batch)
{
    size_t best = 0;
    int threads = hr_ctx_threads(m->ctx);
    for (int i = -1; i < m->nblocks; i++) {
        const hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        for (int s = 0; s < b->nstreams; s++)
            if (b->streams[s].conv) {
                size_t ws = hr_conv_workspace_bytes(b->streams[s].conv, batch, b->in_h, b->in_w, threads);
                if (ws > best)
                    best = ws;
            }
    }
    return best;
}

hr_status hr_model_plan(hr_model *m, int64_t batch, hr_error *err)
{
    size_t act, ws;
    if (batch < 1 || batch > 65536)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "plan: batch %lld out of range 1..65536", (long long)batch);
    act = max_act_floats(m, batch);
    ws = max_ws_bytes(m, batch);
    if (batch <= m->planned_batch && act <= m->act_floats && ws <= m->ws_bytes)
        return HR_OK;
    for (int i = 0; i < 3; i++) {
        hr_ctx_free(m->ctx, m->act[i]);
        m->act[i] = hr_ctx_alloc(m->ctx, act * sizeof(float));
    }
    hr_ctx_free(m->ctx, m->ws);
    m->ws = ws ? hr_ctx_alloc(m->ctx, ws) : NULL;
    if (!m->act[0] || !m->act[1] || !m->act[2] || (ws && !m->ws)) {
        for (int i = 0; i < 3; i++) {
            hr_ctx_free(m->ctx, m->act[i]);
            m->act[i] = NULL;
        }
        hr_ctx_free(m->ctx, m->ws);
        m->ws = NULL;
        m->planned_batch = 0;
        m->act_floats = m->ws_bytes = 0;
        return hr_error_set(err, HR_ERR_NOMEM, "plan: out of memory for batch %lld", (long long)batch);
    }
    m->planned_batch = batch;
    m->act_floats = act;
    m->ws_bytes = ws;
    return HR_OK;
}

/* Plans on first use or when the batch/γ outgrew the plan; allocation happens
 * only then, never in a steady-state forward. */
static hr_status ensure_plan(hr_model *m, int64_t batch, hr_error *err)
{
    if (batch <= m->planned_batch && max_ws_bytes(m, batch) <= m->ws_bytes)
        return HR_OK;
    return hr_model_plan(m, batch > m->planned_batch ? batch : m->planned_batch, err);
}

static hr_status check_input(const hr__block *b, const hr_tensor *x, const char *what, hr_error *err)
{
    char s[64];
    if (x->ndim != 4 || !hr_tensor_is_contiguous(x) || x->shape[1] != b->cin || x->shape[2] != b->in_h ||
        x->shape[3] != b->in_w || x->shape[0] < 1)
        return hr_error_set(err, HR_ERR_SHAPE, "%s: input %s does not fit %s (expected [B, %lld, %lld, %lld])", what,
                            hr_tensor_shape_str(x, s, sizeof s), b->name, (long long)b->cin, (long long)b->in_h,
                            (long long)b->in_w);
    return HR_OK;
}

static hr_status check_output(const hr__block *b, int64_t batch, const hr_tensor *y, const char *what, hr_error *err)
{
    char s[64];
    if (y->ndim != 4 || !hr_tensor_is_contiguous(y) || y->shape[0] != batch || y->shape[1] != b->cout ||
        y->shape[2] != b->out_h || y->shape[3] != b->out_w)
        return hr_error_set(err, HR_ERR_SHAPE, "%s: output %s does not fit %s (expected [%lld, %lld, %lld, %lld])",
                            what, hr_tensor_shape_str(y, s, sizeof s), b->name, (long long)batch, (long long)b->cout,
                            (long long)b->out_h, (long long)b->out_w);
    return HR_OK;
}

static hr_status check_applied(const hr__block *b, hr_error *err)
{
    if (b->gamma < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s has no gamma applied (apply one, or the deploy gamma)",
                            b->name);
    return HR_OK;
}

/* Runs blocks [a, b) from x into y, alternating between two scratch buffers
 * that never alias x. */
static hr_status run_blocks(hr_model *m, int a, int b, const hr_tensor *x, hr_tensor *y, float *s0, float *s1,
                            hr_error *err)
{
    hr_tensor in = *x;
    const int64_t batch = x->shape[0];
    for (int k = a; k < b; k++) {
        const hr__block *blk = &m->blocks[k];
        hr_tensor out;
        hr_status st;
        if (k == b - 1)
            out = *y;
        else
            out = hr_tensor_4d(in.data == s0 ? s1 : s0, batch, blk->cout, blk->out_h, blk->out_w);
        if ((st = hr__block_run(m, blk, &in, &out, m->ws, err)))
            return st;
        in = out;
    }
    return HR_OK;
}

hr_status hr_model_forward_range(hr_model *m, int a, int b, const hr_tensor *x, hr_tensor *y, hr_error *err)
{
    hr_status st;
    if (a < 0 || b > m->nblocks || a > b)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "forward_range: [%d, %d) is not within 0..%d", a, b, m->nblocks);
    if (a == b) {
        if (x->ndim != 4 || !hr_tensor_same_shape(x, y))
            return hr_error_set(err, HR_ERR_SHAPE, "forward_range: empty range needs equal input and output shapes");
        memmove(y->data, x->data, sizeof(float) * (size_t)hr_tensor_numel(x));
        return HR_OK;
    }
    if ((st = check_input(&m->blocks[a], x, "forward_range", err)) ||
        (st = check_output(&m->blocks[b - 1], x->shape[0], y, "forward_range", err)))
        return st;
    for (int k = a; k < b; k++)
        if ((st = check_applied(&m->blocks[k], err)))
            return st;
    if ((st = ensure_plan(m, x->shape[0], err)))
        return st;
    return run_blocks(m, a, b, x, y, m->act[0], m->act[1], err);
}

hr_status hr_model_forward_stage0(hr_model *m, const hr_tensor *x, hr_tensor *y, hr_error *err)
{
    hr_status st;
    if ((st = check_input(&m->stage0, x, "forward_stage0", err)) ||
        (st = check_output(&m->stage0, x->shape[0], y, "forward_stage0", err)) ||
        (st = check_applied(&m->stage0, err)) || (st = ensure_plan(m, x->shape[0], err)))
        return st;
    return hr__block_run(m, &m->stage0, x, y, m->ws, err);
}

hr_status hr_model_forward_classifier(hr_model *m, const hr_tensor *x, hr_tensor *y, hr_error *err)
{
    const hr__block *last = &m->blocks[m->nblocks - 1];
    const int64_t batch = x->shape[0];
    char s[64];
    hr_status st;
    if (x->ndim != 4 || x->shape[1] != last->cout || x->shape[2] != last->out_h || x->shape[3] != last->out_w)
        return hr_error_set(err, HR_ERR_SHAPE, "forward_classifier: input %s does not fit the classifier (expected "
                            "[B, %lld, %lld, %lld])", hr_tensor_shape_str(x, s, sizeof s), (long long)last->cout,
                            (long long)last->out_h, (long long)last->out_w);
    if (y->ndim != 2 || y->shape[0] != batch || y->shape[1] != m->num_classes)
        return hr_error_set(err, HR_ERR_SHAPE, "forward_classifier: output %s, expected [%lld, %lld]",
                            hr_tensor_shape_str(y, s, sizeof s), (long long)batch, (long long)m->num_classes);
    if (!m->linear_w)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "classifier has no weights");
    if ((st = ensure_plan(m, batch, err)))
        return st;
    /* Pool into whichever scratch buffer does not hold x. */
    float *pool = x->data == m->act[0] ? m->act[1] : m->act[0];
    hr_tensor tp = hr_tensor_view(pool, 2, (int64_t[]){batch, last->cout});
    hr_global_avgpool(m->ctx, x, &tp);
    hr_linear(m->ctx, &tp, m->linear_w, m->linear_b, y);
    return HR_OK;
}

hr_status hr_model_forward(hr_model *m, const hr_tensor *x, hr_tensor *y, hr_error *err)
{
    const hr__block *last = &m->blocks[m->nblocks - 1];
    const int64_t batch = x->shape[0];
    hr_status st;
    if ((st = check_input(&m->stage0, x, "forward", err)) || (st = check_applied(&m->stage0, err)))
        return st;
    for (int k = 0; k < m->nblocks; k++)
        if ((st = check_applied(&m->blocks[k], err)))
            return st;
    if (y->ndim != 2 || y->shape[0] != batch || y->shape[1] != m->num_classes)
        return hr_error_set(err, HR_ERR_SHAPE, "forward: output must be [%lld, %lld]", (long long)batch,
                            (long long)m->num_classes);
    if ((st = ensure_plan(m, batch, err)))
        return st;
    hr_tensor s0 = hr_tensor_4d(m->act[2], batch, m->stage0.cout, m->stage0.out_h, m->stage0.out_w);
    if ((st = hr__block_run(m, &m->stage0, x, &s0, m->ws, err)))
        return st;
    /* Features end in act[0] or act[1]; run_blocks never writes its input. */
    hr_tensor feat = hr_tensor_4d(m->act[m->nblocks % 2 ? 0 : 1], batch, last->cout, last->out_h, last->out_w);
    if ((st = run_blocks(m, 0, m->nblocks, &s0, &feat, m->act[0], m->act[1], err)))
        return st;
    return hr_model_forward_classifier(m, &feat, y, err);
}
