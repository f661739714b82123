/* Progressive pruning (SPEC §7, step 3 stage 1): see include/hyperrep/joint.h.
 *
 * Parallelism: a round's testable candidates are dealt to `workers` slots
 * (candidate i to slot i mod workers); slot w runs on thread w of the
 * model's context through hr_ctx_parallel_for and owns a one-thread context,
 * a copy of the model, validation and test iterators and a logits buffer.
 * Each candidate's outcome depends only on the current α, its branch and its
 * seed, so the slot count never changes a result. The trainer never calls
 * BLAS (see ctx.h), so slots may train at once.
 *
 * Processes (params->dist): process r keeps the testable candidates i with
 * i mod size == r and deals them to its slots as above; one allgather per
 * round then gives every process every result as its owner computed it,
 * byte for byte, so all of them apply the same winner and hold the same
 * state, and the process count never changes a result either. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"
#include "hyperrep/train.h"
#include "hyperrep/weights.h"
#include "joint/joint_internal.h"

hr_joint_params hr_joint_params_default(void)
{
    hr_joint_params p;
    memset(&p, 0, sizeof p);
    p.rounds = 10;
    p.pool = 10;
    p.epochs = 3;
    p.threshold = 2.0;
    p.batch = 32;
    p.lr = 0.01;
    p.momentum = 0.9;
    p.l1 = 0.001;
    p.seed = 42;
    p.pruning_threshold = 0.01;
    p.guard = HR_GUARD_BOUND;
    p.guard_alpha = 0.10;
    return p;
}

void hr_joint_result_init(hr_joint_result *r)
{
    memset(r, 0, sizeof *r);
}

void hr_joint_result_deinit(hr_joint_result *r)
{
    if (!r)
        return;
    free(r->alpha_initial);
    free(r->alpha);
    free(r->pruned_block);
    free(r->pruned_branch);
    for (int i = 0; i < r->nrounds; i++) {
        free(r->rounds[i].cand);
        free(r->rounds[i].alpha);
    }
    free(r->rounds);
    hr_joint_result_init(r);
}

double hr_joint_branch_flops(const hr_model *model, int block, hr_branch branch)
{
    hr_block_info bi = hr_model_block(model, block);
    double hw = (double)(bi.out_h * bi.out_w), cin = (double)bi.cin, cout = (double)bi.cout, g = bi.groups;
    if (!(bi.existing >> branch & 1u))
        return 0;
    switch (branch) {
    case HR_BRANCH_DENSE: return 2 * cin * cout * 9 * hw / g;
    case HR_BRANCH_1X1: return 2 * cin * cout * hw / g;
    default: return 4 * cout * hw;
    }
}

typedef struct ranked {
    int idx;   /* block·3 + branch */
    int order; /* network order: block·3 + position in dense, identity, 1x1 */
    double score;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->order - y->order;
}

/* Ranking over the α in a (block·3 + branch) for the model's existing branches. */
static hr_status rank_alpha(const hr_model *model, const float *a, int **ranking, int *n, hr_error *err)
{
    const int nb = hr_model_num_blocks(model);
    static const int pos[HR_BRANCH_COUNT] = {0, 2, 1}; /* dense, 1x1, identity → dense, identity, 1x1 */
    ranked *r = malloc(sizeof *r * (size_t)(nb * 3) + 1);
    int *out = malloc(sizeof *out * (size_t)(nb * 3) + 1), k = 0;
    if (!r || !out) {
        free(r), free(out);
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory ranking %d branches", nb * 3);
    }
    for (int i = 0; i < nb; i++) {
        hr_block_info bi = hr_model_block(model, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            float v = a[i * 3 + br];
            if (!(bi.existing >> br & 1u) || v == 0.0f)
                continue;
            double fl = hr_joint_branch_flops(model, i, (hr_branch)br);
            r[k].idx = i * 3 + br;
            r[k].order = i * 3 + pos[br];
            r[k].score = fl > 0 ? fabs((double)v) / (fl / 1e9) : 1e10;
            k++;
        }
    }
    qsort(r, (size_t)k, sizeof *r, cmp_ranked);
    for (int i = 0; i < k; i++)
        out[i] = r[i].idx;
    free(r);
    *ranking = out;
    *n = k;
    return HR_OK;
}

static void model_alpha(const hr_model *model, float *a)
{
    for (int i = 0; i < hr_model_num_blocks(model); i++) {
        hr_block_info bi = hr_model_block(model, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[i * 3 + br] = (bi.existing >> br & 1u) ? bi.alpha[br] : 0.0f;
    }
}

hr_status hr_joint_rank(const hr_model *model, int **ranking, int *n, hr_error *err)
{
    const int nb = hr_model_num_blocks(model);
    float *a = malloc(sizeof *a * (size_t)(nb * 3) + 1);
    if (!a)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    model_alpha(model, a);
    hr_status st = rank_alpha(model, a, ranking, n, err);
    free(a);
    return st;
}

/* ------------------------------------------------------------------ slots */

typedef struct slot {
    hr_ctx *ctx;
    hr_model *m;
    hr_batch_iter *va, *te;
    float *logits;
    uint8_t *cval, *ctest;    /* per-image right (1) / wrong (0) of the last evaluation */
    hr_status st;
    hr_error err;
} slot;

typedef struct state {
    hr_model *model;
    const hr_data *data;
    int domain, nb;
    const hr_joint_params *p;
    slot *slots;
    int nslots;
    /* the round being run */
    int round;
    const float *cur;
    hr_joint_candidate *cand; /* testable candidates of the round */
    float *cand_alpha;        /* [ntest][nb·3]: each candidate's best α */
    int ntest;
    /* round 0's per-image results, against which every state is paired */
    uint8_t *ref_val, *ref_test;
    int64_t nval, ntest_img;
    double ref_score[2];      /* round 0's selection and test accuracy */
    /* this process's share (all of them without dist) */
    int rank, nproc;
    int *mine;                /* indices into cand */
    int nmine;
    /* exchange buffers (nproc > 1): one contribution is a header and up to
       per_max candidate records */
    size_t rec, contrib_max;
    unsigned char *xsend, *xrecv;
} state;

static hr_status slot_open(state *s, slot *sl, const hr_tensor_map *weights, hr_error *err)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    hr_batch_params ev = hr_batch_params_default();
    cp.threads = 1;
    cp.seed = s->p->seed;
    mp.input_size = hr_model_input_size(s->model);
    mp.in_channels = hr_model_in_channels(s->model);
    mp.num_classes = hr_model_num_classes(s->model);
    ev.batch_size = s->p->batch;
    hr_status st;
    if ((st = hr_ctx_create(&cp, &sl->ctx, err)) ||
        (st = hr_model_create(sl->ctx, hr_model_arch(s->model)->name, &mp, &sl->m, err)) ||
        (st = hr_model_load(sl->m, weights, err)) ||
        (st = hr_data_iter_create(sl->ctx, s->data, s->domain, HR_PART_VAL, &ev, &sl->va, err)) ||
        (st = hr_data_iter_create(sl->ctx, s->data, s->domain, HR_PART_TEST, &ev, &sl->te, err)))
        return st;
    sl->logits = malloc(sizeof(float) * (size_t)(s->p->batch * hr_model_num_classes(s->model)));
    sl->cval = malloc((size_t)s->nval + 1);
    sl->ctest = malloc((size_t)s->ntest_img + 1);
    if (!sl->logits || !sl->cval || !sl->ctest)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    return HR_OK;
}

static void slot_close(slot *sl)
{
    free(sl->logits);
    free(sl->cval);
    free(sl->ctest);
    hr_batch_iter_destroy(sl->va);
    hr_batch_iter_destroy(sl->te);
    hr_model_destroy(sl->m);
    hr_ctx_destroy(sl->ctx);
    memset(sl, 0, sizeof *sl);
}

hr_status hr__joint_correct_per_image(hr_trainer *t, hr_batch_iter *it, float *logits, uint8_t *correct,
                                      int64_t cap, hr_error *err)
{
    hr_batch b;
    hr_status st;
    int64_t n = 0, classes = hr_model_num_classes(hr_trainer_model(t));
    if ((st = hr_batch_iter_seek(it, 0, 0, err)))
        return st;
    while ((st = hr_batch_iter_next(it, &b, err)) == HR_OK && b.n > 0) {
        int64_t shape[2] = {b.n, classes};
        hr_tensor y = hr_tensor_view(logits, 2, shape);
        if (n + b.n > cap)
            return hr_error_set(err, HR_ERR_INTERNAL, "joint: an evaluation part yields more than %lld images",
                                (long long)cap);
        if ((st = hr_trainer_predict(t, &b.x, &y, err)))
            return st;
        for (int64_t i = 0; i < b.n; i++) {
            const float *row = logits + i * classes;
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                if (row[k] > row[best])
                    best = k;
            correct[n + i] = best == b.labels[i];
        }
        n += b.n;
    }
    if (st)
        return st;
    if (n != cap)
        return hr_error_set(err, HR_ERR_INTERNAL, "joint: an evaluation part yields %lld images, expected %lld",
                            (long long)n, (long long)cap);
    return HR_OK;
}

/* Which validation images an accuracy or a pairing counts: with the bound
 * guard its two halves (hr__joint_val_half); with the point rule both are
 * the whole part, as in the original. */
static int in_selection(const hr_joint_params *p, int64_t i)
{
    return p->guard != HR_GUARD_BOUND || hr__joint_val_half(i) == 0;
}
static int in_guard(const hr_joint_params *p, int64_t i)
{
    return p->guard != HR_GUARD_BOUND || hr__joint_val_half(i) == 1;
}

/* Accuracy of the selection half and paired counts against round 0 on the
 * guard half (validation) and on the test part, from the slot's last
 * per-image results. ref NULL: counts 0. */
static void score(const state *s, const slot *sl, double *val, double *test, int *gb, int *gc, int *tb, int *tc)
{
    int64_t hit = 0, nsel = 0, th = 0;
    int b = 0, c = 0, b2 = 0, c2 = 0;
    for (int64_t i = 0; i < s->nval; i++) {
        if (in_selection(s->p, i)) {
            hit += sl->cval[i];
            nsel++;
        }
        if (s->ref_val && in_guard(s->p, i)) {
            b += s->ref_val[i] && !sl->cval[i];
            c += !s->ref_val[i] && sl->cval[i];
        }
    }
    for (int64_t i = 0; i < s->ntest_img; i++) {
        th += sl->ctest[i];
        if (s->ref_test) {
            b2 += s->ref_test[i] && !sl->ctest[i];
            c2 += !s->ref_test[i] && sl->ctest[i];
        }
    }
    *val = nsel ? 100.0 * (double)hit / (double)nsel : 0;
    *test = s->ntest_img ? 100.0 * (double)th / (double)s->ntest_img : 0;
    if (gb)
        *gb = b, *gc = c, *tb = b2, *tc = c2;
}

/* Evaluates the trainer on the slot's validation and test parts, per image. */
static hr_status evaluate_slot(const state *s, slot *sl, hr_trainer *t, hr_error *err)
{
    hr_status st;
    if ((st = hr__joint_correct_per_image(t, sl->va, sl->logits, sl->cval, s->nval, err)) ||
        (st = hr__joint_correct_per_image(t, sl->te, sl->logits, sl->ctest, s->ntest_img, err)))
        return st;
    return HR_OK;
}

uint64_t hr__joint_seed(uint64_t seed, int domain, int round, int cand)
{
    uint64_t v[4] = {seed, (uint64_t)domain, (uint64_t)round, (uint64_t)cand}, h = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 4; i++) {
        uint64_t z = h ^ (v[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        h = z ^ (z >> 31);
    }
    return h;
}

uint64_t hr_joint_candidate_seed(uint64_t seed, int domain, int round, int block, hr_branch branch)
{
    return hr__joint_seed(seed, domain, round, block * 3 + (int)branch);
}

/* Trains one candidate on slot sl; fills c and its best α. */
static hr_status run_candidate(state *s, slot *sl, hr_joint_candidate *c, float *best_alpha, hr_error *err)
{
    const int nb = s->nb;
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_batch_params bp = hr_batch_params_default();
    hr_trainer *t = NULL;
    hr_batch_iter *tr = NULL;
    hr_status st;
    tp.batch = s->p->batch;
    tp.momentum = (float)s->p->momentum;
    tp.l1 = (float)s->p->l1;
    bp.batch_size = s->p->batch;
    bp.shuffle = 1;
    bp.seed = hr_joint_candidate_seed(s->p->seed, s->domain, s->round, c->block, c->branch);
    if ((st = hr_model_set_alphas(sl->m, s->cur, err)) ||
        (st = hr_model_set_alpha(sl->m, c->block, c->branch, 0.0f, err)) ||
        (st = hr_trainer_create(sl->m, &tp, &t, err)) ||
        (st = hr_data_iter_create(sl->ctx, s->data, s->domain, HR_PART_TRAIN, &bp, &tr, err)))
        goto done;
    c->epochs = s->p->epochs;
    c->best_epoch = 0;
    c->best_val = -1;
    for (int e = 0; e < s->p->epochs; e++) {
        hr_batch b;
        hr_train_stats ts;
        double loss = 0;
        int64_t seen = 0;
        if ((st = hr_batch_iter_seek(tr, e, 0, err)))
            goto done;
        while ((st = hr_batch_iter_next(tr, &b, err)) == HR_OK && b.n > 0) {
            if ((st = hr_trainer_step(t, &b.x, b.labels, (float)s->p->lr, &ts, err)))
                goto done;
            loss += ts.loss * (double)ts.n;
            seen += ts.n;
        }
        if (st)
            goto done;
        c->loss[e] = seen ? loss / (double)seen : 0;
        /* the threshold rule after every epoch, before the evaluation, so
         * that the α scored (and kept) is the α deployed */
        if (s->p->pruning_threshold > 0 && (st = hr_trainer_threshold(t, s->p->pruning_threshold, NULL, NULL, err)))
            goto done;
        int gb, gc, tb, tc;
        if ((st = evaluate_slot(s, sl, t, err)))
            goto done;
        score(s, sl, &c->val[e], &c->test[e], &gb, &gc, &tb, &tc);
        if (c->val[e] > c->best_val) {
            c->best_val = c->val[e];
            c->best_test = c->test[e];
            c->guard_b = gb, c->guard_c = gc, c->test_b = tb, c->test_c = tc;
            c->best_epoch = e + 1;
            for (int i = 0; i < nb; i++)
                for (int br = 0; br < HR_BRANCH_COUNT; br++)
                    best_alpha[i * 3 + br] = hr_trainer_alpha(t, i, (hr_branch)br);
        }
    }
done:
    if (st)
        hr_error_prefix(err, "candidate %s", c->name);
    hr_batch_iter_destroy(tr);
    hr_trainer_destroy(t);
    return st;
}

static void slot_fn(void *arg, int64_t w, int thread)
{
    state *s = arg;
    slot *sl = &s->slots[w];
    (void)thread;
    for (int j = (int)w; j < s->nmine && !sl->st; j += s->nslots) {
        int i = s->mine[j];
        sl->st = run_candidate(s, sl, &s->cand[i], s->cand_alpha + (size_t)i * (size_t)(s->nb * 3), &sl->err);
    }
}

/* ------------------------------------------------------------ processes */

/* The exchange carries native integers and the images of doubles and
 * floats copied bit for bit, so every process applies exactly what the
 * candidate's owner computed, with no decimal round trip. The price: every
 * process must run on machines of one byte order and float format (see
 * hr_joint_dist). */
static unsigned char *put(unsigned char *b, const void *v, size_t n)
{
    memcpy(b, v, n);
    return b + n;
}

static const unsigned char *get(const unsigned char *b, void *v, size_t n)
{
    memcpy(v, b, n);
    return b + n;
}

/* Header of a process's contribution: rank, round, status, record count,
 * then the error message (empty when the status is HR_OK). */
#define XHDR (4 * sizeof(int32_t) + HR_ERROR_MSG_MAX)

/* One candidate: index, epochs, best epoch, spare; best validation and test;
 * validation, test and loss per epoch; the best epoch's α. */
static size_t cand_rec_bytes(int epochs, int na)
{
    return 8 * sizeof(int32_t) + sizeof(double) * (2 + 3 * (size_t)epochs) + sizeof(float) * (size_t)na;
}

static void pack_cand(const state *s, int i, unsigned char *b)
{
    const hr_joint_candidate *c = &s->cand[i];
    const int na = s->nb * 3, e = s->p->epochs;
    int32_t h[8] = {i, c->epochs, c->best_epoch, 0, c->guard_b, c->guard_c, c->test_b, c->test_c};
    b = put(b, h, sizeof h);
    b = put(b, &c->best_val, sizeof c->best_val);
    b = put(b, &c->best_test, sizeof c->best_test);
    b = put(b, c->val, sizeof(double) * (size_t)e);
    b = put(b, c->test, sizeof(double) * (size_t)e);
    b = put(b, c->loss, sizeof(double) * (size_t)e);
    put(b, s->cand_alpha + (size_t)i * (size_t)na, sizeof(float) * (size_t)na);
}

/* Reads one record of process r's contribution (its j-th candidate) into
 * cand and cand_alpha; the index must be the one the dealing gives it. */
static hr_status unpack_cand(state *s, int r, int j, const unsigned char *b, hr_error *err)
{
    const int na = s->nb * 3, e = s->p->epochs;
    int32_t h[8];
    b = get(b, h, sizeof h);
    if (h[0] != r + j * s->nproc || h[0] < 0 || h[0] >= s->ntest || h[1] != e || h[2] < 1 || h[2] > e)
        return hr_error_set(err, HR_ERR_FORMAT,
                            "joint round %d: process %d sent candidate %d (epochs %d, best epoch %d) as its record %d, "
                            "expected candidate %d of %d with %d epochs",
                            s->round, r, (int)h[0], (int)h[1], (int)h[2], j, r + j * s->nproc, s->ntest, e);
    hr_joint_candidate *c = &s->cand[h[0]];
    c->epochs = h[1];
    c->best_epoch = h[2];
    c->guard_b = h[4], c->guard_c = h[5], c->test_b = h[6], c->test_c = h[7];
    b = get(b, &c->best_val, sizeof c->best_val);
    b = get(b, &c->best_test, sizeof c->best_test);
    b = get(b, c->val, sizeof(double) * (size_t)e);
    b = get(b, c->test, sizeof(double) * (size_t)e);
    b = get(b, c->loss, sizeof(double) * (size_t)e);
    get(b, s->cand_alpha + (size_t)h[0] * (size_t)na, sizeof(float) * (size_t)na);
    return HR_OK;
}

/* The round's exchange. local/lerr: this process's outcome; its records
 * are sent only when it succeeded. Every process reads the same headers in
 * rank order, so all of them return the same error (the first failed
 * process's) or all succeed with every result in cand / cand_alpha. */
static hr_status exchange_round(state *s, hr_status local, const hr_error *lerr, hr_error *err)
{
    const hr_joint_dist *d = s->p->dist;
    const int per = (s->ntest + s->nproc - 1) / s->nproc;
    const size_t bytes = XHDR + (size_t)per * s->rec;
    int32_t h[4] = {s->rank, s->round, (int32_t)local, local ? 0 : s->nmine};
    char msg[HR_ERROR_MSG_MAX];
    unsigned char *b = s->xsend;
    hr_status st;
    memset(msg, 0, sizeof msg);
    if (local)
        snprintf(msg, sizeof msg, "%s", lerr && lerr->msg[0] ? lerr->msg : hr_status_name(local));
    memset(s->xsend, 0, bytes);
    b = put(b, h, sizeof h);
    b = put(b, msg, sizeof msg);
    for (int j = 0; j < h[3]; j++, b += s->rec)
        pack_cand(s, s->mine[j], b);
    if ((st = d->allgather(d->user, s->xsend, bytes, s->xrecv, err))) {
        hr_error_prefix(err, "joint round %d: exchanging results between %d processes", s->round, s->nproc);
        return st;
    }
    for (int r = 0; r < s->nproc; r++) {
        const unsigned char *q = s->xrecv + (size_t)r * bytes;
        int32_t g[4];
        q = get(q, g, sizeof g);
        if (g[0] != r || g[1] != s->round)
            return hr_error_set(err, HR_ERR_FORMAT,
                                "joint round %d: contribution %d of the exchange comes from process %d, round %d",
                                s->round, r, (int)g[0], (int)g[1]);
        if (g[2] != HR_OK) {
            memcpy(msg, q, sizeof msg);
            msg[sizeof msg - 1] = '\0';
            st = g[2] > 0 && g[2] < HR_STATUS_COUNT ? (hr_status)g[2] : HR_ERR_INTERNAL;
            return hr_error_set(err, st, "joint round %d: process %d: %s", s->round, r, msg);
        }
    }
    for (int r = 0; r < s->nproc; r++) {
        const unsigned char *q = s->xrecv + (size_t)r * bytes;
        int32_t g[4];
        get(q, g, sizeof g);
        int want = s->ntest > r ? (s->ntest - r + s->nproc - 1) / s->nproc : 0;
        if (g[3] != want)
            return hr_error_set(err, HR_ERR_FORMAT, "joint round %d: process %d sent %d results, expected %d",
                                s->round, r, (int)g[3], want);
        for (int j = 0; j < want; j++)
            if ((st = unpack_cand(s, r, j, q + XHDR + (size_t)j * s->rec, err)))
                return st;
    }
    return HR_OK;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Before the first round: every process must hold the same settings and
 * state (a checkpoint some process cannot see, other flags, other data),
 * otherwise one would stop while another waits in an exchange. The digest
 * covers everything the loop's decisions depend on. */
static hr_status check_same_state(state *s, const hr_joint_result *out, const int *ranking, int nrank,
                                  const int *pool, int npool, int next, hr_error *err)
{
    const hr_joint_params *p = s->p;
    const int na = s->nb * 3;
    const char *fp = p->fingerprint ? p->fingerprint : "";
    int32_t ints[16] = {s->domain, s->nb, s->nproc, p->rounds, p->pool, p->epochs, p->stop_after, p->checkpoint != NULL,
                        out->nrounds, out->complete, out->npruned, npool, next, nrank, (int32_t)p->guard, 0};
    double reals[10] = {p->threshold, p->lr, p->momentum, p->l1, out->initial_val, out->initial_test, out->best_so_far,
                        (double)p->batch, p->pruning_threshold, p->guard_alpha};
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, fp, strlen(fp) + 1);
    h = fnv(h, ints, sizeof ints);
    h = fnv(h, reals, sizeof reals);
    h = fnv(h, &p->seed, sizeof p->seed);
    h = fnv(h, out->alpha_initial, sizeof(float) * (size_t)na);
    h = fnv(h, out->alpha, sizeof(float) * (size_t)na);
    h = fnv(h, ranking, sizeof(int) * (size_t)nrank);
    h = fnv(h, pool, sizeof(int) * (size_t)npool);
    /* rank, rounds done, complete, spare, digest */
    int32_t mine[4] = {s->rank, out->nrounds, out->complete, 0};
    unsigned char b[sizeof mine + sizeof h];
    hr_status st;
    memcpy(b, mine, sizeof mine);
    memcpy(b + sizeof mine, &h, sizeof h);
    if ((st = p->dist->allgather(p->dist->user, b, sizeof b, s->xrecv, err))) {
        hr_error_prefix(err, "joint: comparing the state of %d processes", s->nproc);
        return st;
    }
    uint64_t h0;
    int32_t r0[4];
    memcpy(r0, s->xrecv, sizeof r0);
    memcpy(&h0, s->xrecv + sizeof r0, sizeof h0);
    for (int r = 0; r < s->nproc; r++) {
        int32_t g[4];
        uint64_t hr;
        memcpy(g, s->xrecv + (size_t)r * sizeof b, sizeof g);
        memcpy(&hr, s->xrecv + (size_t)r * sizeof b + sizeof g, sizeof hr);
        if (g[0] != r)
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "joint: the exchange's contribution %d comes from process %d: ranks must be 0..%d",
                                r, (int)g[0], s->nproc - 1);
        if (hr != h0)
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "joint: process %d does not hold the same settings and state as process 0 (%d rounds "
                                "done%s, against %d%s): every process needs the same flags, data and checkpoint file "
                                "(%s; on a file system every process sees)",
                                r, (int)g[1], g[2] ? ", finished" : "", (int)r0[1], r0[2] ? ", finished" : "",
                                p->checkpoint ? p->checkpoint : "no checkpoint");
    }
    return HR_OK;
}

/* ------------------------------------------------------------ the rounds */

static void logf_(const hr_joint_params *p, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!p->log || (p->dist && p->dist->rank != 0))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(p->log_user, line);
}

static double live_gflops(const hr_model *m, const float *a)
{
    double f = 0;
    for (int i = 0; i < hr_model_num_blocks(m); i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (a[i * 3 + br] != 0.0f)
                f += hr_joint_branch_flops(m, i, (hr_branch)br);
    return f / 1e9;
}

static int live_in_block(const float *a, int block)
{
    int n = 0;
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        n += a[block * 3 + br] != 0.0f;
    return n;
}

/* The literally unpruned model's α (round −1 of the final choice): the
 * starting α with every existing branch it holds at 0 set back to its base
 * value 1. Returns 1 when that differs from the starting α. */
static int unpruned_alpha(const hr_model *m, const float *a0, float *un)
{
    int differs = 0;
    for (int k = 0; k < hr_model_num_blocks(m); k++) {
        unsigned ex = hr_model_block(m, k).existing;
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            un[k * 3 + br] = a0[k * 3 + br];
            if ((ex >> br & 1u) && un[k * 3 + br] == 0.0f) {
                un[k * 3 + br] = 1.0f;
                differs = 1;
            }
        }
    }
    return differs;
}

/* Evaluates α a on slot sl per image. */
static hr_status evaluate_alpha(state *s, slot *sl, const float *a, hr_error *err)
{
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t = NULL;
    hr_status st;
    tp.batch = s->p->batch;
    if (!(st = hr_model_set_alphas(sl->m, a, err)) && !(st = hr_trainer_create(sl->m, &tp, &t, err)))
        st = evaluate_slot(s, sl, t, err);
    hr_trainer_destroy(t);
    return st;
}

/* Round 0's per-image results, the reference every state is paired with;
 * the parts' sizes; and the unpruned model's test accuracy and paired
 * counts. Runs on slot 0 also when resuming: the results are a
 * deterministic function of the starting α, so they need no checkpoint. */
static hr_status reference(state *s, hr_joint_result *out, hr_error *err)
{
    slot *sl = &s->slots[0];
    hr_status st;
    float *un = malloc(sizeof *un * (size_t)(s->nb * 3) + 1);
    if (!un)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    if ((st = evaluate_alpha(s, sl, out->alpha_initial, err)))
        goto done;
    memcpy(s->ref_val, sl->cval, (size_t)s->nval);
    memcpy(s->ref_test, sl->ctest, (size_t)s->ntest_img);
    score(s, sl, &s->ref_score[0], &s->ref_score[1], NULL, NULL, NULL, NULL);
    out->paired = 1;
    out->guard = s->p->guard;
    out->n_val = s->nval;
    out->n_test = s->ntest_img;
    out->n_select = out->n_guard = out->guard_right0 = out->test_right0 = 0;
    for (int64_t i = 0; i < s->nval; i++) {
        out->n_select += in_selection(s->p, i);
        out->n_guard += in_guard(s->p, i);
        out->guard_right0 += in_guard(s->p, i) && s->ref_val[i];
    }
    for (int64_t i = 0; i < s->ntest_img; i++)
        out->test_right0 += s->ref_test[i];
    out->unpruned_same = !unpruned_alpha(s->model, out->alpha_initial, un);
    out->unpruned_test = s->ref_score[1];
    out->unpruned_test_b = out->unpruned_test_c = 0;
    if (!out->unpruned_same) {
        double v;
        int gb, gc;
        if ((st = evaluate_alpha(s, sl, un, err)))
            goto done;
        score(s, sl, &v, &out->unpruned_test, &gb, &gc, &out->unpruned_test_b, &out->unpruned_test_c);
    }
done:
    free(un);
    return st;
}

/* The paired counts of the current α against round 0 and its guard drop and
 * bound, recorded on the round. */
static void record_guard(const state *s, const hr_joint_result *out, hr_joint_round *r, const hr_joint_candidate *w)
{
    r->guard_b = w->guard_b, r->guard_c = w->guard_c, r->test_b = w->test_b, r->test_c = w->test_c;
    r->guard_drop = out->n_guard ? 100.0 * (w->guard_b - w->guard_c) / (double)out->n_guard : 0;
    r->guard_bound = out->paired ? hr_joint_guard_bound(w->guard_b, w->guard_c, out->n_guard, s->p->guard_alpha,
                                                        r->round)
                                 : 0;
}

hr_status hr_joint_progressive(hr_model *model, const hr_data *data, int domain, const hr_joint_params *params,
                               hr_joint_result *out, hr_error *err)
{
    const hr_joint_params *p = params;
    hr_joint_params defaults = hr_joint_params_default();
    if (!p)
        p = &defaults;
    if (!model || (!data && !p->trainer) || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: model, data and result are required");
    if (p->trainer && (!p->trainer->evaluate || !p->trainer->train || (p->dist && p->dist->size > 1)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: a candidate trainer needs evaluate and train, and runs "
                            "in one process");
    if (domain < 0 || domain >= HR_NUM_DOMAINS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: domain %d is not in 0..%d", domain, HR_NUM_DOMAINS - 1);
    if (p->rounds < 0 || p->pool < 1 || p->epochs < 1 || p->epochs > HR_JOINT_MAX_EPOCHS || p->batch < 1 ||
        !(p->threshold >= 0) || !(p->lr >= 0) || !(p->momentum >= 0 && p->momentum < 1) || !(p->l1 >= 0) ||
        p->workers < 0 || p->stop_after < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "joint: bad settings (rounds %d >= 0, pool %d >= 1, epochs %d in 1..%d, batch %lld >= 1, "
                            "threshold %g >= 0, lr %g >= 0, momentum %g in [0, 1), l1 %g >= 0)",
                            p->rounds, p->pool, p->epochs, HR_JOINT_MAX_EPOCHS, (long long)p->batch, p->threshold,
                            p->lr, p->momentum, p->l1);
    if ((int)p->guard < 0 || p->guard >= HR_GUARD_MODE_COUNT || !(p->pruning_threshold >= 0) ||
        !(p->guard_alpha > 0 && p->guard_alpha < 1))
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "joint: bad guard settings (guard %d, pruning threshold %g >= 0, guard alpha %g in (0, 1))",
                            (int)p->guard, p->pruning_threshold, p->guard_alpha);
    if (p->trainer && p->guard == HR_GUARD_BOUND)
        return hr_error_set(err, HR_ERR_UNSUPPORTED,
                            "joint: the bound guard pairs results image by image, which a candidate trainer hook does "
                            "not report: use the point guard");
    if (p->dist && (p->dist->size < 1 || p->dist->size > 65536 || p->dist->rank < 0 ||
                    p->dist->rank >= p->dist->size || (p->dist->size > 1 && !p->dist->allgather)))
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "joint: bad process settings (rank %d of %d processes, exchange %s): the rank must be in "
                            "0..size-1, size in 1..65536, and more than one process needs an exchange",
                            p->dist->rank, p->dist->size, p->dist->allgather ? "given" : "missing");

    const int nb = hr_model_num_blocks(model), na = nb * 3;
    hr_status st = HR_OK;
    hr_tensor_map *weights = NULL;
    int *ranking = NULL, nrank = 0, *pool = NULL, npool = 0, next = 0, new_rounds = 0;
    state s;
    memset(&s, 0, sizeof s);
    hr_joint_result_deinit(out);
    out->nblocks = nb;
    out->alpha_initial = malloc(sizeof(float) * (size_t)na);
    out->alpha = malloc(sizeof(float) * (size_t)na);
    out->pruned_block = malloc(sizeof(int) * (size_t)na);
    out->pruned_branch = malloc(sizeof(hr_branch) * (size_t)na);
    out->rounds = calloc((size_t)p->rounds + 1, sizeof *out->rounds);
    pool = malloc(sizeof(int) * (size_t)p->pool);
    s.cand = calloc((size_t)p->pool, sizeof *s.cand);
    s.cand_alpha = malloc(sizeof(float) * (size_t)na * (size_t)p->pool);
    if (!out->alpha_initial || !out->alpha || !out->pruned_block || !out->pruned_branch || !out->rounds || !pool ||
        !s.cand || !s.cand_alpha) {
        st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
        goto done;
    }
    model_alpha(model, out->alpha_initial);
    memcpy(out->alpha, out->alpha_initial, sizeof(float) * (size_t)na);
    if ((st = rank_alpha(model, out->alpha_initial, &ranking, &nrank, err)))
        goto done;
    out->initial_gflops = live_gflops(model, out->alpha_initial);

    s.model = model;
    s.data = data;
    s.domain = domain;
    s.nb = nb;
    s.p = p;
    s.rank = p->dist ? p->dist->rank : 0;
    s.nproc = p->dist ? p->dist->size : 1;
    /* a process trains at most ceil(pool / processes) candidates a round */
    const int per_max = (p->pool + s.nproc - 1) / s.nproc;
    s.nslots = p->workers > 0 ? p->workers : hr_ctx_threads(hr_model_ctx(model));
    if (s.nslots > per_max)
        s.nslots = per_max;
    if (p->trainer)
        s.nslots = 1; /* unused: the hook trains, one candidate after another */
    s.slots = calloc((size_t)s.nslots, sizeof *s.slots);
    s.mine = malloc(sizeof(int) * (size_t)per_max);
    if (!s.slots || !s.mine) {
        st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
        goto done;
    }
    if (s.nproc > 1) {
        s.rec = cand_rec_bytes(p->epochs, na);
        if ((size_t)per_max > (SIZE_MAX / 2 - XHDR) / s.rec / (size_t)s.nproc) {
            st = hr_error_set(err, HR_ERR_LIMIT, "joint: a pool of %d candidates over %d processes is too large to "
                              "exchange", p->pool, s.nproc);
            goto done;
        }
        s.contrib_max = XHDR + (size_t)per_max * s.rec;
        s.xsend = malloc(s.contrib_max);
        s.xrecv = malloc(s.contrib_max * (size_t)s.nproc);
        if (!s.xsend || !s.xrecv) {
            st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory for the exchange (%zu bytes per process)",
                              s.contrib_max);
            goto done;
        }
    }
    if (!p->trainer) {
        if (!hr_partition_indices(hr_data_partition(data), domain, HR_PART_VAL, &s.nval) ||
            !hr_partition_indices(hr_data_partition(data), domain, HR_PART_TEST, &s.ntest_img)) {
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "joint: domain %d has no validation or test part", domain);
            goto done;
        }
        s.ref_val = malloc((size_t)s.nval + 1);
        s.ref_test = malloc((size_t)s.ntest_img + 1);
        if (!s.ref_val || !s.ref_test) {
            st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
            goto done;
        }
        if ((st = hr_tensor_map_create(&weights, err)) || (st = hr_model_export(model, weights, err)))
            goto done;
        for (int w = 0; w < s.nslots; w++)
            if ((st = slot_open(&s, &s.slots[w], weights, err)))
                goto done;
        hr_tensor_map_destroy(weights);
        weights = NULL;
        if ((st = reference(&s, out, err)))
            goto done;
    }

    /* resume, or start from the initial accuracies */
    int resumed = 0;
    if (p->checkpoint && (st = hr__joint_checkpoint_load(p->checkpoint, p->fingerprint ? p->fingerprint : "", domain,
                                                         ranking, nrank, out, p->rounds, pool, &npool, p->pool, &next,
                                                         &resumed, err)))
        goto done;
    if (!resumed) {
        if (p->trainer) {
            if ((st = p->trainer->evaluate(p->trainer->user, out->alpha, &out->initial_val, &out->initial_test, err)))
                goto done;
        } else {
            out->initial_val = s.ref_score[0];
            out->initial_test = s.ref_score[1];
        }
        out->final_val = out->initial_val;
        out->final_test = out->initial_test;
        out->best_so_far = out->initial_val;
        out->final_gflops = out->initial_gflops;
        for (npool = 0; npool < p->pool && next < nrank; next++)
            pool[npool++] = ranking[next];
        logf_(p, "domain %d: initial accuracy validation %.2f%% test %.2f%%, %d ranked branches, %.4f GFLOPs", domain,
              out->initial_val, out->initial_test, nrank, out->initial_gflops);
    } else {
        out->resumed_rounds = out->nrounds;
        for (int i = 0; i < out->nrounds; i++)
            for (int k = 0; k < out->rounds[i].ncand; k++) {
                hr_joint_candidate *c = &out->rounds[i].cand[k];
                hr_model_alpha_name(model, c->block, c->branch, c->name, sizeof c->name);
            }
        logf_(p, "domain %d: resumed from %s after %d rounds%s", domain, p->checkpoint, out->nrounds,
              out->complete ? " (finished)" : "");
    }
    if (p->trainer) {
        /* no per-image results: the unpruned model's accuracy only */
        float *un = malloc(sizeof *un * (size_t)na + 1);
        double v;
        if (!un) {
            st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
            goto done;
        }
        out->guard = p->guard;
        out->unpruned_same = !unpruned_alpha(model, out->alpha_initial, un);
        out->unpruned_test = out->initial_test;
        st = out->unpruned_same ? HR_OK : p->trainer->evaluate(p->trainer->user, un, &v, &out->unpruned_test, err);
        free(un);
        if (st)
            goto done;
    }
    if (s.nproc > 1 && (st = check_same_state(&s, out, ranking, nrank, pool, npool, next, err)))
        goto done;

    while (!out->complete) {
        if (out->nrounds >= p->rounds) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "round limit (%d)", p->rounds);
            out->complete = 1;
            break;
        }
        if (npool == 0) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "no branch left to prune");
            out->complete = 1;
            break;
        }
        if (p->stop_after && new_rounds >= p->stop_after)
            break;
        hr_joint_round *r = &out->rounds[out->nrounds];
        memset(r, 0, sizeof *r);
        r->round = out->nrounds + 1;
        r->winner = -1;
        r->cand = calloc((size_t)npool, sizeof *r->cand);
        if (!r->cand) {
            st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
            goto done;
        }
        r->ncand = npool;
        /* testable candidates in pool order */
        s.ntest = 0;
        for (int i = 0; i < npool; i++) {
            hr_joint_candidate *c = &r->cand[i];
            c->block = pool[i] / 3;
            c->branch = (hr_branch)(pool[i] % 3);
            hr_model_alpha_name(model, c->block, c->branch, c->name, sizeof c->name);
            c->skipped = live_in_block(out->alpha, c->block) <= 1;
            if (!c->skipped)
                s.cand[s.ntest++] = *c;
        }
        s.round = r->round;
        s.cur = out->alpha;
        s.nmine = 0;
        for (int i = s.rank; i < s.ntest; i += s.nproc)
            s.mine[s.nmine++] = i;
        if (p->trainer)
            logf_(p, "round %d: testing %d of %d candidates one after another", r->round, s.ntest, npool);
        else if (s.nproc > 1)
            logf_(p, "round %d: testing %d of %d candidates on %d processes (up to %d worker(s) each)", r->round,
                  s.ntest, npool, s.nproc, s.nslots);
        else
            logf_(p, "round %d: testing %d of %d candidates on %d worker(s)", r->round, s.ntest, npool,
                  s.nslots < s.ntest ? s.nslots : s.ntest);
        if (s.ntest > 0) {
            hr_status lst = HR_OK;
            hr_error lerr = {0};
            for (int w = 0; w < s.nslots; w++) {
                s.slots[w].st = HR_OK;
                hr_error_clear(&s.slots[w].err);
            }
            if (p->trainer)
                for (int j = 0; j < s.nmine && !s.slots[0].st; j++) {
                    int i = s.mine[j];
                    s.slots[0].st = p->trainer->train(p->trainer->user, s.round, s.cur, &s.cand[i],
                                                      s.cand_alpha + (size_t)i * (size_t)na, &s.slots[0].err);
                }
            else if (s.nmine > 0)
                hr_ctx_parallel_for(hr_model_ctx(model), s.nslots < s.nmine ? s.nslots : s.nmine, slot_fn, &s);
            for (int w = 0; w < s.nslots && !lst; w++)
                if (s.slots[w].st) {
                    lst = s.slots[w].st;
                    lerr = s.slots[w].err;
                }
            /* with several processes a failure goes through the exchange too, so no peer waits for it */
            if (s.nproc > 1)
                st = exchange_round(&s, lst, &lerr, err);
            else if ((st = lst) && err) {
                *err = lerr;
                hr_error_prefix(err, "joint round %d", r->round);
            }
            if (st) {
                free(r->cand);
                r->cand = NULL;
                goto done;
            }
        }
        /* copy results back in pool order; winner: best validation, first in pool order */
        int best = -1, bt = -1;
        for (int i = 0, k = 0; i < npool; i++) {
            if (r->cand[i].skipped)
                continue;
            r->cand[i] = s.cand[k];
            if (best < 0 || r->cand[i].best_val > r->cand[best].best_val)
                best = i, bt = k;
            k++;
        }
        for (int i = 0; i < npool; i++) {
            const hr_joint_candidate *c = &r->cand[i];
            if (c->skipped)
                logf_(p, "round %d: %s skipped (last live branch of its block)", r->round, c->name);
            else
                logf_(p, "round %d: %s best epoch %d validation %.2f%% test %.2f%%", r->round, c->name,
                      c->best_epoch, c->best_val, c->best_test);
        }
        r->winner = best;
        out->nrounds++;
        new_rounds++;
        if (best < 0) {
            r->best_so_far = out->best_so_far;
            r->num_pruned = out->npruned;
            r->remaining_gflops = live_gflops(model, out->alpha);
            r->flops_reduction_pct = 100.0 * (1.0 - r->remaining_gflops / out->initial_gflops);
            snprintf(out->stop_reason, sizeof out->stop_reason, "every candidate is its block's last live branch");
            out->complete = 1;
        } else {
            const hr_joint_candidate *w = &r->cand[best];
            r->val_acc = w->best_val;
            r->test_acc = w->best_test;
            record_guard(&s, out, r, w);
            int reject = p->guard == HR_GUARD_BOUND ? r->guard_bound > p->threshold
                                                    : out->best_so_far - w->best_val > p->threshold;
            if (reject) {
                char why[2048];
                if (p->guard == HR_GUARD_BOUND)
                    snprintf(why, sizeof why, "accuracy guard: best candidate %s drops %.2f points on the guard half "
                             "(upper bound %.2f > %.2f)", w->name, r->guard_drop, r->guard_bound, p->threshold);
                else
                    snprintf(why, sizeof why, "accuracy: best candidate %s %.2f%% is more than %.2f points below "
                             "%.2f%%", w->name, w->best_val, p->threshold, out->best_so_far);
                why[sizeof out->stop_reason - 1] = '\0';
                memcpy(out->stop_reason, why, sizeof out->stop_reason);
                out->complete = 1;
            } else {
                const float *won = s.cand_alpha + (size_t)bt * (size_t)na;
                r->applied = 1;
                r->alpha = malloc(sizeof(float) * (size_t)na);
                if (!r->alpha) {
                    st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
                    goto done;
                }
                out->pruned_block[out->npruned] = w->block;
                out->pruned_branch[out->npruned] = w->branch;
                out->npruned++;
                /* the threshold rule may have zeroed other branches while
                 * the winner retrained: they are pruned too, after it, in
                 * block order */
                for (int i = 0; i < na; i++)
                    if (won[i] == 0.0f && out->alpha[i] != 0.0f && i != w->block * 3 + (int)w->branch) {
                        out->pruned_block[out->npruned] = i / 3;
                        out->pruned_branch[out->npruned] = (hr_branch)(i % 3);
                        out->npruned++;
                        r->nthreshold++;
                    }
                memcpy(out->alpha, won, sizeof(float) * (size_t)na);
                out->alpha[w->block * 3 + (int)w->branch] = 0.0f;
                memcpy(r->alpha, out->alpha, sizeof(float) * (size_t)na);
                if (w->best_val > out->best_so_far)
                    out->best_so_far = w->best_val;
                out->final_val = w->best_val;
                out->final_test = w->best_test;
                /* leave the pool (with any branch the threshold rule pruned),
                   refill with the next ranked branch neither pruned nor pooled */
                memmove(pool + best, pool + best + 1, sizeof(int) * (size_t)(npool - best - 1));
                npool--;
                int kept = 0;
                for (int i = 0; i < npool; i++)
                    if (out->alpha[pool[i]] != 0.0f)
                        pool[kept++] = pool[i];
                npool = kept;
                for (; npool < p->pool && next < nrank; next++)
                    if (out->alpha[ranking[next]] != 0.0f)
                        pool[npool++] = ranking[next];
            }
            r->best_so_far = out->best_so_far;
            r->num_pruned = out->npruned;
            r->remaining_gflops = live_gflops(model, out->alpha);
            out->final_gflops = r->remaining_gflops;
            r->flops_reduction_pct = 100.0 * (1.0 - r->remaining_gflops / out->initial_gflops);
            logf_(p, "round %d: %s %s (validation %.2f%%, test %.2f%%; guard drop %.2f, bound %.2f)%s, %.4f GFLOPs "
                  "left (-%.2f%%)", r->round, r->applied ? "pruned" : "stopped before pruning", w->name, w->best_val,
                  w->best_test, r->guard_drop, r->guard_bound, r->nthreshold ? " and by the threshold rule more" : "",
                  r->remaining_gflops, r->flops_reduction_pct);
        }
        if (p->checkpoint && s.rank == 0 &&
            (st = hr__joint_checkpoint_save(p->checkpoint, p->fingerprint ? p->fingerprint : "", domain, ranking,
                                            nrank, out, pool, npool, next, err)))
            goto done;
    }
    /* a finished run is recorded as such (unless it was read finished) */
    if (out->complete && p->checkpoint && s.rank == 0 && !(resumed && out->resumed_rounds == out->nrounds) &&
        (st = hr__joint_checkpoint_save(p->checkpoint, p->fingerprint ? p->fingerprint : "", domain, ranking,
                                             nrank, out, pool, npool, next, err)))
        goto done;
    if (out->complete)
        logf_(p, "domain %d: stopped: %s; %d branches pruned, test accuracy %.2f%% -> %.2f%%", domain,
              out->stop_reason, out->npruned, out->initial_test, out->final_test);
done:
    for (int w = 0; s.slots && w < s.nslots; w++)
        slot_close(&s.slots[w]);
    free(s.slots);
    free(s.mine);
    free(s.xsend);
    free(s.xrecv);
    free(s.cand);
    free(s.cand_alpha);
    free(s.ref_val);
    free(s.ref_test);
    free(pool);
    free(ranking);
    hr_tensor_map_destroy(weights);
    if (st)
        hr_joint_result_deinit(out);
    return st;
}
