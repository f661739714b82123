/* hr_tensor_map: insertion order, lookup, copies, validation, prefix
 * stripping (including collisions that must leave the map untouched) and
 * pointer stability while the map grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/weights.h"

static hr_tensor_map *new_map(void)
{
    hr_tensor_map *m = NULL;
    hr_error err;
    HR_ASSERT_OK(hr_tensor_map_create(&m, &err), &err);
    assert_non_null(m);
    return m;
}

static void test_add_find_at(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    float a[6] = {1, 2, 3, 4, 5, 6}, s = 7.5f;
    const int64_t sa[2] = {2, 3};
    const hr_named_tensor *t;
    (void)state;

    HR_ASSERT_OK(hr_tensor_map_add(m, "a", 2, sa, a, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "scalar", 0, NULL, &s, &err), &err);
    a[0] = 100; /* the map holds a copy */
    assert_int_equal(hr_tensor_map_count(m), 2);
    t = hr_tensor_map_at(m, 0);
    assert_string_equal(t->name, "a");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_true(t->data[0] == 1.0f && t->data[5] == 6.0f);
    assert_int_equal(hr_named_tensor_numel(t), 6);
    t = hr_tensor_map_find(m, "scalar");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(hr_named_tensor_numel(t), 1);
    assert_true(t->data[0] == 7.5f);
    assert_ptr_equal(hr_tensor_map_at(m, 1), t);
    assert_null(hr_tensor_map_find(m, "missing"));
    assert_null(hr_tensor_map_at(m, 2));
    hr_tensor_map_destroy(m);
    hr_tensor_map_destroy(NULL);
}

static void test_empty_tensor(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    const int64_t shape[2] = {0, 4};
    (void)state;
    HR_ASSERT_OK(hr_tensor_map_add(m, "empty", 2, shape, NULL, &err), &err);
    assert_int_equal(hr_named_tensor_numel(hr_tensor_map_find(m, "empty")), 0);
    hr_tensor_map_destroy(m);
}

static void expect_invalid(hr_tensor_map *m, const char *name, int ndim, const int64_t *shape, const float *data,
                           const char *word)
{
    hr_error err;
    hr_status st = hr_tensor_map_add(m, name, ndim, shape, data, &err);
    assert_int_equal(st, HR_ERR_INVALID_ARG);
    if (!strstr(err.msg, word)) {
        print_error("message '%s' lacks '%s'\n", err.msg, word);
        fail();
    }
}

static void test_add_rejects(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    float x[4] = {0};
    const int64_t ok[1] = {4}, neg[2] = {2, -3}, five[5] = {1, 1, 1, 1, 1};
    const int64_t huge[2] = {(int64_t)1 << 31, (int64_t)1 << 31}, h62[1] = {(int64_t)1 << 62};
    char longname[300];
    (void)state;

    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    HR_ASSERT_OK(hr_tensor_map_add(m, "x", 1, ok, x, &err), &err);
    expect_invalid(m, "x", 1, ok, x, "duplicate");
    expect_invalid(m, "", 1, ok, x, "empty");
    expect_invalid(m, longname, 1, ok, x, "longer");
    expect_invalid(m, "neg", 2, neg, x, "negative");
    expect_invalid(m, "five", 5, five, x, "dims");
    expect_invalid(m, "huge", 2, huge, x, "elements");
    expect_invalid(m, "h62", 1, h62, x, "elements");
    expect_invalid(m, "nodata", 1, ok, NULL, "no data");
    assert_int_equal(hr_tensor_map_count(m), 1);
    assert_int_equal(hr_tensor_map_add(NULL, "a", 1, ok, x, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_tensor_map_add(m, "a", 1, ok, x, NULL), HR_OK); /* NULL err is allowed */
    hr_tensor_map_destroy(m);
}

/* 3000 tensors: every name is found, and a pointer taken at the start stays
 * valid while the map grows (ASan would catch a stale one). */
static void test_many(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    const int64_t shape[1] = {1};
    const hr_named_tensor *first;
    char name[64];
    (void)state;

    for (int i = 0; i < 3000; i++) {
        float v = (float)i;
        snprintf(name, sizeof name, "stage%d.%d.rbr_dense.conv.weight", i % 5, i);
        HR_ASSERT_OK(hr_tensor_map_add(m, name, 1, shape, &v, &err), &err);
    }
    first = hr_tensor_map_at(m, 0);
    for (int i = 3000; i < 3100; i++) {
        float v = (float)i;
        snprintf(name, sizeof name, "late.%d", i);
        HR_ASSERT_OK(hr_tensor_map_add(m, name, 1, shape, &v, &err), &err);
    }
    assert_string_equal(first->name, "stage0.0.rbr_dense.conv.weight");
    for (int i = 0; i < 3000; i++) {
        const hr_named_tensor *t;
        snprintf(name, sizeof name, "stage%d.%d.rbr_dense.conv.weight", i % 5, i);
        t = hr_tensor_map_find(m, name);
        assert_non_null(t);
        assert_true(t->data[0] == (float)i);
        assert_ptr_equal(t, hr_tensor_map_at(m, (size_t)i));
    }
    hr_tensor_map_destroy(m);
}

static void test_strip_prefix(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    float x = 1;
    const int64_t shape[1] = {1};
    (void)state;

    HR_ASSERT_OK(hr_tensor_map_add(m, "module.a", 1, shape, &x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "module.b.c", 1, shape, &x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "d", 1, shape, &x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "module.", 1, shape, &x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_strip_prefix(m, "module.", &err), &err);
    assert_string_equal(hr_tensor_map_at(m, 0)->name, "a");
    assert_string_equal(hr_tensor_map_at(m, 1)->name, "b.c");
    assert_string_equal(hr_tensor_map_at(m, 2)->name, "d");
    assert_string_equal(hr_tensor_map_at(m, 3)->name, "module."); /* would become empty: kept */
    assert_non_null(hr_tensor_map_find(m, "a"));
    assert_non_null(hr_tensor_map_find(m, "b.c"));
    assert_null(hr_tensor_map_find(m, "module.a"));
    /* Nothing to strip: a no-op. */
    HR_ASSERT_OK(hr_tensor_map_strip_prefix(m, "zzz.", &err), &err);
    HR_ASSERT_OK(hr_tensor_map_strip_prefix(m, "", &err), &err);
    assert_int_equal(hr_tensor_map_count(m), 4);
    hr_tensor_map_destroy(m);
}

static void test_strip_prefix_collision(void **state)
{
    hr_tensor_map *m = new_map();
    hr_error err;
    float x = 1;
    const int64_t shape[1] = {1};
    (void)state;

    HR_ASSERT_OK(hr_tensor_map_add(m, "module.w", 1, shape, &x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "w", 1, shape, &x, &err), &err);
    assert_int_equal(hr_tensor_map_strip_prefix(m, "module.", &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'w'"));
    assert_non_null(strstr(err.msg, "module."));
    /* Unchanged. */
    assert_string_equal(hr_tensor_map_at(m, 0)->name, "module.w");
    assert_non_null(hr_tensor_map_find(m, "module.w"));
    assert_non_null(hr_tensor_map_find(m, "w"));
    hr_tensor_map_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_at),
        cmocka_unit_test(test_empty_tensor),
        cmocka_unit_test(test_add_rejects),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_strip_prefix),
        cmocka_unit_test(test_strip_prefix_collision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
