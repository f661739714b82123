/* Per-device LUT measurement (SPEC §5): every block under every γ valid for
 * its existing branches, plus stage 0 and the classifier. */
#include "lut/lut_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "hyperrep/clock.h"

hr_lut_measure_params hr_lut_measure_params_default(void)
{
    hr_lut_measure_params p;
    memset(&p, 0, sizeof p);
    p.role = HR_DEVICE_SERVER;
    p.warmup = 10;
    p.repeat = 100;
    p.passes = 1;
    p.input_seed = 7;
    p.remeasure_spread = 0.10;
    p.remeasure_budget_s = -1;
    p.frame_repeat = 300;
    p.span_s = 0;
    return p;
}

char *hr_cpu_model_string(char *buf, size_t size)
{
    static const char *keys[] = {"model name", "Hardware", "Processor", "cpu model"};
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    struct utsname u;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t k = 0; f && k < sizeof keys / sizeof keys[0] && !buf[0]; k++) {
        rewind(f);
        while (fgets(line, sizeof line, f)) {
            size_t n = strlen(keys[k]);
            char *colon, *v, *e;
            if (strncmp(line, keys[k], n) != 0 || !(colon = strchr(line + n, ':')))
                continue;
            for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
                ;
            for (e = v + strlen(v); e > v && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'); e--)
                ;
            *e = '\0';
            if (*v) {
                snprintf(buf, size, "%s", v);
                break;
            }
        }
    }
    if (f)
        fclose(f);
    if (!buf[0])
        snprintf(buf, size, "%s", uname(&u) == 0 ? u.machine : "unknown CPU");
    return buf;
}

static double now_ms(void)
{
    return hr_clock_now_ms();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, median, sample std, min and spread of n >= 1 times; sorts t. */
static void summarise(double *t, int n, hr_lut_entry *e)
{
    double sum = 0, ss = 0, mean;
    for (int i = 0; i < n; i++)
        sum += t[i];
    mean = sum / n;
    for (int i = 0; i < n; i++)
        ss += (t[i] - mean) * (t[i] - mean);
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    e->valid = 1;
    e->time_ms = mean;
    e->median_ms = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    e->std_ms = n > 1 ? sqrt(ss / (n - 1)) : 0;
    e->min_ms = t[0];
    e->spread = hr_lut_spread(t, n);
}

void hr__lut_summarise(double *t, int n, hr_lut_entry *e)
{
    summarise(t, n, e);
}

/* What one timed entry runs: a block, stage 0 or the classifier. */
typedef enum target { T_BLOCK, T_STAGE0, T_CLASSIFIER } target;

/* How to run an entry. Isolated: x -> y for the piece alone, back to back.
 * In forward: the whole model runs (image -> s0 -> ... -> logits) and only
 * the piece is timed, on the activations its predecessors just produced,
 * with the caches as the rest of the network left them. */
typedef struct run_ctx {
    hr_model *m;
    target what;
    int block, nblocks;
    int in_forward;
    hr_tensor x, y;                        /* isolated */
    hr_tensor img, s0, in, out, feat, logits; /* in forward (in/out: the block's) */
} run_ctx;

static hr_status run_isolated(run_ctx *r, hr_error *err)
{
    switch (r->what) {
    case T_STAGE0: return hr_model_forward_stage0(r->m, &r->x, &r->y, err);
    case T_CLASSIFIER: return hr_model_forward_classifier(r->m, &r->x, &r->y, err);
    default: return hr_model_forward_range(r->m, r->block, r->block + 1, &r->x, &r->y, err);
    }
}

/* One whole forward, timing the piece: *ms receives its time. */
static hr_status run_in_forward(run_ctx *r, double *ms, hr_error *err)
{
    hr_status st;
    double t0 = now_ms();
    const int k = r->what == T_BLOCK ? r->block : r->what == T_STAGE0 ? -1 : r->nblocks;
    const hr_tensor *x = &r->s0;
    if ((st = hr_model_forward_stage0(r->m, &r->img, &r->s0, err)))
        return st;
    if (k == -1)
        *ms = now_ms() - t0;
    if (k >= 0 && k < r->nblocks) {
        if (k > 0 && (st = hr_model_forward_range(r->m, 0, k, &r->s0, &r->in, err)))
            return st;
        if (k > 0)
            x = &r->in;
        t0 = now_ms();
        if ((st = hr_model_forward_range(r->m, k, k + 1, x, &r->out, err)))
            return st;
        *ms = now_ms() - t0;
        if (k + 1 < r->nblocks && (st = hr_model_forward_range(r->m, k + 1, r->nblocks, &r->out, &r->feat, err)))
            return st;
        x = k + 1 < r->nblocks ? &r->feat : &r->out;
    } else if ((st = hr_model_forward_range(r->m, 0, r->nblocks, &r->s0, &r->feat, err))) {
        return st;
    } else {
        x = &r->feat;
    }
    t0 = now_ms();
    if ((st = hr_model_forward_classifier(r->m, x, &r->logits, err)))
        return st;
    if (k == r->nblocks)
        *ms = now_ms() - t0;
    return HR_OK;
}

/* warmup untimed runs, then n timed ones into t. The timed loop only runs
 * the model and reads the clock: no allocation, no I/O. */
static hr_status time_runs(run_ctx *r, int warmup, int n, double *t, hr_error *err)
{
    hr_status st;
    double ms;
    for (int i = 0; i < warmup; i++)
        if ((st = r->in_forward ? run_in_forward(r, &ms, err) : run_isolated(r, err)))
            return st;
    for (int i = 0; i < n; i++) {
        if (r->in_forward) {
            if ((st = run_in_forward(r, &t[i], err)))
                return st;
            continue;
        }
        double t0 = now_ms();
        if ((st = run_isolated(r, err)))
            return st;
        t[i] = now_ms() - t0;
    }
    return HR_OK;
}

typedef struct progress_state {
    const hr_lut_measure_params *p;
    int nblocks, done, total;
} progress_state;

static void report(progress_state *ps, int block, const char *name, int gamma, int pass, const hr_lut_entry *e)
{
    hr_lut_progress pr;
    ps->done++;
    if (!ps->p->progress)
        return;
    pr.block = block;
    pr.nblocks = ps->nblocks;
    pr.block_name = name;
    pr.gamma = gamma;
    pr.done = ps->done;
    pr.total = ps->total;
    pr.pass = pass;
    pr.passes = ps->p->passes;
    pr.entry = e;
    ps->p->progress(ps->p->progress_user, &pr);
}

static void fill_random(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
}

/* One timed entry: a (block, γ), stage 0 or the classifier, with the slice
 * of the times buffer its runs go to. */
typedef struct slot {
    target what;
    int block, gamma;
    hr_lut_entry *entry;
    double *times;
    int filled;
} slot;

/* Every entry to measure in network order: each block's valid γ, then stage
 * 0 and the classifier. Returns the count; slots may be NULL to count. */
static int list_slots(hr_device_lut *lut, slot *slots, double *times, int repeat)
{
    int n = 0;
    for (int i = 0; i < lut->nblocks + 2; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            slot s = {T_BLOCK, i, g, NULL, NULL, 0};
            if (i < lut->nblocks) {
                if (hr_gamma_get(g)->branches & ~lut->blocks[i].existing)
                    continue;
                s.entry = &lut->blocks[i].e[g];
            } else {
                if (g > 0)
                    break;
                s.what = i == lut->nblocks ? T_STAGE0 : T_CLASSIFIER;
                s.gamma = -1;
                s.entry = i == lut->nblocks ? &lut->stage0 : &lut->classifier;
            }
            if (slots) {
                s.times = times + (size_t)n * (size_t)repeat;
                slots[n] = s;
            }
            n++;
        }
    return n;
}

/* Points rc at the entry's inputs and, for a block, applies the γ with α = 1
 * on its branches through the override (the model's own α stay as they
 * are) and re-plans (a no-op unless the workspace grew). */
static hr_status prepare(hr_model *m, hr_device_lut *lut, const slot *s, float *xa, float *ya, run_ctx *rc,
                         hr_error *err)
{
    hr_status st;
    rc->what = s->what;
    rc->block = s->block;
    if (s->what == T_STAGE0) {
        hr_block_info s0 = hr_model_block(m, -1);
        rc->x = hr_tensor_4d(xa, 1, s0.cin, s0.in_h, s0.in_w);
        rc->y = hr_tensor_4d(ya, 1, s0.cout, s0.out_h, s0.out_w);
        return HR_OK;
    }
    if (s->what == T_CLASSIFIER) {
        const hr_device_lut_block *last = &lut->blocks[lut->nblocks - 1];
        rc->x = hr_tensor_4d(xa, 1, last->out_shape[1], last->out_shape[2], last->out_shape[3]);
        rc->y = hr_tensor_view(ya, 2, (int64_t[]){1, hr_model_num_classes(m)});
        return HR_OK;
    }
    const hr_device_lut_block *lb = &lut->blocks[s->block];
    float alpha[HR_BRANCH_COUNT];
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        alpha[br] = (hr_gamma_get(s->gamma)->branches & (1u << br)) ? 1.0f : 0.0f;
    if ((st = hr_model_apply_gamma(m, s->block, s->gamma, HR_MASK_EXACT, alpha, err)) ||
        (st = hr_model_plan(m, 1, err)))
        return st;
    rc->x = hr_tensor_4d(xa, 1, lb->in_shape[1], lb->in_shape[2], lb->in_shape[3]);
    rc->y = hr_tensor_4d(ya, 1, lb->out_shape[1], lb->out_shape[2], lb->out_shape[3]);
    rc->in = hr_tensor_4d(rc->in.data, 1, lb->in_shape[1], lb->in_shape[2], lb->in_shape[3]);
    rc->out = hr_tensor_4d(rc->out.data, 1, lb->out_shape[1], lb->out_shape[2], lb->out_shape[3]);
    return HR_OK;
}

/* Measures every slot in `passes` rounds over the whole model: round k
 * times the k-th share of each entry's runs, so a burst of load from other
 * processes, or slow drift, touches a fraction of every entry's runs rather
 * than all runs of a few entries, and the median stays clean. The first
 * round warms each entry up fully, later rounds (after γ is re-applied)
 * with warmup / passes runs (at least one). */
static hr_status run_passes(hr_model *m, hr_device_lut *lut, const hr_lut_measure_params *p, slot *slots,
                            int nslots, float *xa, float *ya, run_ctx *rc0, hr_error *err)
{
    progress_state ps = {p, lut->nblocks, 0, nslots * p->passes};
    hr_status st;
    run_ctx rc = *rc0;
    const double t0 = now_ms();
    for (int pass = 0; pass < p->passes; pass++) {
        const double start = t0 + 1e3 * p->span_s * pass / p->passes;
        for (double now = now_ms(); now < start; now = now_ms()) {
            double wait = start - now;
            struct timespec ts = {(time_t)(wait / 1e3), (long)(fmod(wait, 1e3) * 1e6)};
            nanosleep(&ts, NULL);
        }
        int n = p->repeat / p->passes + (pass < p->repeat % p->passes);
        int warm = pass == 0 ? p->warmup : (p->warmup + p->passes - 1) / p->passes;
        if (p->warmup > 0 && warm < 1)
            warm = 1;
        for (int k = 0; k < nslots; k++) {
            slot *s = &slots[k];
            const char *name = s->what == T_STAGE0 ? "stage0"
                               : s->what == T_CLASSIFIER ? "classifier"
                                                         : lut->blocks[s->block].name;
            if ((st = prepare(m, lut, s, xa, ya, &rc, err)) ||
                (st = time_runs(&rc, warm, n, s->times + s->filled, err))) {
                if (s->gamma >= 0)
                    hr_error_prefix(err, "%s gamma %d (%s)", name, s->gamma, hr_gamma_get(s->gamma)->name);
                else
                    hr_error_prefix(err, "%s", name);
                return st;
            }
            s->filled += n;
            if (pass == p->passes - 1)
                summarise(s->times, p->repeat, s->entry);
            report(&ps, s->what == T_STAGE0 ? -1 : s->what == T_CLASSIFIER ? lut->nblocks : s->block, name,
                   s->gamma, pass, pass == p->passes - 1 ? s->entry : NULL);
            /* In forward, the blocks around the measured one run their deploy
             * γ (under the trained α) as in deployment. */
            if (p->in_forward && s->what == T_BLOCK && (k + 1 == nslots || slots[k + 1].block != s->block)) {
                hr_block_info bi = hr_model_block(m, s->block);
                if ((st = hr_model_apply_gamma(m, s->block, hr_gamma_deploy(bi.live), HR_MASK_EXACT, NULL, err)))
                    return st;
            }
        }
    }
    return HR_OK;
}

/* Re-measures the entries whose spread exceeds p->remeasure_spread within
 * budget_ms (see hr_lut_measure_params): round-robin over them, `chunk` timed
 * runs per visit after a short warm-up (γ is re-applied at every visit), the
 * runs appended to the entry's first ones and the entry summarised again from
 * all of them. An entry leaves the rotation when its spread is within the
 * threshold or it has `repeat` extra runs. Counts the entries visited in
 * lut->noise.remeasured. Reports no progress (the passes' total stays true). */
static hr_status remeasure(hr_model *m, hr_device_lut *lut, const hr_lut_measure_params *p, slot *slots,
                           int nslots, float *xa, float *ya, run_ctx *rc0, double budget_ms, hr_error *err)
{
    const int chunk = p->repeat / 10 < 1 ? 1 : p->repeat / 10 > 10 ? 10 : p->repeat / 10;
    const size_t cap = 2 * (size_t)p->repeat;
    const double t_end = now_ms() + budget_ms;
    int warm = (p->warmup + p->passes - 1) / p->passes, n, left;
    double *spread = malloc(sizeof(double) * (size_t)nslots), *buf = NULL;
    int *idx = malloc(sizeof(int) * (size_t)nslots), *extra = NULL;
    hr_status st = HR_OK;
    run_ctx rc = *rc0;

    if (warm > chunk)
        warm = chunk;
    if (p->warmup > 0 && warm < 1)
        warm = 1;
    if (!spread || !idx) {
        st = hr_error_set(err, HR_ERR_NOMEM, "lut measure: out of memory");
        goto out;
    }
    for (int k = 0; k < nslots; k++)
        spread[k] = slots[k].entry->spread;
    n = hr__lut_select_noisy(spread, nslots, p->remeasure_spread, idx);
    if (n == 0 || budget_ms <= 0)
        goto out;
    buf = malloc(sizeof(double) * cap * (size_t)n);
    extra = calloc((size_t)n, sizeof(int));
    if (!buf || !extra) {
        st = hr_error_set(err, HR_ERR_NOMEM, "lut measure: out of memory for re-measuring %d entries", n);
        goto out;
    }
    for (int j = 0; j < n; j++)
        memcpy(buf + cap * (size_t)j, slots[idx[j]].times, sizeof(double) * (size_t)p->repeat);
    left = n;
    while (left > 0 && now_ms() < t_end) {
        for (int j = 0; j < n && left > 0 && now_ms() < t_end; j++) {
            slot *s = &slots[idx[j]];
            double *t = buf + cap * (size_t)j;
            int runs = p->repeat - extra[j] < chunk ? p->repeat - extra[j] : chunk;
            if (runs <= 0)
                continue;
            if ((st = prepare(m, lut, s, xa, ya, &rc, err)) ||
                (st = time_runs(&rc, warm, runs, t + p->repeat + extra[j], err))) {
                const char *name = s->what == T_STAGE0 ? "stage0"
                                   : s->what == T_CLASSIFIER ? "classifier"
                                                             : lut->blocks[s->block].name;
                hr_error_prefix(err, "re-measuring %s", name);
                goto out;
            }
            if (extra[j] == 0)
                lut->noise.remeasured++;
            extra[j] += runs;
            summarise(t, p->repeat + extra[j], s->entry);
            if (s->entry->spread <= p->remeasure_spread || extra[j] >= p->repeat) {
                extra[j] = p->repeat; /* out of the rotation */
                left--;
            }
            if (p->in_forward && s->what == T_BLOCK) {
                hr_block_info bi = hr_model_block(m, s->block);
                if ((st = hr_model_apply_gamma(m, s->block, hr_gamma_deploy(bi.live), HR_MASK_EXACT, NULL, err)))
                    goto out;
            }
        }
    }
out:
    free(spread);
    free(idx);
    free(buf);
    free(extra);
    return st;
}

/* The block whose output is the median crossing tensor: the lower median of
 * the blocks' output sizes (C·H·W), ties in network order. */
static int median_crossing_block(const hr_device_lut *lut)
{
    const int want = (lut->nblocks - 1) / 2;
    for (int i = 0; i < lut->nblocks; i++) {
        const int64_t *o = lut->blocks[i].out_shape;
        int64_t sz = o[1] * o[2] * o[3];
        int rank = 0; /* place of block i in the stable order by size */
        for (int j = 0; j < lut->nblocks; j++) {
            const int64_t *q = lut->blocks[j].out_shape;
            int64_t z = q[1] * q[2] * q[3];
            rank += z < sz || (z == sz && j < i);
        }
        if (rank == want)
            return i;
    }
    return 0;
}

/* Noise of the whole measurement: median spread over every measured entry,
 * the stolen CPU share and the busy warning. */
static void finish_noise(hr_device_lut *lut, const slot *slots, int nslots, const hr__cpu_sample *a,
                         const hr__cpu_sample *b)
{
    double *spread = malloc(sizeof(double) * (size_t)nslots);
    const char *method = "";
    if (spread) {
        for (int k = 0; k < nslots; k++)
            spread[k] = slots[k].entry->spread;
        lut->noise.median_spread = hr__lut_median_spread(spread, nslots);
        free(spread);
    } else {
        lut->noise.median_spread = -1;
    }
    lut->noise.stolen_cpu_pct = hr__cpu_stolen_pct(a, b, lut->threads, &method);
    snprintf(lut->noise.method, sizeof lut->noise.method, "%s", method);
    lut->noise.busy = lut->noise.stolen_cpu_pct > HR_LUT_BUSY_STOLEN_PCT ||
                      lut->noise.median_spread > HR_LUT_BUSY_SPREAD;
    lut->has_noise = 1;
}

hr_status hr_lut_measure(hr_model *m, const hr_lut_measure_params *params, hr_device_lut **out, hr_error *err)
{
    hr_lut_measure_params p = params ? *params : hr_lut_measure_params_default();
    hr_device_lut *lut = NULL;
    float *xa = NULL, *ya = NULL, *fb[4] = {NULL, NULL, NULL, NULL}, *logits = NULL;
    double *times = NULL;
    slot *slots = NULL;
    run_ctx rc;
    size_t most;
    int nslots;
    hr_status st;
    const int nb = hr_model_num_blocks(m);
    hr__cpu_sample *cpu = NULL;
    double t_passes;

    if (p.warmup < 0 || p.warmup > 1000000 || p.repeat < 1 || p.repeat > 1000000 || p.passes < 1 ||
        p.passes > p.repeat)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "lut measure: warmup %d, repeat %d, passes %d: need warmup >= 0, "
                            "1 <= passes <= repeat <= 1000000", p.warmup, p.repeat, p.passes);
    if (!(p.remeasure_spread >= 0) || !isfinite(p.remeasure_spread) || !isfinite(p.remeasure_budget_s) ||
        p.remeasure_budget_s > 1e6 || p.frame_repeat < 0 || p.frame_repeat > 100000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "lut measure: remeasure spread %g (need >= 0), budget %g s (need "
                            "<= 1e6), frame repeat %d (need 0..100000)", p.remeasure_spread, p.remeasure_budget_s,
                            p.frame_repeat);
    if (!(p.span_s >= 0 && p.span_s <= 86400))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "lut measure: span %g s, need 0..86400", p.span_s);
    if ((st = hr_device_lut_create(m, p.role, &lut, err)))
        return st;
    hr_cpu_model_string(lut->gpu_name, sizeof lut->gpu_name);
    hr__timestamp(lut->timestamp, sizeof lut->timestamp);
    lut->threads = hr_ctx_threads(hr_model_ctx(m));
    lut->warmup = p.warmup;
    lut->repeat = p.repeat;
    lut->passes = p.passes;
    lut->has_median = 1;
    lut->has_stage_times = 1;
    lut->in_forward = p.in_forward != 0;

    /* Buffers for the largest activation, the image and the logits, and one
     * slice of times per entry (all kept until the last pass). */
    most = (size_t)hr_model_num_classes(m);
    for (int i = -1; i < nb; i++) {
        hr_block_info b = hr_model_block(m, i);
        size_t in = (size_t)(b.cin * b.in_h * b.in_w), o = (size_t)(b.cout * b.out_h * b.out_w);
        most = in > most ? in : most;
        most = o > most ? o : most;
    }
    nslots = list_slots(lut, NULL, NULL, 0);
    if ((double)nslots * p.repeat * sizeof(double) > (double)((size_t)1 << 31)) {
        st = hr_error_set(err, HR_ERR_LIMIT, "lut measure: %d entries x %d runs need more than 2 GiB of timings",
                          nslots, p.repeat);
        goto fail;
    }
    xa = malloc(most * sizeof(float));
    ya = malloc(most * sizeof(float));
    times = malloc((size_t)nslots * (size_t)p.repeat * sizeof(double));
    slots = malloc((size_t)nslots * sizeof *slots);
    cpu = malloc(2 * sizeof *cpu);
    if (!xa || !ya || !times || !slots || !cpu) {
        st = hr_error_set(err, HR_ERR_NOMEM, "lut measure: out of memory");
        goto fail;
    }
    list_slots(lut, slots, times, p.repeat);
    fill_random(xa, most, p.input_seed);
    memset(ya, 0, most * sizeof(float));
    memset(&rc, 0, sizeof rc);
    rc.m = m;
    rc.nblocks = nb;
    rc.in_forward = p.in_forward != 0;
    if (rc.in_forward) {
        /* Image, stage-0 output, the measured block's input and output, the
         * features and the logits; every block starts at its deploy γ. */
        hr_block_info s0 = hr_model_block(m, -1);
        const hr_device_lut_block *last = &lut->blocks[nb - 1];
        for (int k = 0; k < 4; k++)
            if (!(fb[k] = malloc(most * sizeof(float)))) {
                st = hr_error_set(err, HR_ERR_NOMEM, "lut measure: out of memory");
                goto fail;
            }
        if (!(logits = malloc((size_t)hr_model_num_classes(m) * sizeof(float)))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "lut measure: out of memory");
            goto fail;
        }
        fill_random(fb[0], (size_t)(s0.cin * s0.in_h * s0.in_w), p.input_seed);
        rc.img = hr_tensor_4d(fb[0], 1, s0.cin, s0.in_h, s0.in_w);
        rc.s0 = hr_tensor_4d(fb[1], 1, s0.cout, s0.out_h, s0.out_w);
        rc.in.data = fb[2];
        rc.out.data = fb[3];
        rc.feat = hr_tensor_4d(ya, 1, last->out_shape[1], last->out_shape[2], last->out_shape[3]);
        rc.logits = hr_tensor_view(logits, 2, (int64_t[]){1, hr_model_num_classes(m)});
        if ((st = hr_model_apply_deploy(m, err)))
            goto fail;
    }
    hr__cpu_sample_take(&cpu[0]);
    t_passes = now_ms();
    if ((st = hr_model_plan(m, 1, err)) || (st = run_passes(m, lut, &p, slots, nslots, xa, ya, &rc, err)))
        goto fail;
    t_passes = now_ms() - t_passes;
    lut->noise.remeasure_spread = p.remeasure_spread;
    lut->noise.remeasure_s = now_ms();
    if ((st = remeasure(m, lut, &p, slots, nslots, xa, ya, &rc,
                        p.remeasure_budget_s < 0 ? fmax(1e3, 0.25 * t_passes) : 1e3 * p.remeasure_budget_s, err)))
        goto fail;
    lut->noise.remeasure_s = (now_ms() - lut->noise.remeasure_s) / 1e3;
    hr__cpu_sample_take(&cpu[1]);
    finish_noise(lut, slots, nslots, &cpu[0], &cpu[1]);
    /* Leave every block as a deploy-built model would be: its deploy γ under
     * its trained α (the measured γ were fused with α = 1). */
    for (int i = 0; i < nb; i++) {
        hr_block_info bi = hr_model_block(m, i);
        if ((st = hr_model_apply_gamma(m, i, hr_gamma_deploy(bi.live), HR_MASK_EXACT, NULL, err)))
            goto fail;
    }
    /* T_frame last: its helper thread is not one of the threads whose CPU
     * accounting covers the block measurement. */
    if (p.frame_repeat > 0) {
        const hr_device_lut_block *cb = &lut->blocks[median_crossing_block(lut)];
        if ((st = hr_frame_overhead_measure(p.role, cb->out_shape, lut->num_classes, p.frame_repeat, &lut->frame,
                                            err))) {
            hr_error_prefix(err, "lut measure: T_frame");
            goto fail;
        }
        memcpy(lut->frame_shape, cb->out_shape, sizeof lut->frame_shape);
        snprintf(lut->frame_block, sizeof lut->frame_block, "%s", cb->name);
        snprintf(lut->frame_method, sizeof lut->frame_method, "in-process");
        lut->has_frame_time = 1;
    }
    free(cpu);
    free(xa);
    free(ya);
    free(times);
    free(slots);
    for (int k = 0; k < 4; k++)
        free(fb[k]);
    free(logits);
    *out = lut;
    return HR_OK;
fail:
    free(xa);
    free(ya);
    free(times);
    free(slots);
    for (int k = 0; k < 4; k++)
        free(fb[k]);
    free(logits);
    free(cpu);
    hr_device_lut_destroy(lut);
    return st;
}
