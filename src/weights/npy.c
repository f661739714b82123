/* .npy reader and writer (NumPy format 1.0, 2.0 and 3.0), float32 only.
 *
 * File: "\x93NUMPY", major, minor, header length (u16 in 1.0, u32 in 2.0 and
 * 3.0, little-endian), then a Python dict literal such as
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with
 * spaces and a newline, then the raw data. The header is parsed with a small
 * tokenizer that accepts what numpy and other writers produce (either quote,
 * keys in any order, optional trailing commas, Python 2 "3L" integers) and
 * nothing that would need evaluation. */
#include "weights/weights_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER (1u << 20)

typedef struct npy_parser {
    const char *start, *p, *end;
    const char *path;
    hr_error *err;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Consumes c after optional whitespace; 1 when it was there. */
static int accept(npy_parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

static hr_status syntax(npy_parser *ps, const char *what)
{
    return hr_error_set(ps->err, HR_ERR_FORMAT, "%s: header: expected %s at byte %ld of the header", ps->path, what,
                        (long)(ps->p - ps->start));
}

/* A quoted Python string without escapes (no header numpy writes has them);
 * returns a pointer to its first character and its length. */
static hr_status parse_string(npy_parser *ps, const char **s, size_t *len)
{
    char q;
    const char *start;
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return syntax(ps, "a quoted string");
    q = *ps->p++;
    start = ps->p;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\')
            return hr_error_set(ps->err, HR_ERR_FORMAT, "%s: header: escape sequences in strings are not supported",
                                ps->path);
        ps->p++;
    }
    if (ps->p >= ps->end)
        return syntax(ps, "a closing quote");
    *s = start;
    *len = (size_t)(ps->p - start);
    ps->p++;
    return HR_OK;
}

/* A decimal integer as written by repr(): optional '-', digits, optional
 * 'L'. Negative values are parsed so the error can show them. */
static hr_status parse_int(npy_parser *ps, int idx, int64_t *v)
{
    char buf[32], *endp;
    size_t n = 0;
    long long x;

    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '-')
        buf[n++] = *ps->p++;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && n < sizeof buf - 1)
        buf[n++] = *ps->p++;
    buf[n] = '\0';
    if (n == 0 || (n == 1 && buf[0] == '-'))
        return syntax(ps, "an integer in the shape");
    if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        return hr_error_set(ps->err, HR_ERR_LIMIT, "%s: shape[%d] has too many digits", ps->path, idx);
    if (ps->p < ps->end && *ps->p == 'L')
        ps->p++;
    errno = 0;
    x = strtoll(buf, &endp, 10);
    if (errno != 0 || *endp != '\0')
        return hr_error_set(ps->err, HR_ERR_LIMIT, "%s: shape[%d] = %s is out of range", ps->path, idx, buf);
    if (x < 0)
        return hr_error_set(ps->err, HR_ERR_FORMAT, "%s: shape[%d] = %lld is negative", ps->path, idx, x);
    *v = x;
    return HR_OK;
}

static hr_status parse_shape(npy_parser *ps, int *ndim, int64_t shape[HR_MAX_DIMS])
{
    int n = 0;
    hr_status st;
    if (!accept(ps, '('))
        return syntax(ps, "'(' starting the shape tuple");
    while (!accept(ps, ')')) {
        int64_t v = 0;
        if (n == HR_MAX_DIMS)
            return hr_error_set(ps->err, HR_ERR_UNSUPPORTED, "%s: shape has more than %d dims", ps->path,
                                HR_MAX_DIMS);
        st = parse_int(ps, n, &v);
        if (st != HR_OK)
            return st;
        shape[n++] = v;
        if (!accept(ps, ',')) {
            if (!accept(ps, ')'))
                return syntax(ps, "',' or ')' in the shape tuple");
            break;
        }
    }
    *ndim = n;
    return HR_OK;
}

/* Parses the whole header dict. All three keys are required, each once, and
 * no other key is allowed: numpy itself rejects such headers. */
static hr_status parse_header(npy_parser *ps, int *ndim, int64_t shape[HR_MAX_DIMS])
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    hr_status st;

    if (!accept(ps, '{'))
        return syntax(ps, "'{'");
    while (!accept(ps, '}')) {
        const char *key, *val;
        size_t klen, vlen;
        st = parse_string(ps, &key, &klen);
        if (st != HR_OK)
            return st;
        if (!accept(ps, ':'))
            return syntax(ps, "':' after a key");
        if (klen == 5 && memcmp(key, "descr", 5) == 0 && !have_descr) {
            have_descr = 1;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == '[')
                return hr_error_set(ps->err, HR_ERR_UNSUPPORTED,
                                    "%s: descr is a structured dtype; only '<f4' (float32 little-endian) is supported",
                                    ps->path);
            st = parse_string(ps, &val, &vlen);
            if (st != HR_OK)
                return st;
            if (!(vlen == 3 && memcmp(val, "<f4", 3) == 0))
                return hr_error_set(ps->err, HR_ERR_UNSUPPORTED,
                                    "%s: descr '%.*s' is not supported; only '<f4' (float32 little-endian) is", ps->path,
                                    (int)(vlen > 32 ? 32 : vlen), val);
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0 && !have_fortran) {
            have_fortran = 1;
            skip_ws(ps);
            if ((size_t)(ps->end - ps->p) >= 5 && memcmp(ps->p, "False", 5) == 0) {
                ps->p += 5;
            } else if ((size_t)(ps->end - ps->p) >= 4 && memcmp(ps->p, "True", 4) == 0) {
                return hr_error_set(ps->err, HR_ERR_UNSUPPORTED,
                                    "%s: fortran_order True is not supported; save a C-ordered array "
                                    "(np.ascontiguousarray)", ps->path);
            } else {
                return syntax(ps, "True or False for fortran_order");
            }
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0 && !have_shape) {
            have_shape = 1;
            st = parse_shape(ps, ndim, shape);
            if (st != HR_OK)
                return st;
        } else {
            return hr_error_set(ps->err, HR_ERR_FORMAT, "%s: header: unexpected or repeated key '%.*s'", ps->path,
                                (int)(klen > 32 ? 32 : klen), key);
        }
        if (!accept(ps, ',')) {
            if (!accept(ps, '}'))
                return syntax(ps, "',' or '}' after a value");
            break;
        }
    }
    skip_ws(ps);
    if (ps->p != ps->end)
        return syntax(ps, "only padding after '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return hr_error_set(ps->err, HR_ERR_FORMAT, "%s: header lacks %s", ps->path,
                            !have_descr ? "'descr'" : !have_fortran ? "'fortran_order'" : "'shape'");
    return HR_OK;
}

/* Reads and validates everything from the open file f of fsize bytes. */
static hr_status load_file(FILE *f, uint64_t fsize, const char *path, int *ndim_out, int64_t shape_out[HR_MAX_DIMS],
                           float **data_out, hr_error *err)
{
    unsigned char pre[12];
    size_t prelen;
    uint64_t hlen, data_bytes;
    char *hdr;
    npy_parser ps;
    int ndim = 0;
    int64_t shape[HR_MAX_DIMS] = {0}, numel;
    unsigned char *raw;
    float *data;
    hr_status st;

    if (fsize < 10 || fread(pre, 1, 10, f) != 10)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: file is too short (%llu bytes) for a .npy header", path,
                            (unsigned long long)fsize);
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported (1.0-3.0 are)",
                            path, pre[6], pre[7]);
    if (pre[6] == 1) {
        prelen = 10;
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    } else {
        prelen = 12;
        if (fsize < 12 || fread(pre + 10, 1, 2, f) != 2)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: file is too short for a version %u header", path, pre[6]);
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    }
    if (hlen > NPY_MAX_HEADER)
        return hr_error_set(err, HR_ERR_LIMIT, "%s: header length %llu exceeds the limit of %u bytes", path,
                            (unsigned long long)hlen, NPY_MAX_HEADER);
    if (hlen > fsize - prelen)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: header length %llu goes beyond the end of the file (%llu bytes)",
                            path, (unsigned long long)hlen, (unsigned long long)fsize);
    hdr = malloc((size_t)hlen + 1);
    if (!hdr)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for the header", path);
    if (fread(hdr, 1, (size_t)hlen, f) != hlen) {
        free(hdr);
        return hr_error_set(err, HR_ERR_IO, "%s: cannot read the header", path);
    }
    hdr[hlen] = '\0';
    ps.start = ps.p = hdr;
    ps.end = hdr + hlen;
    ps.path = path;
    ps.err = err;
    st = parse_header(&ps, &ndim, shape);
    free(hdr);
    if (st != HR_OK)
        return st;
    if (!hr__shape_numel(ndim, shape, &numel)) {
        char buf[128];
        return hr_error_set(err, HR_ERR_LIMIT, "%s: shape %s has more than %lld elements", path,
                            hr__shape_str(ndim, shape, buf, sizeof buf), (long long)HR_WEIGHTS_MAX_ELEMENTS);
    }
    data_bytes = (uint64_t)numel * 4;
    if (data_bytes != fsize - prelen - hlen) {
        char buf[128];
        return hr_error_set(err, HR_ERR_FORMAT, "%s: shape %s needs %llu data bytes, the file holds %llu", path,
                            hr__shape_str(ndim, shape, buf, sizeof buf), (unsigned long long)data_bytes,
                            (unsigned long long)(fsize - prelen - hlen));
    }
    data = malloc(numel ? (size_t)data_bytes : sizeof *data);
    if (!data)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for %lld floats", path, (long long)numel);
    raw = (unsigned char *)data;
    if (fread(raw, 1, (size_t)data_bytes, f) != data_bytes) {
        free(data);
        return hr_error_set(err, HR_ERR_IO, "%s: cannot read %llu data bytes", path, (unsigned long long)data_bytes);
    }
    if (!hr__host_is_le()) {
        for (int64_t i = 0; i < numel; i++) {
            unsigned char t = raw[4 * i], u = raw[4 * i + 1];
            raw[4 * i] = raw[4 * i + 3];
            raw[4 * i + 1] = raw[4 * i + 2];
            raw[4 * i + 2] = u;
            raw[4 * i + 3] = t;
        }
    }
    *ndim_out = ndim;
    for (int i = 0; i < ndim; i++)
        shape_out[i] = shape[i];
    *data_out = data;
    return HR_OK;
}

hr_status hr_npy_load(const char *path, int *ndim, int64_t shape[HR_MAX_DIMS], float **data, hr_error *err)
{
    FILE *f;
    struct stat sb;
    hr_status st;

    if (!path || !ndim || !shape || !data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_npy_load: NULL argument");
    f = fopen(path, "rb");
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: not a readable regular file", path);
    }
    st = load_file(f, (uint64_t)sb.st_size, path, ndim, shape, data, err);
    fclose(f);
    return st;
}

hr_status hr_npy_save(const char *path, int ndim, const int64_t *shape, const float *data, hr_error *err)
{
    char hdr[256];
    int n, total;
    int64_t numel;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    hr__atomic_file af;
    hr_status st;

    if (!path || ndim < 0 || ndim > HR_MAX_DIMS || (ndim > 0 && !shape))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: cannot save an array of %d dims (0..%d allowed)",
                            path ? path : "(null)", ndim, HR_MAX_DIMS);
    if (!hr__shape_numel(ndim, shape, &numel))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: shape has a negative dimension or over %lld elements", path,
                            (long long)HR_WEIGHTS_MAX_ELEMENTS);
    if (numel > 0 && !data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: data is NULL", path);
    n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, ndim == 1 ? ",), }" : "), }");
    /* Pad with spaces so that magic + header end on a 64-byte boundary, the
     * last byte being the newline numpy requires. */
    total = (10 + n + 1 + 63) / 64 * 64;
    while (10 + n + 1 < total)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    pre[8] = (unsigned char)(n & 0xff);
    pre[9] = (unsigned char)(n >> 8);

    st = hr__atomic_begin(&af, path, err);
    if (st == HR_OK)
        st = hr__atomic_write(&af, pre, sizeof pre, err);
    if (st == HR_OK)
        st = hr__atomic_write(&af, hdr, (size_t)n, err);
    if (st == HR_OK)
        st = hr__atomic_write_f32le(&af, data, (uint64_t)numel, err);
    if (st == HR_OK)
        st = hr__atomic_commit(&af, err);
    return st;
}
