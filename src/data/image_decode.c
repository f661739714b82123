/* Decoding JPEG (libjpeg) and PNG (libpng) files to 8-bit RGB.
 *
 * Both libraries report errors by longjmp; each decoder keeps its setjmp in
 * one function whose locals are not modified after the setjmp, and frees the
 * library state on every path. Anything suspicious — a libjpeg corrupt-data
 * warning such as a premature end of file, a libpng error — makes the file
 * undecodable, as PIL would refuse a truncated image: silently training on
 * grey filler would be worse. Output buffers live in a caller-owned scratch
 * that only grows, so decoding many files reaches a steady state without
 * allocating (libjpeg and libpng still allocate their own state per file). */
#include "data/data_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* Grows *p to at least need bytes (contents not kept). 0 when out of memory. */
static int grow(void **p, size_t *cap, size_t need)
{
    void *q;
    if (*cap >= need)
        return 1;
    q = malloc(need);
    if (!q)
        return 0;
    free(*p);
    *p = q;
    *cap = need;
    return 1;
}

/* --------------------------------------------------------------- JPEG */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr ci)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

/* Keeps the first corrupt-data warning; trace messages are dropped. */
static void jpeg_on_message(j_common_ptr ci, int level)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    if (level >= 0)
        return;
    if (ci->err->num_warnings == 0)
        ci->err->format_message(ci, e->msg);
    ci->err->num_warnings++;
}

/* CMYK as libjpeg returns it → RGB. Adobe (Photoshop) files store inverted
 * values; PIL reads those as "CMYK;I", and its CMYK → RGB is
 * (255 − C)(255 − K)/255 on the real values. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int64_t w, int inverted)
{
    for (int64_t x = 0; x < w; x++) {
        unsigned c = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        out[3 * x] = (uint8_t)((c * k + 127) / 255);
        out[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        out[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

static hr_status decode_jpeg(const char *path, FILE *f, int full, int64_t max_pixels, hr__decode_scratch *s,
                             int64_t *w_out, int64_t *h_out, hr_error *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_err je;
    int64_t w, h;
    int cmyk;

    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_on_error;
    je.pub.emit_message = jpeg_on_message;
    je.msg[0] = '\0';
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: undecodable JPEG: %s", path, je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    w = ci.image_width;
    h = ci.image_height;
    if (w < 1 || h < 1 || w * h > max_pixels) {
        jpeg_destroy_decompress(&ci);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: image is %lldx%lld, more than %lld pixels are refused", path,
                            (long long)w, (long long)h, (long long)max_pixels);
    }
    if (full) {
        size_t need = (size_t)(w * h * 3 + w * 4);
        cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
        ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
        if (!grow((void **)&s->rgb, &s->rgb_cap, need)) {
            jpeg_destroy_decompress(&ci);
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for a %lldx%lld image", path, (long long)w,
                                (long long)h);
        }
        jpeg_start_decompress(&ci);
        if ((int64_t)ci.output_width != w || (int64_t)ci.output_height != h ||
            ci.output_components != (cmyk ? 4 : 3)) {
            jpeg_destroy_decompress(&ci);
            return hr_error_set(err, HR_ERR_FORMAT, "%s: unexpected JPEG output %ux%u with %d components", path,
                                ci.output_width, ci.output_height, ci.output_components);
        }
        while (ci.output_scanline < ci.output_height) {
            uint8_t *dst = s->rgb + (size_t)ci.output_scanline * (size_t)w * 3;
            JSAMPROW row = cmyk ? s->rgb + (size_t)(w * h * 3) : dst;
            if (jpeg_read_scanlines(&ci, &row, 1) != 1) {
                jpeg_destroy_decompress(&ci);
                return hr_error_set(err, HR_ERR_FORMAT, "%s: JPEG data ends early", path);
            }
            if (cmyk)
                cmyk_row_to_rgb(row, dst, w, ci.saw_Adobe_marker);
        }
        jpeg_finish_decompress(&ci);
    }
    if (je.pub.num_warnings > 0) {
        jpeg_destroy_decompress(&ci);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt JPEG data: %s", path, je.msg);
    }
    jpeg_destroy_decompress(&ci);
    *w_out = w;
    *h_out = h;
    return HR_OK;
}

/* ---------------------------------------------------------------- PNG */

typedef struct png_err {
    char msg[256];
} png_err;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static hr_status decode_png(const char *path, FILE *f, int full, int64_t max_pixels, hr__decode_scratch *s,
                            int64_t *w_out, int64_t *h_out, hr_error *err)
{
    png_err pe;
    png_structp png;
    png_infop info;
    png_uint_32 pw, ph;
    int depth, color, interlace;
    int64_t w, h;

    pe.msg[0] = '\0';
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &pe, png_on_error, png_on_warning);
    if (!png)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: cannot create a PNG reader", path);
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: cannot create a PNG reader", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: undecodable PNG: %s", path, pe.msg);
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_get_IHDR(png, info, &pw, &ph, &depth, &color, &interlace, NULL, NULL);
    w = pw;
    h = ph;
    if (w < 1 || h < 1 || w * h > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: image is %lldx%lld, more than %lld pixels are refused", path,
                            (long long)w, (long long)h, (long long)max_pixels);
    }
    if (full) {
        png_bytepp rows;
        png_set_expand(png);
        png_set_strip_16(png);
        png_set_strip_alpha(png);
        if (!(color & PNG_COLOR_MASK_COLOR))
            png_set_gray_to_rgb(png);
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        if ((int64_t)png_get_rowbytes(png, info) != w * 3) {
            png_destroy_read_struct(&png, &info, NULL);
            return hr_error_set(err, HR_ERR_FORMAT, "%s: unexpected PNG row size %zu for width %lld", path,
                                (size_t)png_get_rowbytes(png, info), (long long)w);
        }
        if (!grow((void **)&s->rgb, &s->rgb_cap, (size_t)(w * h * 3 + w * 4)) ||
            !grow(&s->rows, &s->rows_cap, (size_t)h * sizeof(png_bytep))) {
            png_destroy_read_struct(&png, &info, NULL);
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for a %lldx%lld image", path, (long long)w,
                                (long long)h);
        }
        rows = s->rows;
        for (int64_t y = 0; y < h; y++)
            rows[y] = s->rgb + (size_t)(y * w * 3);
        /* Trailing chunks after the image data are not read: the pixels are
         * complete, and a missing IEND should not cost a usable image. */
        png_read_image(png, rows);
    }
    png_destroy_read_struct(&png, &info, NULL);
    *w_out = w;
    *h_out = h;
    return HR_OK;
}

/* ------------------------------------------------------------ dispatch */

hr_status hr__image_probe(const char *path, int full, int64_t max_pixels, hr__decode_scratch *scratch, int64_t *w,
                          int64_t *h, hr_error *err)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char magic[8];
    size_t got;
    FILE *f = fopen(path, "rb");
    hr_status st;

    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    got = fread(magic, 1, sizeof magic, f);
    if (got < sizeof magic && ferror(f)) {
        st = hr_error_set(err, HR_ERR_IO, "%s: read error: %s", path, strerror(errno));
    } else if (fseek(f, 0, SEEK_SET) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    } else if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
        st = decode_jpeg(path, f, full, max_pixels, scratch, w, h, err);
    } else if (got == 8 && memcmp(magic, png_sig, 8) == 0) {
        st = decode_png(path, f, full, max_pixels, scratch, w, h, err);
    } else if (got == 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: file is empty", path);
    } else {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: not a JPEG or PNG file (starts with %02x %02x %02x)", path,
                          magic[0], got > 1 ? magic[1] : 0, got > 2 ? magic[2] : 0);
    }
    fclose(f);
    return st;
}

hr_status hr__image_decode(const char *path, int64_t max_pixels, hr__decode_scratch *scratch, int64_t *w,
                           int64_t *h, hr_error *err)
{
    return hr__image_probe(path, 1, max_pixels, scratch, w, h, err);
}
