/* Partitions: disjoint parts that cover both pools, the 85/15 split, test
 * class proportions that follow the training subset's, Dirichlet skew, the
 * classes partition's groups, partition_info.json, and the errors. Pools are
 * synthetic (Fashion-MNIST's sizes and class balance, 1×1×1 samples) so the
 * test does not need the dataset package. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/data.h"

/* n samples, label i % K (or a skewed assignment when skew != 0), named
 * "c00".. when names != 0. */
static hr_dataset *make_pool(int64_t n, int K, hr_pool pool, int names)
{
    hr_dataset_desc d;
    float *pix = calloc((size_t)n, sizeof *pix);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    char **nm = NULL;
    hr_dataset *ds = NULL;
    hr_error err = {0};

    assert_non_null(pix);
    assert_non_null(lab);
    for (int64_t i = 0; i < n; i++)
        lab[i] = (int32_t)(i % K);
    if (names) {
        nm = calloc((size_t)K, sizeof *nm);
        assert_non_null(nm);
        for (int k = 0; k < K; k++) {
            nm[k] = malloc(16);
            assert_non_null(nm[k]);
            snprintf(nm[k], 16, "c%02d", k);
        }
    }
    memset(&d, 0, sizeof d);
    d.n = n;
    d.c = d.h = d.w = 1;
    d.pixels = pix;
    d.labels = lab;
    d.num_classes = K;
    d.class_names = (const char *const *)nm;
    d.pool = pool;
    HR_ASSERT_OK(hr_dataset_create(&d, &ds, &err), &err);
    if (nm)
        for (int k = 0; k < K; k++)
            free(nm[k]);
    free(nm);
    free(pix);
    free(lab);
    return ds;
}

/* Every index of each pool is in exactly one part of one domain; parts are
 * ascending; class counts match the labels. */
static void check_cover(const hr_partition *p, const hr_dataset *tr, const hr_dataset *te)
{
    int64_t ntr = hr_dataset_size(tr), nte = hr_dataset_size(te), total[HR_PART_COUNT] = {0};
    unsigned char *seen_tr = calloc((size_t)ntr, 1), *seen_te = calloc((size_t)nte, 1);
    int K = hr_dataset_num_classes(tr);
    int64_t *cnt = calloc((size_t)K, sizeof *cnt);

    assert_non_null(seen_tr);
    assert_non_null(seen_te);
    assert_non_null(cnt);
    for (int d = 0; d < HR_NUM_DOMAINS; d++)
        for (int t = 0; t < HR_PART_COUNT; t++) {
            int64_t n;
            const int64_t *idx = hr_partition_indices(p, d, (hr_data_part)t, &n);
            const int64_t *cc = hr_partition_class_counts(p, d, (hr_data_part)t);
            const hr_dataset *ds = t == HR_PART_TEST ? te : tr;
            unsigned char *seen = t == HR_PART_TEST ? seen_te : seen_tr;
            memset(cnt, 0, (size_t)K * sizeof *cnt);
            for (int64_t i = 0; i < n; i++) {
                assert_true(idx[i] >= 0 && idx[i] < hr_dataset_size(ds));
                if (i > 0)
                    assert_true(idx[i] > idx[i - 1]);
                assert_int_equal(seen[idx[i]], 0);
                seen[idx[i]] = 1;
                cnt[hr_dataset_labels(ds)[idx[i]]]++;
            }
            for (int k = 0; k < K; k++)
                assert_int_equal(cnt[k], cc[k]);
            total[t] += n;
        }
    for (int64_t i = 0; i < ntr; i++)
        assert_int_equal(seen_tr[i], 1);
    for (int64_t i = 0; i < nte; i++)
        assert_int_equal(seen_te[i], 1);
    for (int t = 0; t < HR_PART_COUNT; t++) {
        int64_t n;
        hr_partition_indices(p, HR_DOMAIN_CLEAN, (hr_data_part)t, &n);
        assert_int_equal(n, total[t]);
    }
    assert_null(hr_partition_indices(p, HR_NUM_DOMAINS, HR_PART_TRAIN, NULL));
    free(seen_tr);
    free(seen_te);
    free(cnt);
}

/* The validation part is round(0.15·subset) and stratified: within one of
 * 0.15·count per class. */
static void check_val_split(const hr_partition *p, int K, double f)
{
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        int64_t ntr, nva;
        const int64_t *ct = hr_partition_class_counts(p, d, HR_PART_TRAIN);
        const int64_t *cv = hr_partition_class_counts(p, d, HR_PART_VAL);
        hr_partition_indices(p, d, HR_PART_TRAIN, &ntr);
        hr_partition_indices(p, d, HR_PART_VAL, &nva);
        assert_int_equal(nva, (int64_t)llround(f * (double)(ntr + nva)));
        for (int k = 0; k < K; k++)
            assert_true(fabs((double)cv[k] - f * (double)(ct[k] + cv[k])) < 1.0);
    }
}

static void test_dirichlet(void **state)
{
    hr_dataset *tr = make_pool(60000, 10, HR_POOL_TRAIN, 0), *te = make_pool(10000, 10, HR_POOL_TEST, 0);
    hr_partition_params pp = hr_partition_params_default();
    hr_partition *p = NULL, *q = NULL;
    hr_error err = {0};
    double tv_sum = 0.0, max_share = 0.0;
    (void)state;

    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &p, &err), &err);
    assert_int_equal(hr_partition_kind_of(p), HR_PARTITION_DIRICHLET);
    assert_int_equal(hr_partition_class_group(p, 0), -1);
    check_cover(p, tr, te);
    check_val_split(p, 10, 0.15);
    for (int d = 0; d < HR_NUM_DOMAINS; d++) {
        const int64_t *ct = hr_partition_class_counts(p, d, HR_PART_TRAIN);
        const int64_t *cv = hr_partition_class_counts(p, d, HR_PART_VAL);
        const int64_t *ce = hr_partition_class_counts(p, d, HR_PART_TEST);
        int64_t sub = 0;
        double tv = 0.0;
        for (int k = 0; k < 10; k++)
            sub += ct[k] + cv[k];
        assert_true(sub >= 10);
        for (int k = 0; k < 10; k++) {
            double share = (double)(ct[k] + cv[k]) / (double)sub;
            /* The test part takes the same share of each class's test
             * samples as the training subset took of its training samples. */
            assert_true(fabs((double)ce[k] / 1000.0 - (double)(ct[k] + cv[k]) / 6000.0) <= 1.0 / 1000 + 1.0 / 6000);
            tv += 0.5 * fabs(share - 0.1);
            if (share > max_share)
                max_share = share;
        }
        tv_sum += tv;
    }
    /* Label skew: Dirichlet(0.5) over 10 classes puts the average domain far
     * from uniform (expected total variation ≈ 0.4; an IID split gives ~0). */
    print_message("mean total variation from uniform %.3f, largest class share %.3f\n", tv_sum / 10, max_share);
    assert_true(tv_sum / 10 > 0.25);
    assert_true(max_share > 0.3);

    /* Deterministic, and the seed matters. */
    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &q, &err), &err);
    for (int d = 0; d < HR_NUM_DOMAINS; d++)
        for (int t = 0; t < HR_PART_COUNT; t++) {
            int64_t n1, n2;
            const int64_t *a = hr_partition_indices(p, d, (hr_data_part)t, &n1);
            const int64_t *b = hr_partition_indices(q, d, (hr_data_part)t, &n2);
            assert_int_equal(n1, n2);
            assert_memory_equal(a, b, (size_t)n1 * sizeof *a);
        }
    hr_partition_destroy(q);
    pp.seed = 43;
    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &q, &err), &err);
    {
        int64_t n1, n2;
        hr_partition_indices(p, 0, HR_PART_TRAIN, &n1);
        hr_partition_indices(q, 0, HR_PART_TRAIN, &n2);
        assert_true(n1 != n2);
    }
    hr_partition_destroy(q);

    /* partition_info.json */
    {
        char path[600];
        json_error_t je;
        json_t *root, *dcc;
        snprintf(path, sizeof path, "%s/partition_info.json", hr_test_tmpdir());
        HR_ASSERT_OK(hr_partition_write_json(p, path, &err), &err);
        root = json_load_file(path, 0, &je);
        assert_non_null(root);
        assert_int_equal(json_integer_value(json_object_get(root, "num_groups")), 10);
        assert_int_equal(json_integer_value(json_object_get(root, "num_classes")), 10);
        assert_string_equal(json_string_value(json_object_get(root, "partition")), "dirichlet");
        assert_int_equal(json_integer_value(json_object_get(root, "seed")), 42);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_object_get(root, "domain_info"), "0"), "name")),
            "Gaussian Noise (Weak)");
        dcc = json_object_get(root, "domain_class_counts");
        assert_int_equal(json_object_size(dcc), 10);
        for (int d = 0; d < 10; d++) {
            char key[8];
            json_t *a;
            int64_t sum = 0, ntr, nva;
            snprintf(key, sizeof key, "%d", d);
            a = json_object_get(dcc, key);
            assert_int_equal(json_array_size(a), 10);
            for (size_t k = 0; k < 10; k++)
                sum += json_integer_value(json_array_get(a, k));
            hr_partition_indices(p, d, HR_PART_TRAIN, &ntr);
            hr_partition_indices(p, d, HR_PART_VAL, &nva);
            assert_int_equal(sum, ntr + nva);
        }
        assert_null(json_object_get(root, "class_to_group"));
        json_decref(root);
        snprintf(path, sizeof path, "%s/no/such/dir/partition_info.json", hr_test_tmpdir());
        assert_int_equal(hr_partition_write_json(p, path, &err), HR_ERR_IO);
        assert_non_null(strstr(err.msg, "partition_info.json"));
    }
    hr_partition_destroy(p);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);
}

static void test_classes(void **state)
{
    hr_dataset *tr = make_pool(2500, 25, HR_POOL_TRAIN, 1), *te = make_pool(500, 25, HR_POOL_TEST, 1);
    hr_partition_params pp = hr_partition_params_default();
    hr_partition *p = NULL;
    hr_error err = {0};
    int prev = 0;
    (void)state;

    pp.kind = HR_PARTITION_CLASSES;
    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &p, &err), &err);
    check_cover(p, tr, te);
    check_val_split(p, 25, 0.15);
    /* Contiguous groups of 2 or 3 classes, in class order. */
    for (int k = 0; k < 25; k++) {
        int g = hr_partition_class_group(p, k);
        assert_true(g == prev || g == prev + 1);
        prev = g;
    }
    assert_int_equal(prev, 9);
    for (int d = 0; d < HR_NUM_DOMAINS; d++)
        for (int t = 0; t < HR_PART_COUNT; t++) {
            const int64_t *cc = hr_partition_class_counts(p, d, (hr_data_part)t);
            for (int k = 0; k < 25; k++)
                if (hr_partition_class_group(p, k) != d)
                    assert_int_equal(cc[k], 0);
                else
                    assert_true(cc[k] > 0);
        }
    hr_partition_destroy(p);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);

    /* 20 classes: the original's layout, checked in the JSON. */
    tr = make_pool(2000, 20, HR_POOL_TRAIN, 1);
    te = make_pool(400, 20, HR_POOL_TEST, 1);
    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &p, &err), &err);
    {
        char path[600];
        json_error_t je;
        json_t *root, *g2c;
        snprintf(path, sizeof path, "%s/partition_info.json", hr_test_tmpdir());
        HR_ASSERT_OK(hr_partition_write_json(p, path, &err), &err);
        root = json_load_file(path, 0, &je);
        assert_non_null(root);
        assert_string_equal(json_string_value(json_object_get(root, "partition")), "classes");
        assert_int_equal(json_integer_value(json_object_get(root, "classes_per_group")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "group_assignments"), "3")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "class_to_group"), "c05")), 2);
        g2c = json_object_get(json_object_get(root, "group_to_classes"), "9");
        assert_int_equal(json_array_size(g2c), 2);
        assert_string_equal(json_string_value(json_array_get(g2c, 0)), "c18");
        assert_string_equal(json_string_value(json_array_get(g2c, 1)), "c19");
        assert_int_equal(json_object_size(json_object_get(root, "domain_info")), 10);
        assert_null(json_object_get(root, "domain_class_counts"));
        json_decref(root);
    }
    hr_partition_destroy(p);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);

    /* AUTO picks classes from 100 classes up. */
    tr = make_pool(1000, 100, HR_POOL_TRAIN, 0);
    te = make_pool(200, 100, HR_POOL_TEST, 0);
    pp.kind = HR_PARTITION_AUTO;
    HR_ASSERT_OK(hr_partition_create(tr, te, &pp, &p, &err), &err);
    assert_int_equal(hr_partition_kind_of(p), HR_PARTITION_CLASSES);
    hr_partition_destroy(p);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);
}

static void test_errors(void **state)
{
    hr_dataset *tr = make_pool(1000, 5, HR_POOL_TRAIN, 0), *te = make_pool(100, 5, HR_POOL_TEST, 0),
               *te6 = make_pool(100, 6, HR_POOL_TEST, 0), *two = make_pool(1000, 2, HR_POOL_TRAIN, 0),
               *two_te = make_pool(100, 2, HR_POOL_TEST, 0), *tiny = make_pool(30, 3, HR_POOL_TRAIN, 0);
    hr_partition_params pp = hr_partition_params_default();
    hr_partition *p = NULL;
    hr_error err = {0};
    (void)state;

    pp.kind = HR_PARTITION_CLASSES;
    assert_int_equal(hr_partition_create(tr, te, &pp, &p, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "at least 10"));
    assert_null(p);
    pp.kind = HR_PARTITION_DIRICHLET;
    assert_int_equal(hr_partition_create(tr, te6, &pp, &p, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "5 classes"));
    pp.val_fraction = 1.0;
    assert_int_equal(hr_partition_create(tr, te, &pp, &p, &err), HR_ERR_INVALID_ARG);
    pp.val_fraction = 0.15;
    pp.dirichlet_alpha = 0.0;
    assert_int_equal(hr_partition_create(tr, te, &pp, &p, &err), HR_ERR_INVALID_ARG);
    /* Two classes with a near-one-hot Dirichlet cannot fill ten domains. */
    pp.dirichlet_alpha = 0.001;
    assert_int_equal(hr_partition_create(two, two_te, &pp, &p, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "at least 10 training samples"));
    assert_null(p);
    /* A tiny pool still partitions (the minimum shrinks to N/20). */
    pp.dirichlet_alpha = 0.5;
    HR_ASSERT_OK(hr_partition_create(tiny, tiny, &pp, &p, &err), &err);
    hr_partition_destroy(p);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);
    hr_dataset_destroy(te6);
    hr_dataset_destroy(two);
    hr_dataset_destroy(two_te);
    hr_dataset_destroy(tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirichlet),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
