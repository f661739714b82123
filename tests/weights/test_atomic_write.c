/* hr_write_file_atomic: content, replacement of an existing file, no
 * temporary left behind on success or failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/weights.h"

static size_t read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_write_and_replace(void **state)
{
    char dir[512], path[600], buf[64];
    hr_error err;
    (void)state;

    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(path, sizeof path, "%s/out.bin", dir);
    HR_ASSERT_OK(hr_write_file_atomic(path, "hello world", 11, &err), &err);
    assert_int_equal(read_all(path, buf, sizeof buf), 11);
    assert_memory_equal(buf, "hello world", 11);
    HR_ASSERT_OK(hr_write_file_atomic(path, "bye", 3, &err), &err);
    assert_int_equal(read_all(path, buf, sizeof buf), 3);
    assert_memory_equal(buf, "bye", 3);
    HR_ASSERT_OK(hr_write_file_atomic(path, NULL, 0, &err), &err);
    assert_int_equal(read_all(path, buf, sizeof buf), 0);
    assert_int_equal(count_entries(dir), 1); /* no path.tmp.<pid> left */
    remove(path);
    remove(dir);
}

static void test_failures(void **state)
{
    char dir[512], path[600];
    hr_error err;
    (void)state;

    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(path, sizeof path, "%s/no/such/dir/out.bin", dir);
    assert_int_equal(hr_write_file_atomic(path, "x", 1, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create"));
    /* Renaming over a directory fails after the temporary was written: it
     * must be removed. */
    assert_int_equal(hr_write_file_atomic(dir, "x", 1, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "rename"));
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(hr_write_file_atomic(NULL, "x", 1, &err), HR_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    assert_int_equal(hr_write_file_atomic(path, NULL, 5, &err), HR_ERR_INVALID_ARG);
    remove(dir);
}

/* Modes are set, not left to the umask; temporaries of dead writers are
 * cleaned, a live writer's are not. */
static void test_modes_and_stale(void **state)
{
    char dir[512], path[600], stale[700], live[700];
    struct stat sb;
    hr_error err;
    mode_t old = umask(0077); /* would make 0600 of a plain open */
    (void)state;

    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(path, sizeof path, "%s/result.json", dir);
    HR_ASSERT_OK(hr_write_file_atomic(path, "{}", 2, &err), &err);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    HR_ASSERT_OK(hr_write_file_atomic_private(path, "{}", 2, &err), &err);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    umask(old);

    /* a temporary of a pid that cannot run (above pid_max) and one of a live process (init) */
    snprintf(stale, sizeof stale, "%s.tmp.2147483646.0", path);
    snprintf(live, sizeof live, "%s.tmp.1.0", path);
    hr_test_write_file(stale, "half", 4);
    hr_test_write_file(live, "half", 4);
    HR_ASSERT_OK(hr_write_file_atomic(path, "{\"a\": 1}", 8, &err), &err);
    assert_int_not_equal(access(stale, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    remove(live);
    remove(path);
    assert_int_equal(count_entries(dir), 0);
    remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_replace),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_modes_and_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
