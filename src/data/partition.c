/* Partitions of the two pools into 10 domains, each with disjoint train,
 * validation and test parts (SPEC §8), and partition_info.json.
 *
 * Both kinds work class by class: each class's samples in each pool are put
 * in a seeded random order and cut into consecutive runs, one per domain
 * (classes: the whole class to its group; dirichlet: runs sized by the
 * class's Dirichlet proportions). Cutting the test pool's classes with the
 * same proportions gives every domain a test part with its training
 * subset's class mix. The validation part takes the last samples of each
 * run, so it is a random, class-stratified share of the domain. */
#include "data/data_internal.h"
#include "hyperrep/weights.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G HR_NUM_DOMAINS
#define UNION G /* row of the per-domain tables that holds the union */
#define MAX_ATTEMPTS 1000

struct hr_partition {
    hr_partition_kind kind;
    hr_partition_params params;
    int num_classes;
    char **class_names;
    int64_t *idx[G + 1][HR_PART_COUNT];
    int64_t n[G + 1][HR_PART_COUNT];
    int64_t *counts[G + 1][HR_PART_COUNT]; /* per class */
    int *class_group;                      /* classes: K entries */
};

hr_partition_params hr_partition_params_default(void)
{
    hr_partition_params p;
    memset(&p, 0, sizeof p);
    p.kind = HR_PARTITION_AUTO;
    p.dirichlet_alpha = 0.5;
    p.val_fraction = 0.15;
    p.min_domain_size = 10;
    p.seed = 42;
    return p;
}

const char *hr_partition_kind_name(hr_partition_kind kind)
{
    switch (kind) {
    case HR_PARTITION_AUTO: return "auto";
    case HR_PARTITION_CLASSES: return "classes";
    case HR_PARTITION_DIRICHLET: return "dirichlet";
    default: return "unknown";
    }
}

int hr_partition_kind_parse(const char *s)
{
    for (int k = 0; k < HR_PARTITION_KIND_COUNT; k++)
        if (s && strcmp(s, hr_partition_kind_name((hr_partition_kind)k)) == 0)
            return k;
    return -1;
}

void hr_partition_destroy(hr_partition *p)
{
    if (!p)
        return;
    for (int d = 0; d <= G; d++)
        for (int t = 0; t < HR_PART_COUNT; t++) {
            free(p->idx[d][t]);
            free(p->counts[d][t]);
        }
    if (p->class_names)
        for (int k = 0; k < p->num_classes; k++)
            free(p->class_names[k]);
    free(p->class_names);
    free(p->class_group);
    free(p);
}

/* Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 via the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a). */
static double gamma_draw(hr__rng *r, double a)
{
    double boost = 1.0, d, c;
    if (a < 1.0) {
        double u = hr__rng_uniform(r);
        boost = pow(u, 1.0 / a);
        a += 1.0;
    }
    d = a - 1.0 / 3.0;
    c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = hr__rng_normal(r), v = 1.0 + c * x, u;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        u = hr__rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return boost * d * v;
    }
}

/* Samples of each class in one pool, each class in a seeded random order:
 * order[start[k] .. start[k+1]) are class k's indices. */
typedef struct class_lists {
    int64_t *order;
    int64_t *start; /* K + 1 */
} class_lists;

static hr_status class_lists_build(const hr_dataset *ds, uint64_t seed, class_lists *cl, hr_error *err)
{
    int K = ds->num_classes;
    int64_t *fill;

    cl->order = malloc((size_t)ds->n * sizeof *cl->order);
    cl->start = calloc((size_t)K + 1, sizeof *cl->start);
    fill = calloc((size_t)K + 1, sizeof *fill);
    if (!cl->order || !cl->start || !fill) {
        free(fill);
        return hr_error_set(err, HR_ERR_NOMEM, "partition: out of memory");
    }
    for (int64_t i = 0; i < ds->n; i++)
        cl->start[ds->labels[i] + 1]++;
    for (int k = 0; k < K; k++)
        cl->start[k + 1] += cl->start[k];
    for (int64_t i = 0; i < ds->n; i++) {
        int k = ds->labels[i];
        cl->order[cl->start[k] + fill[k]++] = i;
    }
    for (int k = 0; k < K; k++) {
        hr__rng r;
        hr__rng_seed(&r, seed, hr__stream(HR__STREAM_CLASS_ORDER, (uint64_t)ds->pool, (uint64_t)k, 0));
        hr__shuffle_i64(&r, cl->order + cl->start[k], cl->start[k + 1] - cl->start[k]);
    }
    free(fill);
    return HR_OK;
}

static void class_lists_free(class_lists *cl)
{
    free(cl->order);
    free(cl->start);
}

/* cut[k·(G+1) + d]: class k's run for domain d is [cut[d], cut[d+1]) of its
 * list of n_k samples, from the proportions prop[k·G + d]. */
static void cuts_from_proportions(const double *prop, const int64_t *start, int K, int64_t *cut)
{
    for (int k = 0; k < K; k++) {
        int64_t nk = start[k + 1] - start[k];
        double cum = 0.0;
        int64_t *c = cut + (size_t)k * (G + 1);
        c[0] = 0;
        for (int d = 0; d < G; d++) {
            cum += prop[(size_t)k * G + d];
            c[d + 1] = d == G - 1 ? nk : (int64_t)llround(cum * (double)nk);
            if (c[d + 1] < c[d])
                c[d + 1] = c[d];
            if (c[d + 1] > nk)
                c[d + 1] = nk;
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Validation samples per class of one domain: round(f·total) in all, the
 * share of class k proportional to its count, by largest remainder (ties to
 * the lower class). */
static void val_counts(const int64_t *cnt, int K, double f, int64_t *val, double *frac)
{
    int64_t total = 0, assigned = 0, want;
    for (int k = 0; k < K; k++)
        total += cnt[k];
    want = (int64_t)llround(f * (double)total);
    for (int k = 0; k < K; k++) {
        double t = f * (double)cnt[k];
        val[k] = (int64_t)floor(t);
        frac[k] = t - (double)val[k];
        assigned += val[k];
    }
    while (assigned < want) {
        int best = -1;
        for (int k = 0; k < K; k++)
            if (val[k] < cnt[k] && (best < 0 || frac[k] > frac[best]))
                best = k;
        if (best < 0)
            break;
        val[best]++;
        frac[best] = -1.0;
        assigned++;
    }
}

static hr_status alloc_part(hr_partition *p, int d, int t, int64_t n)
{
    p->n[d][t] = n;
    p->idx[d][t] = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    p->counts[d][t] = calloc((size_t)p->num_classes, sizeof(int64_t));
    return p->idx[d][t] && p->counts[d][t] ? HR_OK : HR_ERR_NOMEM;
}

/* Fills every part from the cut tables of the two pools. */
static hr_status fill_parts(hr_partition *p, const class_lists *tr, const class_lists *te, const int64_t *cut_tr,
                            const int64_t *cut_te)
{
    int K = p->num_classes;
    int64_t *cnt = malloc((size_t)K * sizeof *cnt), *val = malloc((size_t)K * sizeof *val);
    double *frac = malloc((size_t)K * sizeof *frac);
    int64_t total[HR_PART_COUNT] = {0, 0, 0};
    hr_status st = HR_OK;

    if (!cnt || !val || !frac) {
        st = HR_ERR_NOMEM;
        goto done;
    }
    for (int d = 0; d < G && st == HR_OK; d++) {
        int64_t ntr = 0, nva = 0, nte = 0, a = 0, b = 0, c = 0;
        for (int k = 0; k < K; k++) {
            const int64_t *ct = cut_tr + (size_t)k * (G + 1), *ce = cut_te + (size_t)k * (G + 1);
            cnt[k] = ct[d + 1] - ct[d];
            nte += ce[d + 1] - ce[d];
        }
        val_counts(cnt, K, p->params.val_fraction, val, frac);
        for (int k = 0; k < K; k++) {
            nva += val[k];
            ntr += cnt[k] - val[k];
        }
        if (alloc_part(p, d, HR_PART_TRAIN, ntr) || alloc_part(p, d, HR_PART_VAL, nva) ||
            alloc_part(p, d, HR_PART_TEST, nte)) {
            st = HR_ERR_NOMEM;
            break;
        }
        for (int k = 0; k < K; k++) {
            const int64_t *ct = cut_tr + (size_t)k * (G + 1), *ce = cut_te + (size_t)k * (G + 1);
            const int64_t *run = tr->order + tr->start[k] + ct[d];
            int64_t len = ct[d + 1] - ct[d], keep = len - val[k];
            for (int64_t i = 0; i < keep; i++)
                p->idx[d][HR_PART_TRAIN][a++] = run[i];
            for (int64_t i = keep; i < len; i++)
                p->idx[d][HR_PART_VAL][b++] = run[i];
            run = te->order + te->start[k] + ce[d];
            for (int64_t i = 0; i < ce[d + 1] - ce[d]; i++)
                p->idx[d][HR_PART_TEST][c++] = run[i];
            p->counts[d][HR_PART_TRAIN][k] = keep;
            p->counts[d][HR_PART_VAL][k] = val[k];
            p->counts[d][HR_PART_TEST][k] = ce[d + 1] - ce[d];
        }
        for (int t = 0; t < HR_PART_COUNT; t++) {
            qsort(p->idx[d][t], (size_t)p->n[d][t], sizeof(int64_t), cmp_i64);
            total[t] += p->n[d][t];
        }
    }
    for (int t = 0; t < HR_PART_COUNT && st == HR_OK; t++) {
        int64_t at = 0;
        if (alloc_part(p, UNION, t, total[t])) {
            st = HR_ERR_NOMEM;
            break;
        }
        for (int d = 0; d < G; d++) {
            memcpy(p->idx[UNION][t] + at, p->idx[d][t], (size_t)p->n[d][t] * sizeof(int64_t));
            at += p->n[d][t];
            for (int k = 0; k < K; k++)
                p->counts[UNION][t][k] += p->counts[d][t][k];
        }
        qsort(p->idx[UNION][t], (size_t)total[t], sizeof(int64_t), cmp_i64);
    }
done:
    free(cnt);
    free(val);
    free(frac);
    return st;
}

/* Draws Dirichlet proportions until every domain's training subset has at
 * least min_size samples. */
static hr_status draw_dirichlet(const hr_partition *p, const class_lists *tr, int64_t min_size, double *prop,
                                int64_t *cut, hr_error *err)
{
    int K = p->num_classes;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        int ok = 1;
        for (int k = 0; k < K; k++) {
            hr__rng r;
            double sum = 0.0, *pk = prop + (size_t)k * G;
            hr__rng_seed(&r, p->params.seed, hr__stream(HR__STREAM_DIRICHLET, (uint64_t)attempt, (uint64_t)k, 0));
            for (int d = 0; d < G; d++) {
                pk[d] = gamma_draw(&r, p->params.dirichlet_alpha);
                sum += pk[d];
            }
            for (int d = 0; d < G; d++)
                pk[d] = sum > 0.0 ? pk[d] / sum : 1.0 / G;
        }
        cuts_from_proportions(prop, tr->start, K, cut);
        for (int d = 0; d < G && ok; d++) {
            int64_t size = 0;
            for (int k = 0; k < K; k++)
                size += cut[(size_t)k * (G + 1) + d + 1] - cut[(size_t)k * (G + 1) + d];
            ok = size >= min_size;
        }
        if (ok)
            return HR_OK;
    }
    return hr_error_set(err, HR_ERR_INVALID_ARG,
                        "dirichlet partition: no draw in %d gave every domain at least %lld training samples "
                        "(alpha %g); use more data, a larger alpha or a smaller min_domain_size",
                        MAX_ATTEMPTS, (long long)min_size, p->params.dirichlet_alpha);
}

hr_status hr_partition_create(const hr_dataset *train, const hr_dataset *test, const hr_partition_params *params,
                              hr_partition **out, hr_error *err)
{
    hr_partition_params pp = params ? *params : hr_partition_params_default();
    class_lists tr = {NULL, NULL}, te = {NULL, NULL};
    int64_t *cut_tr = NULL, *cut_te = NULL;
    double *prop = NULL;
    hr_partition *p;
    hr_status st;
    int K;

    if (!train || !test || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition: train, test and out must not be NULL");
    K = train->num_classes;
    if (test->num_classes != K)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition: %s has %d classes but %s has %d", train->name, K,
                            test->name, test->num_classes);
    if ((int)pp.kind < 0 || pp.kind >= HR_PARTITION_KIND_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition: unknown kind %d", (int)pp.kind);
    if (!(pp.val_fraction >= 0.0 && pp.val_fraction < 1.0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition: val_fraction = %g, expected [0, 1)",
                            pp.val_fraction);
    if (pp.kind == HR_PARTITION_AUTO)
        pp.kind = K >= 10 * G ? HR_PARTITION_CLASSES : HR_PARTITION_DIRICHLET;
    if (pp.kind == HR_PARTITION_CLASSES && K < G)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "classes partition: %s has %d classes, at least %d are needed (one group per domain); "
                            "use the dirichlet partition",
                            train->name, K, G);
    if (pp.kind == HR_PARTITION_DIRICHLET && !(pp.dirichlet_alpha > 0.0 && pp.dirichlet_alpha <= 1e6))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "dirichlet partition: alpha = %g, expected > 0",
                            pp.dirichlet_alpha);
    if (pp.min_domain_size < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition: min_domain_size = %lld is negative",
                            (long long)pp.min_domain_size);

    p = calloc(1, sizeof *p);
    if (!p)
        return hr_error_set(err, HR_ERR_NOMEM, "partition: out of memory");
    p->kind = pp.kind;
    p->params = pp;
    p->num_classes = K;
    p->class_names = calloc((size_t)K, sizeof *p->class_names);
    cut_tr = malloc((size_t)K * (G + 1) * sizeof *cut_tr);
    cut_te = malloc((size_t)K * (G + 1) * sizeof *cut_te);
    prop = calloc((size_t)K * G, sizeof *prop);
    if (!p->class_names || !cut_tr || !cut_te || !prop) {
        st = hr_error_set(err, HR_ERR_NOMEM, "partition: out of memory");
        goto done;
    }
    for (int k = 0; k < K; k++)
        if (!(p->class_names[k] = strdup(train->class_names[k]))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "partition: out of memory");
            goto done;
        }
    st = class_lists_build(train, pp.seed, &tr, err);
    if (st == HR_OK)
        st = class_lists_build(test, pp.seed, &te, err);
    if (st != HR_OK)
        goto done;

    if (pp.kind == HR_PARTITION_CLASSES) {
        p->class_group = malloc((size_t)K * sizeof *p->class_group);
        if (!p->class_group) {
            st = hr_error_set(err, HR_ERR_NOMEM, "partition: out of memory");
            goto done;
        }
        for (int k = 0; k < K; k++) {
            p->class_group[k] = (int)((int64_t)k * G / K);
            for (int d = 0; d < G; d++)
                prop[(size_t)k * G + d] = d == p->class_group[k] ? 1.0 : 0.0;
        }
        cuts_from_proportions(prop, tr.start, K, cut_tr);
    } else {
        int64_t min_size = pp.min_domain_size, cap = train->n / (2 * G);
        if (min_size > cap)
            min_size = cap;
        st = draw_dirichlet(p, &tr, min_size, prop, cut_tr, err);
        if (st != HR_OK)
            goto done;
    }
    cuts_from_proportions(prop, te.start, K, cut_te);
    st = fill_parts(p, &tr, &te, cut_tr, cut_te);
    if (st != HR_OK)
        st = hr_error_set(err, st, "partition: out of memory");
done:
    class_lists_free(&tr);
    class_lists_free(&te);
    free(cut_tr);
    free(cut_te);
    free(prop);
    if (st != HR_OK) {
        hr_partition_destroy(p);
        return st;
    }
    *out = p;
    return HR_OK;
}

hr_partition_kind hr_partition_kind_of(const hr_partition *p) { return p->kind; }

const int64_t *hr_partition_indices(const hr_partition *p, int domain, hr_data_part part, int64_t *n)
{
    int d = domain == HR_DOMAIN_CLEAN ? UNION : domain;
    if (d < 0 || (d >= G && domain != HR_DOMAIN_CLEAN) || (int)part < 0 || part >= HR_PART_COUNT) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = p->n[d][part];
    return p->idx[d][part];
}

const int64_t *hr_partition_class_counts(const hr_partition *p, int domain, hr_data_part part)
{
    int d = domain == HR_DOMAIN_CLEAN ? UNION : domain;
    if (d < 0 || (d >= G && domain != HR_DOMAIN_CLEAN) || (int)part < 0 || part >= HR_PART_COUNT)
        return NULL;
    return p->counts[d][part];
}

int hr_partition_class_group(const hr_partition *p, int k)
{
    if (!p->class_group || k < 0 || k >= p->num_classes)
        return -1;
    return p->class_group[k];
}

/* ------------------------------------------------------------------ JSON */

/* JSON building without a leak on any failure: every container is attached
 * to its parent as soon as it is created (json_object_set takes its own
 * reference; ours is dropped when the container is filled), and jansson's
 * *_new setters free the value when they fail, including on a NULL target.
 * A failure only clears *ok; the caller frees the root. */
static void set(json_t *obj, const char *key, json_t *v, int *ok)
{
    if (json_object_set_new(obj, key, v) != 0)
        *ok = 0;
}

static json_t *attach(json_t *parent, const char *key, json_t *child, int *ok)
{
    if (json_object_set(parent, key, child) != 0)
        *ok = 0;
    return child;
}

static void append(json_t *arr, json_t *v, int *ok)
{
    if (json_array_append_new(arr, v) != 0)
        *ok = 0;
}

static void put_counts(json_t *parent, const char *key, const hr_partition *p, int d, int part, int with_val,
                       int *ok)
{
    json_t *a = attach(parent, key, json_array(), ok);
    for (int k = 0; k < p->num_classes; k++) {
        int64_t c = p->counts[d][part][k] + (with_val ? p->counts[d][HR_PART_VAL][k] : 0);
        append(a, json_integer((json_int_t)c), ok);
    }
    json_decref(a);
}

static json_t *partition_json(const hr_partition *p)
{
    json_t *root = json_object(), *o;
    int K = p->num_classes, ok = root != NULL;
    char key[32];

    set(root, "num_groups", json_integer(G), &ok);
    set(root, "num_classes", json_integer(K), &ok);
    set(root, "partition", json_string(hr_partition_kind_name(p->kind)), &ok);
    if (p->params.seed <= (uint64_t)INT64_MAX) {
        set(root, "seed", json_integer((json_int_t)p->params.seed), &ok);
    } else {
        snprintf(key, sizeof key, "%llu", (unsigned long long)p->params.seed);
        set(root, "seed", json_string(key), &ok);
    }
    if (p->kind == HR_PARTITION_CLASSES) {
        json_t *ga, *c2g, *g2c;
        set(root, "classes_per_group", json_integer(K / G), &ok);
        ga = attach(root, "group_assignments", json_object(), &ok);
        c2g = attach(root, "class_to_group", json_object(), &ok);
        g2c = attach(root, "group_to_classes", json_object(), &ok);
        for (int k = 0; k < K; k++) {
            snprintf(key, sizeof key, "%d", k);
            set(ga, key, json_integer(p->class_group[k]), &ok);
            set(c2g, p->class_names[k], json_integer(p->class_group[k]), &ok);
        }
        for (int d = 0; d < G; d++) {
            json_t *a;
            snprintf(key, sizeof key, "%d", d);
            a = attach(g2c, key, json_array(), &ok);
            for (int k = 0; k < K; k++)
                if (p->class_group[k] == d)
                    append(a, json_string(p->class_names[k]), &ok);
            json_decref(a);
        }
        json_decref(ga);
        json_decref(c2g);
        json_decref(g2c);
    }
    o = attach(root, "domain_info", json_object(), &ok);
    for (int d = 0; d < G; d++) {
        const hr_domain_info *di = hr_domain_get(d);
        json_t *e;
        snprintf(key, sizeof key, "%d", d);
        e = attach(o, key, json_object(), &ok);
        set(e, "name", json_string(di->name), &ok);
        set(e, "description", json_string(di->description), &ok);
        set(e, "noise", json_string(di->kind == HR_NOISE_GAUSSIAN ? "gaussian" : "salt_and_pepper"), &ok);
        set(e, "level", json_real(di->level), &ok);
        json_decref(e);
    }
    json_decref(o);
    set(root, "val_fraction", json_real(p->params.val_fraction), &ok);
    o = attach(root, "domain_sizes", json_object(), &ok);
    for (int d = 0; d < G; d++) {
        json_t *e;
        snprintf(key, sizeof key, "%d", d);
        e = attach(o, key, json_object(), &ok);
        set(e, "train", json_integer((json_int_t)p->n[d][HR_PART_TRAIN]), &ok);
        set(e, "val", json_integer((json_int_t)p->n[d][HR_PART_VAL]), &ok);
        set(e, "test", json_integer((json_int_t)p->n[d][HR_PART_TEST]), &ok);
        json_decref(e);
    }
    json_decref(o);
    if (p->kind == HR_PARTITION_DIRICHLET) {
        json_t *tr, *te;
        set(root, "dirichlet_alpha", json_real(p->params.dirichlet_alpha), &ok);
        tr = attach(root, "domain_class_counts", json_object(), &ok);
        te = attach(root, "domain_test_class_counts", json_object(), &ok);
        for (int d = 0; d < G; d++) {
            snprintf(key, sizeof key, "%d", d);
            put_counts(tr, key, p, d, HR_PART_TRAIN, 1, &ok);
            put_counts(te, key, p, d, HR_PART_TEST, 0, &ok);
        }
        json_decref(tr);
        json_decref(te);
    }
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

hr_status hr_partition_write_json(const hr_partition *p, const char *path, hr_error *err)
{
    json_t *root;
    char *text;
    hr_status st;

    if (!p || !path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "partition_info: partition and path must not be NULL");
    root = partition_json(p);
    text = root ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the JSON", path);
    {
        size_t len = strlen(text);
        char *buf = malloc(len + 2);
        if (!buf) {
            free(text);
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
        }
        memcpy(buf, text, len);
        buf[len] = '\n';
        st = hr_write_file_atomic(path, buf, len + 1, err);
        free(buf);
    }
    free(text);
    return st;
}
