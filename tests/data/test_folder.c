/* Image folders: PNG and JPEG files written here with libpng/libjpeg in
 * every colour layout we convert (RGB, RGBA, grey, grey+alpha, 16-bit,
 * palette with transparency, interlaced, grey JPEG, Adobe CMYK JPEG), the
 * resize + centre-crop geometry and filter, class listing, undecodable files
 * under --on-bad-file stop and skip, and the two folder layouts of a data
 * source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "data/data_internal.h"
#include "hr_test.h"
#include "hyperrep/data.h"

typedef enum png_kind { P_RGB, P_RGBA, P_GRAY, P_GRAY_A, P_RGB16, P_PALETTE, P_RGB_INTERLACED } png_kind;

/* Writes rgb (h×w×3) as a PNG of the given layout. Grey layouts use the red
 * channel; the palette layout needs at most 256 distinct colours. Alpha
 * channels and tRNS hold values that must be ignored on reading. */
static void write_png(const char *path, const uint8_t *rgb, int w, int h, png_kind kind)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    int ch = kind == P_RGBA ? 4 : kind == P_GRAY ? 1 : kind == P_GRAY_A ? 2 : kind == P_PALETTE ? 1 : 3;
    int depth = kind == P_RGB16 ? 16 : 8, bpc = depth / 8;
    int color = kind == P_RGBA      ? PNG_COLOR_TYPE_RGBA
                : kind == P_GRAY    ? PNG_COLOR_TYPE_GRAY
                : kind == P_GRAY_A  ? PNG_COLOR_TYPE_GRAY_ALPHA
                : kind == P_PALETTE ? PNG_COLOR_TYPE_PALETTE
                                    : PNG_COLOR_TYPE_RGB;
    png_color pal[256];
    png_byte trans[1] = {0};
    int npal = 0;
    uint8_t *row = malloc((size_t)w * ch * bpc);

    assert_non_null(f);
    assert_non_null(png);
    assert_non_null(info);
    assert_non_null(row);
    assert_int_equal(setjmp(png_jmpbuf(png)), 0);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 kind == P_RGB_INTERLACED ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (kind == P_PALETTE) {
        for (int i = 0; i < w * h; i++) {
            int j;
            for (j = 0; j < npal; j++)
                if (pal[j].red == rgb[3 * i] && pal[j].green == rgb[3 * i + 1] && pal[j].blue == rgb[3 * i + 2])
                    break;
            if (j == npal) {
                assert_true(npal < 256);
                pal[npal].red = rgb[3 * i];
                pal[npal].green = rgb[3 * i + 1];
                pal[npal].blue = rgb[3 * i + 2];
                npal++;
            }
        }
        png_set_PLTE(png, info, pal, npal);
        png_set_tRNS(png, info, trans, 1, NULL); /* entry 0 fully transparent */
    }
    png_write_info(png, info);
    if (kind == P_RGB_INTERLACED) {
        png_bytep *rows = malloc((size_t)h * sizeof *rows);
        assert_non_null(rows);
        for (int y = 0; y < h; y++)
            rows[y] = (png_bytep)(rgb + (size_t)y * w * 3);
        png_write_image(png, rows);
        free(rows);
    } else {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
                uint8_t *o = row + (size_t)x * ch * bpc;
                switch (kind) {
                case P_RGBA: memcpy(o, p, 3); o[3] = (uint8_t)(x * 7); break;
                case P_GRAY: o[0] = p[0]; break;
                case P_GRAY_A: o[0] = p[0]; o[1] = (uint8_t)(255 - x); break;
                case P_RGB16:
                    for (int c = 0; c < 3; c++)
                        o[2 * c] = o[2 * c + 1] = p[c]; /* v·257: the high byte is v */
                    break;
                case P_PALETTE: {
                    int j = 0;
                    while (pal[j].red != p[0] || pal[j].green != p[1] || pal[j].blue != p[2])
                        j++;
                    o[0] = (uint8_t)j;
                    break;
                }
                default: memcpy(o, p, 3); break;
                }
            }
            png_write_row(png, row);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    assert_int_equal(fclose(f), 0);
}

typedef enum jpeg_kind { J_RGB, J_GRAY, J_CMYK } jpeg_kind;

/* CMYK is written the Adobe way (inverted values, Adobe marker), as
 * Photoshop does; decoding must give back rgb. */
static void write_jpeg(const char *path, const uint8_t *rgb, int w, int h, jpeg_kind kind)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    FILE *f = fopen(path, "wb");
    int ch = kind == J_GRAY ? 1 : kind == J_CMYK ? 4 : 3;
    uint8_t *row = malloc((size_t)w * ch);

    assert_non_null(f);
    assert_non_null(row);
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = ch;
    ci.in_color_space = kind == J_GRAY ? JCS_GRAYSCALE : kind == J_CMYK ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&ci);
    if (kind == J_CMYK)
        jpeg_set_colorspace(&ci, JCS_CMYK);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        const uint8_t *p = rgb + (size_t)ci.next_scanline * w * 3;
        JSAMPROW r = row;
        for (int x = 0; x < w; x++) {
            if (kind == J_GRAY) {
                row[x] = p[3 * x];
            } else if (kind == J_CMYK) {
                /* K = 0 (stored inverted: 255); C, M, Y = 255 − R, G, B
                 * (stored inverted: R, G, B). */
                row[4 * x] = p[3 * x];
                row[4 * x + 1] = p[3 * x + 1];
                row[4 * x + 2] = p[3 * x + 2];
                row[4 * x + 3] = 255;
            } else {
                memcpy(row + 3 * x, p + 3 * x, 3);
            }
        }
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    assert_int_equal(fclose(f), 0);
}

/* A smooth test picture: red ramps with x, green with y, blue constant;
 * grey when gray != 0; 4 colour levels when coarse != 0 (palette). */
static uint8_t *picture(int w, int h, int gray, int coarse)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *o = p + ((size_t)y * w + x) * 3;
            int r = x * 255 / (w - 1), g = y * 255 / (h - 1);
            if (coarse) {
                r = r / 64 * 85;
                g = g / 64 * 85;
            }
            o[0] = (uint8_t)r;
            o[1] = (uint8_t)(gray ? r : g);
            o[2] = (uint8_t)(gray ? r : 128);
        }
    return p;
}

static char g_path[1024];
static const char *at(const char *dir, const char *name)
{
    snprintf(g_path, sizeof g_path, "%s/%s", dir, name);
    return g_path;
}

static void mkdir_ok(const char *path) { assert_int_equal(mkdir(path, 0700), 0); }

static void check_decode(const char *path, const uint8_t *want, int w, int h, int tol)
{
    hr__decode_scratch s;
    hr_error err = {0};
    int64_t gw, gh;
    int worst = 0;

    memset(&s, 0, sizeof s);
    HR_ASSERT_OK(hr__image_decode(path, (int64_t)1 << 26, &s, &gw, &gh, &err), &err);
    assert_int_equal(gw, w);
    assert_int_equal(gh, h);
    for (int i = 0; i < w * h * 3; i++) {
        int d = abs((int)s.rgb[i] - (int)want[i]);
        if (d > worst)
            worst = d;
    }
    if (worst > tol) {
        print_error("%s: largest difference %d > %d\n", path, worst, tol);
        fail();
    }
    hr__decode_scratch_free(&s);
}

static void test_decode_layouts(void **state)
{
    const char *dir = hr_test_tmpdir();
    const int w = 37, h = 23;
    uint8_t *rgb = picture(w, h, 0, 0), *gray = picture(w, h, 1, 0), *coarse = picture(w, h, 0, 1);
    static const png_kind color_kinds[] = {P_RGB, P_RGBA, P_RGB16, P_RGB_INTERLACED};
    (void)state;

    for (size_t i = 0; i < sizeof color_kinds / sizeof *color_kinds; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.png", (int)color_kinds[i]);
        write_png(at(dir, name), rgb, w, h, color_kinds[i]);
        check_decode(g_path, rgb, w, h, 0);
    }
    write_png(at(dir, "gray.png"), gray, w, h, P_GRAY);
    check_decode(g_path, gray, w, h, 0);
    write_png(at(dir, "graya.png"), gray, w, h, P_GRAY_A);
    check_decode(g_path, gray, w, h, 0);
    write_png(at(dir, "pal.png"), coarse, w, h, P_PALETTE);
    check_decode(g_path, coarse, w, h, 0);
    write_jpeg(at(dir, "rgb.jpg"), rgb, w, h, J_RGB);
    check_decode(g_path, rgb, w, h, 12);
    write_jpeg(at(dir, "gray.jpg"), gray, w, h, J_GRAY);
    check_decode(g_path, gray, w, h, 3);
    write_jpeg(at(dir, "cmyk.jpg"), rgb, w, h, J_CMYK);
    check_decode(g_path, rgb, w, h, 4);
    /* The format comes from the bytes, not the name. */
    write_png(at(dir, "png-named.jpg"), rgb, w, h, P_RGB);
    check_decode(g_path, rgb, w, h, 0);
    free(rgb);
    free(gray);
    free(coarse);
}

/* Writes a copy of src cut to keep bytes (keep < 0: size + keep). */
static void write_prefix(const char *src, const char *dst, long keep)
{
    FILE *f = fopen(src, "rb");
    char *buf;
    assert_non_null(f);
    if (keep < 0) {
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        keep += ftell(f);
        assert_true(keep > 0);
        assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    }
    buf = malloc((size_t)keep);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)keep, f), (size_t)keep);
    fclose(f);
    hr_test_write_file(dst, buf, (size_t)keep);
    free(buf);
}

static void test_decode_errors(void **state)
{
    const char *dir = hr_test_tmpdir();
    uint8_t *rgb = picture(96, 64, 0, 0);
    hr__decode_scratch s;
    hr_error err = {0};
    int64_t w, h;
    char full[1024];
    (void)state;

    memset(&s, 0, sizeof s);
    hr_test_write_file(at(dir, "text.jpg"), "hello, world", 12);
    assert_int_equal(hr__image_decode(g_path, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, g_path));
    assert_non_null(strstr(err.msg, "not a JPEG or PNG"));
    hr_test_write_file(at(dir, "empty.png"), "", 0);
    assert_int_equal(hr__image_decode(g_path, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(hr__image_decode(at(dir, "missing.png"), 1 << 20, &s, &w, &h, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.png"));

    write_jpeg(at(dir, "ok.jpg"), rgb, 96, 64, J_RGB);
    snprintf(full, sizeof full, "%s", g_path);
    write_prefix(full, at(dir, "cut.jpg"), -1000);
    /* The header is intact: a header check passes, decoding does not. */
    HR_ASSERT_OK(hr__image_probe(g_path, 0, 1 << 20, &s, &w, &h, &err), &err);
    assert_int_equal(w, 96);
    assert_int_equal(hr__image_decode(g_path, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "cut.jpg"));
    write_prefix(full, at(dir, "header-only.jpg"), 20);
    assert_int_equal(hr__image_probe(g_path, 0, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "header-only.jpg"));
    /* Too many pixels for the limit. */
    assert_int_equal(hr__image_probe(full, 0, 1000, &s, &w, &h, &err), HR_ERR_LIMIT);

    write_png(at(dir, "ok.png"), rgb, 96, 64, P_RGB);
    snprintf(full, sizeof full, "%s", g_path);
    write_prefix(full, at(dir, "cut.png"), -200);
    assert_int_equal(hr__image_decode(g_path, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "cut.png"));
    write_prefix(full, at(dir, "sig-only.png"), 8);
    assert_int_equal(hr__image_probe(g_path, 0, 1 << 20, &s, &w, &h, &err), HR_ERR_FORMAT);
    hr__decode_scratch_free(&s);
    free(rgb);
}

/* Random byte mutations of valid PNG and JPEG files: decoding either works
 * or fails with a message naming the file — never a crash or a leak (this
 * exercises the libpng/libjpeg longjmp paths; run under AddressSanitizer). */
static void test_decode_mutations(void **state)
{
    const char *dir = hr_test_tmpdir();
    uint8_t *rgb = picture(24, 16, 0, 0);
    hr__decode_scratch s;
    hr_test_rng r;
    int ok = 0, bad = 0;
    (void)state;

    memset(&s, 0, sizeof s);
    hr_test_rng_seed(&r, 123);
    for (int kind = 0; kind < 2; kind++) {
        char src[800], dst[800];
        unsigned char *buf;
        long size;
        FILE *f;
        snprintf(src, sizeof src, "%s/src%d", dir, kind);
        snprintf(dst, sizeof dst, "%s/mut%d", dir, kind);
        if (kind == 0)
            write_png(src, rgb, 24, 16, P_RGB_INTERLACED);
        else
            write_jpeg(src, rgb, 24, 16, J_RGB);
        f = fopen(src, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        assert_true(size > 0);
        rewind(f);
        buf = malloc((size_t)size);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        for (int it = 0; it < 300; it++) {
            unsigned char *m = malloc((size_t)size);
            long len = size;
            hr_error err = {0};
            int64_t w, h;
            assert_non_null(m);
            memcpy(m, buf, (size_t)size);
            for (int k = 0; k < 1 + it % 4; k++)
                m[(long)hr_test_uniform(&r, 2.0f, (float)size)] = (unsigned char)hr_test_uniform(&r, 0.0f, 256.0f);
            if (it % 7 == 0)
                len = (long)hr_test_uniform(&r, 1.0f, (float)size);
            hr_test_write_file(dst, m, (size_t)len);
            if (hr__image_decode(dst, (int64_t)1 << 22, &s, &w, &h, &err) == HR_OK) {
                ok++;
            } else {
                bad++;
                assert_non_null(strstr(err.msg, dst));
            }
            free(m);
        }
        free(buf);
    }
    print_message("%d mutated images decoded, %d rejected\n", ok, bad);
    assert_true(bad > 0);
    hr__decode_scratch_free(&s);
    free(rgb);
}

/* Runs resize/crop on an rgb image and returns 3×crop×crop floats. */
static float *resize_crop(const uint8_t *rgb, int w, int h, int resize, int crop)
{
    hr__decode_scratch s;
    hr_error err = {0};
    float *out = malloc((size_t)3 * crop * crop * sizeof *out);
    assert_non_null(out);
    memset(&s, 0, sizeof s);
    HR_ASSERT_OK(hr__resize_crop(rgb, w, h, resize, crop, &s, out, &err), &err);
    hr__decode_scratch_free(&s);
    return out;
}

static void test_resize_crop(void **state)
{
    uint8_t *img;
    float *out;
    (void)state;

    /* A constant image stays constant, whatever the scale. */
    img = malloc(300 * 500 * 3);
    assert_non_null(img);
    for (int i = 0; i < 300 * 500; i++) {
        img[3 * i] = 10;
        img[3 * i + 1] = 128;
        img[3 * i + 2] = 250;
    }
    out = resize_crop(img, 300, 500, 256, 224);
    for (int i = 0; i < 224 * 224; i++) {
        assert_float_equal(out[i], 10.0f / 255.0f, 1e-7);
        assert_float_equal(out[224 * 224 + i], 128.0f / 255.0f, 1e-7);
        assert_float_equal(out[2 * 224 * 224 + i], 250.0f / 255.0f, 1e-7);
    }
    free(out);
    free(img);

    /* 512×256, left half black: no scaling; the crop starts at column
     * (512 − 224)/2 = 144, so the edge at x = 256 lands between 111 and 112. */
    img = calloc(512 * 256 * 3, 1);
    assert_non_null(img);
    for (int y = 0; y < 256; y++)
        memset(img + ((size_t)y * 512 + 256) * 3, 255, 256 * 3);
    out = resize_crop(img, 512, 256, 256, 224);
    for (int y = 0; y < 224; y += 37) {
        assert_float_equal(out[y * 224 + 111], 0.0f, 0.0);
        assert_float_equal(out[y * 224 + 112], 1.0f, 0.0);
    }
    free(out);
    free(img);

    /* torchvision's top offset is Python's round((size − crop)/2): 16.5 → 16,
     * 17.5 → 18. One white source row marks where the crop starts. */
    for (int hh = 257; hh <= 259; hh += 2) {
        int top = hh == 257 ? 16 : 18;
        img = calloc((size_t)256 * hh * 3, 1);
        assert_non_null(img);
        memset(img + (size_t)top * 256 * 3, 255, 256 * 3);
        out = resize_crop(img, 256, hh, 256, 224);
        assert_float_equal(out[0], 1.0f, 0.0);
        assert_float_equal(out[224], 0.0f, 0.0);
        free(out);
        free(img);
    }

    /* Antialiasing: one-pixel stripes shrunk 2× average to grey (plain
     * 2-tap bilinear would keep sampling single stripes). */
    img = malloc(1024 * 512 * 3);
    assert_non_null(img);
    for (int y = 0; y < 512; y++)
        for (int x = 0; x < 1024; x++)
            memset(img + ((size_t)y * 1024 + x) * 3, x % 2 ? 255 : 0, 3);
    out = resize_crop(img, 1024, 512, 256, 224);
    for (int i = 0; i < 224 * 224; i++)
        assert_true(out[i] > 120.0f / 255.0f && out[i] < 136.0f / 255.0f);
    free(out);
    free(img);
}

/* Files written by PIL (tests/fixtures/data/make_data_fixtures.py), against
 * what torchvision's convert("RGB") + Resize(40) + CenterCrop(32) gives. */
static void test_matches_pil(void **state)
{
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    hr_dataset *ds = NULL;
    hr_error err = {0};
    float x[3 * 32 * 32];
    (void)state;

    lp.resize = 40;
    lp.crop = 32;
    HR_ASSERT_OK(hr_dataset_load_folder(NULL, HR_FIXTURES_DIR "/data/pil", HR_POOL_TRAIN, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 6);
    for (int64_t i = 0; i < hr_dataset_size(ds); i++) {
        const char *path = hr_dataset_path(ds, i), *base = strrchr(path, '/') + 1;
        char exp_path[700];
        png_image im;
        uint8_t want[32 * 32 * 3];
        float worst = 0.0f;
        snprintf(exp_path, sizeof exp_path, "%s/data/pil_expected/%.*s.png", HR_FIXTURES_DIR,
                 (int)(strrchr(base, '.') - base), base);
        memset(&im, 0, sizeof im);
        im.version = PNG_IMAGE_VERSION;
        assert_true(png_image_begin_read_from_file(&im, exp_path));
        im.format = PNG_FORMAT_RGB;
        assert_int_equal(im.width * 100 + im.height, 3232);
        assert_true(png_image_finish_read(&im, NULL, want, 0, NULL));
        HR_ASSERT_OK(hr_dataset_get(ds, i, HR_DOMAIN_CLEAN, 0, 0, x, &err), &err);
        for (int ch = 0; ch < 3; ch++)
            for (int j = 0; j < 32 * 32; j++) {
                float d = x[ch * 1024 + j] * 255.0f - (float)want[3 * j + ch];
                if (d < 0)
                    d = -d;
                if (d > worst)
                    worst = d;
            }
        print_message("%-12s largest difference from PIL: %.0f level(s)\n", base, (double)worst);
        assert_true(worst <= 1.001f);
    }
    hr_dataset_destroy(ds);
}

/* root/{cat,dog,eel}: five decodable files of mixed formats plus ignored
 * entries. Returns root (static storage). */
static const char *make_folder(void)
{
    static char root[600];
    char d[700];
    uint8_t *rgb = picture(40, 30, 0, 0), *gray = picture(40, 30, 1, 0), *coarse = picture(40, 30, 0, 1);

    snprintf(root, sizeof root, "%s", hr_test_tmpdir());
    snprintf(d, sizeof d, "%s/cat", root);
    mkdir_ok(d);
    write_png(at(d, "a.png"), rgb, 40, 30, P_RGB);
    write_jpeg(at(d, "b.jpg"), gray, 40, 30, J_GRAY);
    hr_test_write_file(at(d, "notes.txt"), "not an image", 12);
    write_png(at(d, ".hidden.png"), rgb, 40, 30, P_RGB);
    snprintf(d, sizeof d, "%s/dog", root);
    mkdir_ok(d);
    write_png(at(d, "c.PNG"), coarse, 40, 30, P_PALETTE);
    write_jpeg(at(d, "d.jpeg"), rgb, 40, 30, J_CMYK);
    snprintf(d, sizeof d, "%s/eel", root);
    mkdir_ok(d);
    write_png(at(d, "e.png"), rgb, 40, 30, P_RGBA);
    hr_test_write_file(at(root, "stray.png"), "x", 1); /* not in a class */
    free(rgb);
    free(gray);
    free(coarse);
    return root;
}

static void test_folder_dataset(void **state)
{
    const char *root = make_folder();
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    hr_dataset *ds = NULL;
    hr_error err = {0};
    int64_t chw[3];
    float *x = malloc(3 * 224 * 224 * sizeof *x);
    static const int32_t want_labels[5] = {0, 0, 1, 1, 2};
    (void)state;

    assert_non_null(x);
    HR_ASSERT_OK(hr_dataset_load_folder(NULL, root, HR_POOL_TRAIN, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 5);
    assert_int_equal(hr_dataset_num_classes(ds), 3);
    assert_true(hr_dataset_has_class_names(ds));
    assert_string_equal(hr_dataset_class_name(ds, 0), "cat");
    assert_string_equal(hr_dataset_class_name(ds, 2), "eel");
    for (int i = 0; i < 5; i++)
        assert_int_equal(hr_dataset_labels(ds)[i], want_labels[i]);
    assert_non_null(strstr(hr_dataset_path(ds, 1), "/cat/b.jpg"));
    assert_non_null(strstr(hr_dataset_path(ds, 2), "/dog/c.PNG"));
    hr_dataset_shape(ds, chw);
    assert_true(chw[0] == 3 && chw[1] == 224 && chw[2] == 224);
    /* Blue is 128 everywhere in a.png: normalised with ImageNet's mean/std. */
    HR_ASSERT_OK(hr_dataset_get(ds, 0, HR_DOMAIN_CLEAN, 1, 1, x, &err), &err);
    assert_float_equal(x[2 * 224 * 224 + 5000], (128.0f / 255.0f - 0.406f) / 0.225f, 1e-5);
    for (int i = 0; i < 5; i++)
        HR_ASSERT_OK(hr_dataset_get(ds, i, 3, 1, 0, x, &err), &err);
    hr_dataset_destroy(ds);

    /* Smaller resize/crop. */
    lp.resize = 32;
    lp.crop = 24;
    HR_ASSERT_OK(hr_dataset_load_folder(NULL, root, HR_POOL_TEST, &lp, &ds, &err), &err);
    hr_dataset_shape(ds, chw);
    assert_true(chw[1] == 24 && chw[2] == 24);
    assert_int_equal(hr_dataset_pool(ds), HR_POOL_TEST);
    hr_dataset_destroy(ds);

    assert_int_equal(hr_dataset_load_folder(NULL, at(root, "nowhere"), HR_POOL_TRAIN, NULL, &ds, &err),
                     HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "nowhere"));
    assert_int_equal(hr_dataset_load_folder(NULL, at(root, "eel"), HR_POOL_TRAIN, NULL, &ds, &err),
                     HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no class sub-directories"));
    free(x);
}

static void test_bad_files(void **state)
{
    const char *root = make_folder();
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_dataset *ds = NULL;
    hr_ctx *ctx = NULL;
    hr_error err = {0};
    char bad[800], cut[800], empty[800];
    hr_batch_params bp = hr_batch_params_default();
    hr_batch_iter *it = NULL;
    hr_batch b;
    (void)state;

    cp.threads = 2;
    cp.log_level = HR_LOG_ERROR; /* the skip warnings are expected */
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    lp.resize = 32;
    lp.crop = 24;
    snprintf(bad, sizeof bad, "%s/dog/zz-garbage.jpg", root);
    hr_test_write_file(bad, "\xff\xd8\xff\xe0 garbage that is not a JPEG", 32);

    lp.on_bad_file = HR_BAD_FILE_STOP;
    assert_int_equal(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, bad));
    assert_null(ds);
    lp.on_bad_file = HR_BAD_FILE_SKIP;
    HR_ASSERT_OK(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 5);
    assert_int_equal(hr_dataset_skipped(ds), 1);
    hr_dataset_destroy(ds);
    remove(bad);

    /* A JPEG cut after its header passes the open-time check; reading it is
     * an error under stop and a smaller batch under skip. */
    snprintf(cut, sizeof cut, "%s/eel/a-cut.jpg", root);
    {
        uint8_t *rgb = picture(40, 30, 0, 0);
        write_jpeg(cut, rgb, 40, 30, J_RGB);
        free(rgb);
        write_prefix(cut, cut, -300);
    }
    lp.on_bad_file = HR_BAD_FILE_STOP;
    lp.verify = 1;
    assert_int_equal(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, cut));
    lp.verify = 0;
    HR_ASSERT_OK(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 6);
    bp.batch_size = 6;
    HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), &err);
    assert_int_equal(hr_batch_iter_next(it, &b, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, cut));
    hr_batch_iter_destroy(it);
    hr_dataset_destroy(ds);
    lp.on_bad_file = HR_BAD_FILE_SKIP;
    HR_ASSERT_OK(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), &err);
    HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), &err);
    HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.x.shape[0], 5);
    for (int64_t j = 0; j < b.n; j++) {
        assert_true(b.indices[j] != 4);
        assert_int_equal(b.labels[j], hr_dataset_labels(ds)[b.indices[j]]);
    }
    HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
    assert_int_equal(b.n, 0);
    hr_batch_iter_destroy(it);
    /* One file per batch: the batch of the bad file is passed over. */
    bp.batch_size = 1;
    HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), &err);
    for (int64_t k = 0; k < 5; k++) {
        HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
        assert_int_equal(b.n, 1);
        assert_int_equal(b.indices[0], k < 4 ? k : k + 1);
        assert_int_equal(b.number, k < 4 ? k : k + 1);
    }
    HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
    assert_int_equal(b.n, 0);
    hr_batch_iter_destroy(it);
    hr_dataset_destroy(ds);
    remove(cut);

    /* An empty class: an error under stop, kept (without samples) under skip. */
    snprintf(empty, sizeof empty, "%s/fox", root);
    mkdir_ok(empty);
    lp.on_bad_file = HR_BAD_FILE_STOP;
    assert_int_equal(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "fox"));
    lp.on_bad_file = HR_BAD_FILE_SKIP;
    HR_ASSERT_OK(hr_dataset_load_folder(ctx, root, HR_POOL_TRAIN, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_num_classes(ds), 4);
    hr_dataset_destroy(ds);
    hr_ctx_destroy(ctx);
}

/* Writes n small PNGs per class into dir/<class>. */
static void fill_classes(const char *dir, int classes, int n, int seed)
{
    uint8_t *rgb = picture(20, 20, 0, 0);
    mkdir(dir, 0700);
    for (int k = 0; k < classes; k++) {
        char cd[800];
        snprintf(cd, sizeof cd, "%s/class%02d", dir, k);
        mkdir_ok(cd);
        for (int i = 0; i < n; i++) {
            char name[32];
            rgb[0] = (uint8_t)(k * 16 + i + seed);
            snprintf(name, sizeof name, "img%03d.png", i);
            write_png(at(cd, name), rgb, 20, 20, P_RGB);
        }
    }
    free(rgb);
}

static void test_data_sources(void **state)
{
    hr_data_params dp = hr_data_params_default();
    hr_data *d = NULL;
    hr_error err = {0};
    char root[600], tr[700], va[700];
    (void)state;

    /* One folder, split 75/25 per class into the two pools. */
    snprintf(root, sizeof root, "%s", hr_test_tmpdir());
    fill_classes(root, 3, 8, 0);
    dp.source = root;
    dp.load.resize = 24;
    dp.load.crop = 16;
    dp.test_fraction = 0.25;
    HR_ASSERT_OK(hr_data_open(NULL, &dp, &d, &err), &err);
    assert_int_equal(hr_dataset_size(hr_data_pool(d, HR_POOL_TRAIN)), 18);
    assert_int_equal(hr_dataset_size(hr_data_pool(d, HR_POOL_TEST)), 6);
    assert_int_equal(hr_dataset_pool(hr_data_pool(d, HR_POOL_TEST)), HR_POOL_TEST);
    assert_int_equal(hr_partition_kind_of(hr_data_partition(d)), HR_PARTITION_DIRICHLET);
    /* No file is in both pools. */
    for (int64_t i = 0; i < 18; i++)
        for (int64_t j = 0; j < 6; j++)
            assert_string_not_equal(hr_dataset_path(hr_data_pool(d, HR_POOL_TRAIN), i),
                                    hr_dataset_path(hr_data_pool(d, HR_POOL_TEST), j));
    hr_data_destroy(d);
    d = NULL;

    /* root/train + root/val with twelve classes: the classes partition works. */
    snprintf(root, sizeof root, "%s", hr_test_tmpdir());
    snprintf(tr, sizeof tr, "%s/train", root);
    snprintf(va, sizeof va, "%s/val", root);
    fill_classes(tr, 12, 3, 0);
    fill_classes(va, 12, 1, 100);
    dp.source = root;
    dp.partition.kind = HR_PARTITION_CLASSES;
    HR_ASSERT_OK(hr_data_open(NULL, &dp, &d, &err), &err);
    assert_int_equal(hr_dataset_size(hr_data_pool(d, HR_POOL_TRAIN)), 36);
    assert_int_equal(hr_dataset_size(hr_data_pool(d, HR_POOL_TEST)), 12);
    assert_int_equal(hr_partition_class_group(hr_data_partition(d), 11), 9);
    hr_data_destroy(d);
    d = NULL;

    /* Mismatched class lists. */
    snprintf(va, sizeof va, "%s/val/class99", root);
    mkdir_ok(va);
    assert_int_equal(hr_data_open(NULL, &dp, &d, &err), HR_ERR_NOT_FOUND); /* empty class under stop */
    dp.load.on_bad_file = HR_BAD_FILE_SKIP;
    assert_int_equal(hr_data_open(NULL, &dp, &d, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "13"));
    assert_null(d);

    dp.source = "/nonexistent/images";
    assert_int_equal(hr_data_open(NULL, &dp, &d, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/images"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_layouts),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_mutations),
        cmocka_unit_test(test_resize_crop),
        cmocka_unit_test(test_matches_pil),
        cmocka_unit_test(test_folder_dataset),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_data_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
