/* Where co-design pays (issue 12, part 6): the exact solver over a grid of
 * link bandwidths, edge slowdowns and edge counts, for a pruned state and
 * for its Neurosurgeon-style baseline. See include/hyperrep/optim.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"
#include "hyperrep/optim.h"

static const double default_bandwidth[] = {1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000};
static const double default_slowdown[] = {2, 4, 8, 16, 32};
static const int default_edges[] = {1};

hr_sensitivity_params hr_sensitivity_params_default(void)
{
    hr_sensitivity_params p;
    memset(&p, 0, sizeof p);
    p.optim = hr_optim_params_default();
    return p;
}

void hr_sensitivity_init(hr_sensitivity *s)
{
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->region.best_index = -1;
    s->region.best_saving_pct = NAN;
    s->min_split_bytes_at = -1;
}

void hr_sensitivity_deinit(hr_sensitivity *s)
{
    if (!s)
        return;
    free(s->bandwidth_mbit_s);
    free(s->slowdown);
    free(s->edges);
    free(s->points);
    hr_sensitivity_init(s);
}

const hr_sensitivity_point *hr_sensitivity_point_at(const hr_sensitivity *s, int edge, int slowdown, int bandwidth)
{
    if (!s || !s->points || edge < 0 || edge >= s->nedges || slowdown < 0 || slowdown >= s->nslowdown ||
        bandwidth < 0 || bandwidth >= s->nbandwidth)
        return NULL;
    return &s->points[((size_t)edge * (size_t)s->nslowdown + (size_t)slowdown) * (size_t)s->nbandwidth +
                      (size_t)bandwidth];
}

/* An axis must be short, finite, positive and strictly increasing: the
 * summary reads bands off it in order. */
static hr_status check_axis(const char *what, const double *v, int n, hr_error *err)
{
    if (n < 1 || n > HR_SENSITIVITY_MAX_AXIS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: %d %s values, expected 1..%d", n, what,
                            HR_SENSITIVITY_MAX_AXIS);
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i]))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: %s value %d is %g, expected > 0 and finite",
                                what, i, v[i]);
        if (i && !(v[i] > v[i - 1]))
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "sensitivity: %s values must increase strictly (%g follows %g)", what, v[i], v[i - 1]);
    }
    return HR_OK;
}

static double *dup_doubles(const double *v, int n)
{
    double *d = malloc(sizeof *d * (size_t)n);
    if (d)
        memcpy(d, v, sizeof *d * (size_t)n);
    return d;
}

/* The LUT's recorded client factor; anything unusable counts as no
 * emulation, so the host times are the LUT's own. */
static double recorded_client_slowdown(const hr_lut *lut)
{
    double f = lut->slowdown[HR_DEVICE_CLIENT];
    return f > 0 && isfinite(f) ? f : 1.0;
}

/* Rescales the client times of work (a copy of base with its own blocks)
 * by factor: the recorded emulation is undone and the slowdown applied in
 * one multiplication. Invalid entries (-1) stay invalid. */
static void scale_client(hr_lut *work, const hr_lut *base, double factor)
{
    for (int k = 0; k < base->nblocks; k++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            double t = base->blocks[k].t_ms[HR_DEVICE_CLIENT][g];
            work->blocks[k].t_ms[HR_DEVICE_CLIENT][g] = t >= 0 ? t * factor : t;
        }
    work->t_stage0_ms[HR_DEVICE_CLIENT] = base->t_stage0_ms[HR_DEVICE_CLIENT] * factor;
    work->t_classifier_ms[HR_DEVICE_CLIENT] = base->t_classifier_ms[HR_DEVICE_CLIENT] * factor;
    /* Framing and hand-offs are CPU work on the edge too (as emulation
     * scales them, src/lut/device_lut.c). */
    work->t_frame_ms[HR_DEVICE_CLIENT] = base->t_frame_ms[HR_DEVICE_CLIENT] * factor;
    work->slowdown[HR_DEVICE_CLIENT] = base->slowdown[HR_DEVICE_CLIENT] > 0 ? base->slowdown[HR_DEVICE_CLIENT] * factor
                                                                             : factor;
}

#define GAIN(ours, base) ((base) > 0 ? 100.0 * ((ours) / (base) - 1.0) : 0.0)

/* Reads the pruned state's placements off the exact solver's list (every
 * available placement, in the order raw, 0..N, local). */
static void compare_placements(const hr_optim_result *ex, hr_sensitivity_point *pt)
{
    double best_end;
    pt->best_split = -1;
    pt->split_value = pt->raw_value = pt->local_value = NAN;
    for (int i = 0; i < ex->nsplits; i++) {
        const hr_optim_split *sp = &ex->splits[i];
        int pl = sp->eval.placement;
        if (pl == HR_PLACEMENT_RAW)
            pt->raw_value = sp->objective_value;
        else if (pl == HR_PLACEMENT_LOCAL)
            pt->local_value = sp->objective_value;
        else if (pt->best_split < 0 || sp->objective_value < pt->split_value) {
            pt->best_split = pl;
            pt->split_value = sp->objective_value;
        }
    }
    best_end = fmin(pt->raw_value, pt->local_value); /* fmin ignores one NAN */
    if (pt->best_split < 0 || isnan(best_end) || !(best_end > 0)) {
        pt->split_saving_pct = NAN;
        pt->split_pays = 0;
        return;
    }
    pt->split_saving_pct = 100.0 * (best_end - pt->split_value) / best_end;
    pt->split_pays = pt->split_value < best_end;
}

/* One grid point on the scaled LUT: the pruned state's exact optimum and
 * the baseline, both for the same settings (link already replaced). */
static hr_status solve_point(const hr_lut *work, const unsigned *live, const hr_optim_params *prm,
                             hr_sensitivity_point *pt, hr_error *err)
{
    hr_optim_problem *p = NULL;
    hr_optim_result ex;
    hr_joint_baseline base;
    hr_status st;

    hr_optim_result_init(&ex);
    if ((st = hr_optim_problem_create(work, live, prm, &p, err)) || (st = hr_optim_exact(p, &ex, err)) ||
        (st = hr_joint_baseline_compute(work, prm, &base, err)))
        goto done;
    pt->final_eval = ex.eval;
    pt->final_value = ex.objective_value;
    pt->baseline_eval = base.eval;
    pt->baseline_value = base.objective_value;
    pt->gain_fps_pct = GAIN(ex.eval.fps, base.eval.fps);
    pt->gain_pipelined_pct = GAIN(ex.eval.pipelined_fps, base.eval.pipelined_fps);
    compare_placements(&ex, pt);
done:
    hr_optim_result_deinit(&ex);
    hr_optim_problem_destroy(p);
    return st;
}

/* What raw and the cheapest split send, for the summary's "why not". */
static void link_bytes(const hr_lut *lut, const unsigned *live, const hr_optim_params *prm, hr_sensitivity *r)
{
    hr_optim_problem *p = NULL;
    if (hr_optim_problem_create(lut, live, prm, &p, NULL))
        return;
    for (int pl = HR_PLACEMENT_RAW; pl <= lut->nblocks; pl++) {
        hr_optim_eval e;
        int *g = NULL;
        if (pl == HR_PLACEMENT_LOCAL || !hr_optim_placement_available(p, pl))
            continue;
        /* The bytes crossing do not depend on γ; evaluate with the deploy γ. */
        if (!(g = malloc(sizeof *g * (size_t)lut->nblocks)))
            break;
        for (int k = 0; k < lut->nblocks; k++)
            g[k] = hr_gamma_deploy(hr_optim_problem_live(p, k));
        if (hr_optim_evaluate(p, g, pl, &e, NULL) == HR_OK) {
            if (pl == HR_PLACEMENT_RAW)
                r->raw_bytes = e.bytes;
            else if (r->min_split_bytes_at < 0 || e.bytes < r->min_split_bytes) {
                r->min_split_bytes = e.bytes;
                r->min_split_bytes_at = pl;
            }
        }
        free(g);
    }
    hr_optim_problem_destroy(p);
}

/* The bounding box of the points where a split pays, and the point where a
 * split does best against the better end (or comes closest). */
static void find_region(hr_sensitivity *r)
{
    hr_sensitivity_region *g = &r->region;
    for (int i = 0; i < r->npoints; i++) {
        const hr_sensitivity_point *pt = &r->points[i];
        if (!isnan(pt->split_saving_pct) && (g->best_index < 0 || pt->split_saving_pct > g->best_saving_pct)) {
            g->best_index = i;
            g->best_saving_pct = pt->split_saving_pct;
        }
        if (!pt->split_pays)
            continue;
        if (!g->npoints++) {
            g->bandwidth_lo = g->bandwidth_hi = pt->bandwidth_mbit_s;
            g->slowdown_lo = g->slowdown_hi = pt->slowdown;
            g->edges_lo = g->edges_hi = pt->edges;
        }
        g->bandwidth_lo = fmin(g->bandwidth_lo, pt->bandwidth_mbit_s);
        g->bandwidth_hi = fmax(g->bandwidth_hi, pt->bandwidth_mbit_s);
        g->slowdown_lo = fmin(g->slowdown_lo, pt->slowdown);
        g->slowdown_hi = fmax(g->slowdown_hi, pt->slowdown);
        g->edges_lo = pt->edges < g->edges_lo ? pt->edges : g->edges_lo;
        g->edges_hi = pt->edges > g->edges_hi ? pt->edges : g->edges_hi;
    }
}

hr_status hr_sensitivity_compute(const hr_lut *lut, const unsigned *live, const hr_sensitivity_params *params,
                                 hr_sensitivity *out, hr_error *err)
{
    hr_sensitivity_params defaults = hr_sensitivity_params_default();
    hr_sensitivity r;
    hr_lut work;
    hr_link base_link;
    hr_status st;
    const double *bw, *sl;
    const int *ed;
    int nbw, nsl, ned;
    size_t nblk;

    if (!lut || !out || !lut->blocks || lut->nblocks < 1 || lut->nblocks > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: needs a LUT with 1..%d blocks and a result",
                            HR_LUT_MAX_BLOCKS);
    if (!params)
        params = &defaults;
    bw = params->bandwidth_mbit_s && params->nbandwidth ? params->bandwidth_mbit_s : default_bandwidth;
    nbw = params->bandwidth_mbit_s && params->nbandwidth ? params->nbandwidth
                                                          : (int)(sizeof default_bandwidth / sizeof *default_bandwidth);
    sl = params->slowdown && params->nslowdown ? params->slowdown : default_slowdown;
    nsl = params->slowdown && params->nslowdown ? params->nslowdown
                                                : (int)(sizeof default_slowdown / sizeof *default_slowdown);
    ed = params->edges && params->nedges ? params->edges : default_edges;
    ned = params->edges && params->nedges ? params->nedges : 1;
    if ((st = check_axis("bandwidth (Mbit/s)", bw, nbw, err)) || (st = check_axis("edge slowdown", sl, nsl, err)))
        return st;
    if (ned < 1 || ned > HR_SENSITIVITY_MAX_AXIS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: %d edge counts, expected 1..%d", ned,
                            HR_SENSITIVITY_MAX_AXIS);
    for (int e = 0; e < ned; e++)
        if (ed[e] != 1)
            return hr_error_set(err, HR_ERR_UNSUPPORTED,
                                "sensitivity: K = %d edges per server: the shared server (SPEC §13.10, --edges) is "
                                "not modelled yet, only K = 1", ed[e]);

    hr_sensitivity_init(&r);
    r.objective = params->optim.objective;
    r.head = params->optim.head;
    r.nblocks = lut->nblocks;
    r.nbandwidth = nbw, r.nslowdown = nsl, r.nedges = ned;
    r.npoints = nbw * nsl * ned;
    r.lut_slowdown = recorded_client_slowdown(lut);
    base_link = params->optim.link_override ? params->optim.link : lut->link;
    r.link = base_link;
    r.bandwidth_mbit_s = dup_doubles(bw, nbw);
    r.slowdown = dup_doubles(sl, nsl);
    r.edges = malloc(sizeof *r.edges * (size_t)ned);
    r.points = calloc((size_t)r.npoints, sizeof *r.points);
    /* A shallow copy keeps every LUT field (present and future) as the LUT
     * has it; only the blocks, whose client times change, are its own. */
    nblk = (size_t)lut->nblocks;
    work = *lut;
    work.blocks = malloc(sizeof *work.blocks * nblk);
    if (!r.bandwidth_mbit_s || !r.slowdown || !r.edges || !r.points || !work.blocks) {
        free(work.blocks);
        hr_sensitivity_deinit(&r);
        return hr_error_set(err, HR_ERR_NOMEM, "sensitivity: out of memory for %d points", r.npoints);
    }
    memcpy(r.edges, ed, sizeof *r.edges * (size_t)ned);
    memcpy(work.blocks, lut->blocks, sizeof *work.blocks * nblk);
    for (int e = 0; e < ned; e++)
        for (int s = 0; s < nsl; s++) {
            scale_client(&work, lut, sl[s] / r.lut_slowdown);
            for (int b = 0; b < nbw; b++) {
                hr_sensitivity_point *pt = &r.points[((size_t)e * (size_t)nsl + (size_t)s) * (size_t)nbw + (size_t)b];
                hr_optim_params prm = params->optim;
                prm.link_override = 1;
                prm.link = base_link;
                prm.link.bandwidth_mbit_s = bw[b];
                prm.link.source = HR_BW_MBIT;
                pt->bandwidth_mbit_s = bw[b];
                pt->slowdown = sl[s];
                pt->edges = ed[e];
                if ((st = solve_point(&work, live, &prm, pt, err))) {
                    hr_error_prefix(err, "sensitivity at %g Mbit/s, edge slowdown %g, K = %d", bw[b], sl[s], ed[e]);
                    free(work.blocks);
                    hr_sensitivity_deinit(&r);
                    return st;
                }
            }
        }
    {
        hr_optim_params prm = params->optim;
        unsigned *ex = malloc(sizeof *ex * nblk);
        if (ex && hr_optim_existing_branches(lut, ex, NULL) == HR_OK)
            for (size_t k = 0; k < nblk; k++)
                for (unsigned m = ex[k] & ~(live ? live[k] : ex[k]); m; m &= m - 1)
                    r.npruned++;
        free(ex);
        prm.link_override = 1;
        prm.link = base_link;
        link_bytes(lut, live, &prm, &r);
    }
    free(work.blocks);
    find_region(&r);
    hr_sensitivity_deinit(out);
    *out = r;
    return HR_OK;
}

/* ---- the summary in words ---- */

typedef struct textbuf {
    char *p;
    unsigned long size, n; /* n: the length the whole text needs */
} textbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(textbuf *t, const char *fmt, ...)
{
    va_list ap;
    unsigned long room = t->n < t->size ? t->size - t->n : 0;
    int k;
    va_start(ap, fmt);
    k = vsnprintf(room ? t->p + t->n : NULL, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        t->n += (unsigned long)k;
}

static const char *placement_str(int placement, char *buf, size_t size)
{
    if (placement < 0)
        return hr_placement_format(placement, buf, size);
    snprintf(buf, size, "split %d", placement);
    return buf;
}

static void put_bytes(textbuf *t, double bytes)
{
    if (bytes >= 1e6)
        put(t, "%.3g MB", bytes / 1e6);
    else if (bytes >= 1e3)
        put(t, "%.3g kB", bytes / 1e3);
    else
        put(t, "%.0f B", bytes);
}

/* The bandwidths of one slowdown row where a split pays, as runs of
 * consecutive grid values ("10–50, 500 Mbit/s"). */
static void put_bands(textbuf *t, const hr_sensitivity *s, int e, int sl)
{
    int first = 1;
    for (int b = 0; b < s->nbandwidth; b++) {
        int end = b;
        if (!hr_sensitivity_point_at(s, e, sl, b)->split_pays)
            continue;
        while (end + 1 < s->nbandwidth && hr_sensitivity_point_at(s, e, sl, end + 1)->split_pays)
            end++;
        put(t, "%s%g", first ? "" : ", ", s->bandwidth_mbit_s[b]);
        if (end > b)
            put(t, "–%g", s->bandwidth_mbit_s[end]);
        first = 0;
        b = end;
    }
    put(t, " Mbit/s");
}

int hr_sensitivity_summary(const hr_sensitivity *s, char *buf, unsigned long size)
{
    textbuf t = {buf, size, 0};
    char pl[32];
    const char *obj;
    const hr_sensitivity_point *best;

    if (buf && size)
        buf[0] = '\0';
    if (!s || !s->points || s->npoints < 1) {
        put(&t, "No sensitivity sweep was computed.");
        return (int)t.n;
    }
    obj = hr_objective_name(s->objective);
    best = s->region.best_index >= 0 ? &s->points[s->region.best_index] : NULL;
    if (s->region.npoints > 0) {
        put(&t, "A split (s = 0..%d) beats both all-edge (local) and all-server (raw) for the %s objective at %d of "
                "%d grid points: link %g–%g Mbit/s, edge slowdown %g–%gx",
            s->nblocks, obj, s->region.npoints, s->npoints, s->region.bandwidth_lo, s->region.bandwidth_hi,
            s->region.slowdown_lo, s->region.slowdown_hi);
        if (s->nedges > 1 || s->region.edges_lo != 1)
            put(&t, ", K = %d–%d edges", s->region.edges_lo, s->region.edges_hi);
        put(&t, " (");
        for (int e = 0, first = 1; e < s->nedges; e++)
            for (int sl = 0; sl < s->nslowdown; sl++) {
                int any = 0;
                for (int b = 0; b < s->nbandwidth; b++)
                    any |= hr_sensitivity_point_at(s, e, sl, b)->split_pays;
                if (!any)
                    continue;
                put(&t, "%s%gx", first ? "" : "; ", s->slowdown[sl]);
                if (s->nedges > 1)
                    put(&t, ", K = %d", s->edges[e]);
                put(&t, ": ");
                put_bands(&t, s, e, sl);
                first = 0;
            }
        put(&t, "). It saves up to %.1f %% of the %s against the better of the two (%s at %g Mbit/s, %gx).",
            s->region.best_saving_pct, obj, placement_str(best->best_split, pl, sizeof pl), best->bandwidth_mbit_s,
            best->slowdown);
        return (int)t.n;
    }
    put(&t, "There is none for this model: at no point of the grid (link %g–%g Mbit/s, edge slowdown %g–%gx, K = ",
        s->bandwidth_mbit_s[0], s->bandwidth_mbit_s[s->nbandwidth - 1], s->slowdown[0],
        s->slowdown[s->nslowdown - 1]);
    for (int e = 0; e < s->nedges; e++)
        put(&t, "%s%d", e ? ", " : "", s->edges[e]);
    put(&t, ") does a split (s = 0..%d) beat both all-edge (local) and all-server (raw) for the %s objective.",
        s->nblocks, obj);
    if (best)
        put(&t, " The closest a split comes is %.1f %% slower than the better of the two (%s at %g Mbit/s, %gx).",
            -s->region.best_saving_pct, placement_str(best->best_split, pl, sizeof pl), best->bandwidth_mbit_s,
            best->slowdown);
    if (s->raw_bytes > 0 && s->min_split_bytes_at >= 0) {
        put(&t, " A raw frame is ");
        put_bytes(&t, s->raw_bytes);
        put(&t, "; the smallest tensor a split sends is ");
        put_bytes(&t, s->min_split_bytes);
        put(&t, " (split %d).", s->min_split_bytes_at);
    }
    return (int)t.n;
}
