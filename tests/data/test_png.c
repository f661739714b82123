/* PNG output: the writer's files read back with libpng (pixels, scaling,
 * grey and RGB), the per-domain sample sheets, and the `hyperrep data`
 * command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hr_test.h"
#include "hyperrep/data.h"

/* Reads a PNG with libpng's simplified API into 8-bit RGB (or grey). */
static uint8_t *read_png(const char *path, int gray, unsigned *w, unsigned *h)
{
    png_image im;
    uint8_t *buf;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) {
        print_error("%s: %s\n", path, im.message);
        fail();
    }
    im.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    buf = malloc(PNG_IMAGE_SIZE(im));
    assert_non_null(buf);
    assert_true(png_image_finish_read(&im, NULL, buf, 0, NULL));
    *w = im.width;
    *h = im.height;
    return buf;
}

static void test_writer(void **state)
{
    const char *dir = hr_test_tmpdir();
    char path[700];
    float rgb[3 * 2 * 3] = {0.0f, 0.5f, 1.0f, 2.0f, -1.0f, 0.25f, /* R */
                            0.1f, 0.2f, 0.3f, 0.4f, 0.5f,  0.6f,  /* G */
                            1.0f, 1.0f, 1.0f, 0.0f, 0.0f,  0.0f}; /* B */
    unsigned w, h;
    uint8_t *px;
    hr_error err = {0};
    FILE *f;
    unsigned char sig[8];
    (void)state;

    snprintf(path, sizeof path, "%s/rgb.png", dir);
    HR_ASSERT_OK(hr_image_write_png(path, rgb, 3, 2, 3, 1, &err), &err);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(png_sig_cmp(sig, 0, 8), 0);
    px = read_png(path, 0, &w, &h);
    assert_int_equal(w, 3);
    assert_int_equal(h, 2);
    /* Pixel (y=1, x=0): R 2.0 → 255 (clipped), G 0.4 → 102, B 0. */
    assert_int_equal(px[(1 * 3 + 0) * 3 + 0], 255);
    assert_int_equal(px[(1 * 3 + 0) * 3 + 1], 102);
    assert_int_equal(px[(1 * 3 + 0) * 3 + 2], 0);
    assert_int_equal(px[(1 * 3 + 1) * 3 + 0], 0); /* -1 → 0 */
    assert_int_equal(px[(0 * 3 + 1) * 3 + 0], 128);
    free(px);

    /* Grey, enlarged 3×: every source pixel becomes a 3×3 block. */
    snprintf(path, sizeof path, "%s/gray.png", dir);
    HR_ASSERT_OK(hr_image_write_png(path, rgb + 6, 1, 2, 3, 3, &err), &err);
    px = read_png(path, 1, &w, &h);
    assert_int_equal(w, 9);
    assert_int_equal(h, 6);
    for (unsigned y = 0; y < 6; y++)
        for (unsigned x = 0; x < 9; x++)
            assert_int_equal(px[y * 9 + x], (int)(rgb[6 + (y / 3) * 3 + x / 3] * 255.0f + 0.5f));
    free(px);

    assert_int_equal(hr_image_write_png(path, rgb, 2, 2, 3, 1, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_image_write_png(path, rgb, 3, 2, 3, 0, &err), HR_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
    assert_int_equal(hr_image_write_png(path, rgb, 3, 2, 3, 1, &err), HR_ERR_IO);
}

/* A small image-folder source: 2 classes × 3 colour images of 20×24. */
static const char *make_source(void)
{
    static char root[600];
    char path[800];
    float img[3 * 24 * 20];
    hr_test_rng r;
    hr_error err = {0};

    snprintf(root, sizeof root, "%s", hr_test_tmpdir());
    hr_test_rng_seed(&r, 1);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/class%d", root, k);
        assert_int_equal(mkdir(path, 0700), 0);
        for (int i = 0; i < 3; i++) {
            hr_test_fill(&r, img, 3 * 24 * 20, 0.3f, 0.7f);
            snprintf(path, sizeof path, "%s/class%d/%d.png", root, k, i);
            HR_ASSERT_OK(hr_image_write_png(path, img, 3, 24, 20, 1, &err), &err);
        }
    }
    return root;
}

static void test_sample_sheets(void **state)
{
    hr_data_params dp = hr_data_params_default();
    hr_data *d = NULL;
    hr_error err = {0};
    char out[700], path[800];
    unsigned w, h;
    uint8_t *px;
    (void)state;

    dp.source = make_source();
    dp.load.resize = 16;
    dp.load.crop = 16;
    dp.test_fraction = 0.34; /* one image per class in the test pool */
    HR_ASSERT_OK(hr_data_open(NULL, &dp, &d, &err), &err);
    snprintf(out, sizeof out, "%s", hr_test_tmpdir());
    HR_ASSERT_OK(hr_data_write_samples(d, out, 4, 2, &err), &err);
    /* Two test images → 2·16 + 1 gap wide, times 2. */
    snprintf(path, sizeof path, "%s/domain_9.png", out);
    px = read_png(path, 0, &w, &h);
    assert_int_equal(w, 2 * (2 * 16 + 1));
    assert_int_equal(h, 2 * 16);
    free(px);
    snprintf(path, sizeof path, "%s/overview.png", out);
    px = read_png(path, 0, &w, &h);
    assert_int_equal(h, 2 * (11 * 16 + 10));
    free(px);
    snprintf(path, sizeof path, "%s/clean.png", out);
    px = read_png(path, 0, &w, &h);
    free(px);
    /* Salt-and-pepper on mid-grey pictures: black and white pixels appear. */
    snprintf(path, sizeof path, "%s/domain_4.png", out);
    px = read_png(path, 0, &w, &h);
    {
        int black = 0, white = 0;
        for (unsigned i = 0; i < w * h; i++) {
            black += px[3 * i] == 0 && px[3 * i + 1] == 0 && px[3 * i + 2] == 0;
            white += px[3 * i] == 255 && px[3 * i + 1] == 255 && px[3 * i + 2] == 255;
        }
        assert_true(black > 0 && white > 0);
    }
    free(px);
    assert_int_equal(hr_data_write_samples(d, out, 0, 2, &err), HR_ERR_INVALID_ARG);
    hr_data_destroy(d);
}

HR_CLI_BUFFERS;

static void test_cli(void **state)
{
    const char *src = make_source(), *out = hr_test_tmpdir();
    char args[1600], path[800];
    json_error_t je;
    json_t *root;
    struct stat sb;
    (void)state;

    snprintf(args, sizeof args, "data partition --data %s --test-fraction 0.34 -o %s/pi.json", src, out);
    HR_EXPECT_CLI(out, args, 0, err_text, "");
    snprintf(path, sizeof path, "%s/pi.json", out);
    root = json_load_file(path, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "partition")), "dirichlet");
    assert_int_equal(json_integer_value(json_object_get(root, "num_classes")), 2);
    json_decref(root);
    snprintf(args, sizeof args, "data samples --data %s --test-fraction 0.34 --per-domain 2 -o %s/sheets", src, out);
    HR_EXPECT_CLI(out, args, 0, err_text, "");
    snprintf(path, sizeof path, "%s/sheets/overview.png", out);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(args, sizeof args, "data partition --data %s --partition classes -o %s/x.json", src, out);
    HR_EXPECT_CLI(out, args, 1, err_text, ""); /* two classes cannot make ten groups */
    HR_EXPECT_CLI(out, "data partition --partition bogus", 2, err_text, "");
    HR_EXPECT_CLI(out, "data frobnicate", 2, err_text, "");
    HR_EXPECT_CLI(out, "data --help", 0, err_text, "");
    if (stat(HR_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", &sb) == 0) {
        snprintf(args, sizeof args, "data partition --seed 3 -o %s/fm.json", out);
        HR_EXPECT_CLI(out, args, 0, err_text, "");
        snprintf(path, sizeof path, "%s/fm.json", out);
        root = json_load_file(path, 0, &je);
        assert_non_null(root);
        assert_int_equal(json_integer_value(json_object_get(root, "seed")), 3);
        assert_int_equal(json_object_size(json_object_get(root, "domain_class_counts")), 10);
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_sample_sheets),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
