/* safetensors reader and writer.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 * "__metadata__": {"k": "v"}}), then the data area; offsets are relative to
 * the start of the data area. The reader maps the file and validates the
 * whole header before creating the map, so a bad file never yields a partial
 * result; aligned little-endian F32 tensors are then used in place. */
#include "weights/weights_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

static const char *const dtype_names[HR__DT_COUNT] = {
    [HR__DT_F32] = "F32", [HR__DT_F16] = "F16", [HR__DT_BF16] = "BF16", [HR__DT_F64] = "F64",
    [HR__DT_I64] = "I64", [HR__DT_I32] = "I32", [HR__DT_I16] = "I16",   [HR__DT_I8] = "I8",
    [HR__DT_U8] = "U8",   [HR__DT_BOOL] = "BOOL",
};

typedef struct spec {
    const char *name; /* the JSON key, valid while the header object lives */
    size_t name_len;
    hr__dtype dtype;
    int ndim;
    int64_t shape[HR_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;
} spec;

/* Reads a JSON integer that must be >= 0 into *v; 0 on failure. */
static int json_nonneg(const json_t *j, uint64_t *v)
{
    json_int_t x;
    if (!json_is_integer(j))
        return 0;
    x = json_integer_value(j);
    if (x < 0)
        return 0;
    *v = (uint64_t)x;
    return 1;
}

/* Validates one tensor entry of the header against the data area of
 * data_size bytes and fills s. Every message names the file, the tensor, the
 * field and the value found, because this is what a user debugging a broken
 * export needs to see. */
static hr_status parse_spec(const char *path, const char *name, size_t name_len, json_t *v, uint64_t data_size,
                            spec *s, hr_error *err)
{
    json_t *jd = json_object_get(v, "dtype"), *jshape = json_object_get(v, "shape");
    json_t *joff = json_object_get(v, "data_offsets");
    const char *dt;
    size_t i, n;
    char sbuf[160];

    memset(s, 0, sizeof *s);
    s->name = name;
    s->name_len = name_len;
    if (name_len == 0 || name_len > HR_WEIGHTS_MAX_NAME || memchr(name, '\0', name_len))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor name of %zu bytes is empty, longer than %d or contains NUL",
                            path, name_len, HR_WEIGHTS_MAX_NAME);
    if (!json_is_object(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    if (!json_is_string(jd))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string", path, name);
    dt = json_string_value(jd);
    for (i = 0; i < HR__DT_COUNT; i++)
        if (strcmp(dt, dtype_names[i]) == 0)
            break;
    if (i == HR__DT_COUNT)
        return hr_error_set(err, HR_ERR_UNSUPPORTED,
                            "%s: tensor '%s': dtype '%.32s' is not supported (F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)",
                            path, name, dt);
    s->dtype = (hr__dtype)i;

    if (!json_is_array(jshape))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor '%s': \"shape\" is missing or not a list", path, name);
    n = json_array_size(jshape);
    if (n > HR_MAX_DIMS)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: tensor '%s': shape has %zu dims, at most %d are supported",
                            path, name, n, HR_MAX_DIMS);
    s->ndim = (int)n;
    for (i = 0; i < n; i++) {
        uint64_t d;
        if (!json_nonneg(json_array_get(jshape, i), &d))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                path, name, i);
        if (d > (uint64_t)HR_WEIGHTS_MAX_ELEMENTS)
            return hr_error_set(err, HR_ERR_LIMIT, "%s: tensor '%s': shape[%zu] = %llu exceeds the limit of %lld elements",
                                path, name, i, (unsigned long long)d, (long long)HR_WEIGHTS_MAX_ELEMENTS);
        s->shape[i] = (int64_t)d;
    }
    if (!hr__shape_numel(s->ndim, s->shape, &s->numel))
        return hr_error_set(err, HR_ERR_LIMIT, "%s: tensor '%s': shape %s has more than %lld elements", path, name,
                            hr__shape_str(s->ndim, s->shape, sbuf, sizeof sbuf), (long long)HR_WEIGHTS_MAX_ELEMENTS);

    if (!json_is_array(joff) || json_array_size(joff) != 2 || !json_nonneg(json_array_get(joff, 0), &s->begin) ||
        !json_nonneg(json_array_get(joff, 1), &s->end))
        return hr_error_set(err, HR_ERR_FORMAT,
                            "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative integers", path,
                            name);
    if (s->begin > s->end || s->end > data_size)
        return hr_error_set(err, HR_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] are outside the data area of %llu bytes", path,
                            name, (unsigned long long)s->begin, (unsigned long long)s->end,
                            (unsigned long long)data_size);
    if (s->end - s->begin != (uint64_t)s->numel * hr__dtype_size(s->dtype))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, %s shape %s needs %llu",
                            path, name, (unsigned long long)s->begin, (unsigned long long)s->end,
                            (unsigned long long)(s->end - s->begin), dtype_names[s->dtype],
                            hr__shape_str(s->ndim, s->shape, sbuf, sizeof sbuf),
                            (unsigned long long)s->numel * hr__dtype_size(s->dtype));
    return HR_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const spec *x = *(const spec *const *)a, *y = *(const spec *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Two non-empty tensors may not share bytes: a writer that aliases storage
 * is either buggy or trying to make a small file expand into a large map. */
static hr_status check_overlaps(const char *path, spec *specs, size_t n, hr_error *err)
{
    spec **order;
    size_t m = 0;
    hr_status st = HR_OK;

    if (n == 0)
        return HR_OK;
    order = malloc(n * sizeof *order);
    if (!order)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        if (specs[i].end > specs[i].begin)
            order[m++] = &specs[i];
    qsort(order, m, sizeof *order, cmp_begin);
    for (size_t i = 1; i < m; i++) {
        if (order[i]->begin < order[i - 1]->end) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", path,
                              order[i - 1]->name, (unsigned long long)order[i - 1]->begin,
                              (unsigned long long)order[i - 1]->end, order[i]->name,
                              (unsigned long long)order[i]->begin, (unsigned long long)order[i]->end);
            break;
        }
    }
    free(order);
    return st;
}

static hr_status check_metadata(const char *path, json_t *meta, hr_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(meta))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: \"__metadata__\" is not an object", path);
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: \"__metadata__\" value of '%s' is not a string", path, k);
    }
    return HR_OK;
}

/* Parses and validates the header, then builds the map. Runs with the file
 * mapped at base (size bytes); on success the map owns the mapping when any
 * tensor points into it, and *keep_mapping says so. */
static hr_status load_mapped(const char *path, const unsigned char *base, uint64_t size, hr_tensor_map **out,
                             int *keep_mapping, hr_error *err)
{
    uint64_t hlen = 0, data_start, data_size;
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    spec *specs = NULL;
    size_t n = 0, cap;
    hr_tensor_map *map = NULL;
    hr_status st = HR_OK;

    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | base[i];
    if (hlen > ST_MAX_HEADER)
        return hr_error_set(err, HR_ERR_LIMIT, "%s: header length %llu exceeds the limit of %llu bytes", path,
                            (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
    if (hlen > size - 8)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: header length %llu goes beyond the end of the file (%llu bytes)",
                            path, (unsigned long long)hlen, (unsigned long long)size);
    data_start = 8 + hlen;
    data_size = size - data_start;

    root = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: header JSON line %d column %d: %s", path, jerr.line, jerr.column,
                            jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    cap = json_object_size(root);
    if (cap > HR_WEIGHTS_MAX_TENSORS + 1) {
        json_decref(root);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: header lists %zu entries, more than the limit of %d tensors", path,
                            cap, HR_WEIGHTS_MAX_TENSORS);
    }
    specs = malloc((cap ? cap : 1) * sizeof *specs);
    if (!specs) {
        json_decref(root);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for %zu header entries", path, cap);
    }
    for (void *it = json_object_iter(root); it && st == HR_OK; it = json_object_iter_next(root, it)) {
        key = json_object_iter_key(it);
        v = json_object_iter_value(it);
        if (strcmp(key, "__metadata__") == 0)
            st = check_metadata(path, v, err);
        else
            st = parse_spec(path, key, strlen(key), v, data_size, &specs[n++], err);
    }
    if (st == HR_OK)
        st = check_overlaps(path, specs, n, err);
    if (st == HR_OK)
        st = hr_tensor_map_create(&map, err);
    *keep_mapping = 0;
    for (size_t i = 0; i < n && st == HR_OK; i++) {
        const spec *s = &specs[i];
        const unsigned char *src = base + data_start + s->begin;
        if (s->dtype == HR__DT_F32 && hr__host_is_le() && ((uintptr_t)src % sizeof(float)) == 0) {
            st = hr__tensor_map_add_borrowed(map, s->name, s->name_len, s->ndim, s->shape,
                                             s->numel ? (const float *)(const void *)src : NULL, err);
            *keep_mapping |= s->numel > 0;
        } else {
            float *dst = malloc(s->numel ? (size_t)s->numel * sizeof *dst : sizeof *dst);
            if (!dst) {
                st = hr_error_set(err, HR_ERR_NOMEM, "%s: tensor '%s': out of memory for %lld floats", path, s->name,
                                  (long long)s->numel);
                break;
            }
            hr__dtype_convert(s->dtype, src, dst, (uint64_t)s->numel);
            st = hr__tensor_map_add_owned(map, s->name, s->name_len, s->ndim, s->shape, dst, err);
        }
        if (st != HR_OK)
            hr_error_prefix(err, "%s", path);
    }
    free(specs);
    json_decref(root);
    if (st != HR_OK) {
        hr_tensor_map_destroy(map);
        *keep_mapping = 0;
        return st;
    }
    *out = map;
    return HR_OK;
}

hr_status hr_safetensors_load(const char *path, hr_tensor_map **out, hr_error *err)
{
    struct stat sb;
    void *base;
    int fd, keep = 0;
    uint64_t size;
    hr_tensor_map *map = NULL;
    hr_status st;

    if (!path || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_safetensors_load: path or out is NULL");
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: fstat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return hr_error_set(err, HR_ERR_IO, "%s: not a regular file", path);
    }
    size = (uint64_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: file is %llu bytes, shorter than the 8-byte header length", path,
                            (unsigned long long)size);
    }
    if (size > SIZE_MAX) {
        close(fd);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: file of %llu bytes cannot be mapped", path,
                            (unsigned long long)size);
    }
    base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) {
        st = hr_error_set(err, HR_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (close(fd) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "%s: close: %s", path, strerror(errno));
        munmap(base, (size_t)size);
        return st;
    }
    st = load_mapped(path, base, size, &map, &keep, err);
    if (st == HR_OK && keep)
        hr__tensor_map_adopt_mapping(map, base, (size_t)size);
    else
        munmap(base, (size_t)size);
    if (st == HR_OK)
        *out = map;
    return st;
}

/* Builds the header JSON: __metadata__ first (as the reference writer does),
 * then every tensor in map order with consecutive offsets. Names and metadata
 * must be valid UTF-8 because JSON strings are. */
static hr_status build_header(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                              const char *const *meta_values, size_t n_meta, json_t **out, hr_error *err)
{
    json_t *root = json_object(), *meta = NULL;
    uint64_t off = 0;
    size_t count = hr_tensor_map_count(map);

    if (!root)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    if (n_meta > 0) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) {
            json_decref(root);
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
        }
        for (size_t i = 0; i < n_meta; i++) {
            json_t *s = meta_keys[i] && meta_values[i] ? json_string(meta_values[i]) : NULL;
            if (!s || json_object_set_new(meta, meta_keys[i], s) != 0) {
                json_decref(root);
                return hr_error_set(err, HR_ERR_INVALID_ARG,
                                    "%s: metadata entry %zu is NULL or not valid UTF-8", path, i);
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        const hr_named_tensor *t = hr_tensor_map_at(map, i);
        uint64_t bytes = (uint64_t)hr_named_tensor_numel(t) * sizeof(float);
        json_t *e, *shape, *offs;
        int bad = 0;
        if (strcmp(t->name, "__metadata__") == 0) {
            json_decref(root);
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor name '__metadata__' is reserved", path);
        }
        /* The json_*_new calls steal their argument even when they fail (and
         * accept NULL), so evaluating all of them leaks nothing. */
        e = json_object();
        shape = json_array();
        offs = json_array();
        for (int d = 0; d < t->ndim; d++)
            bad |= json_array_append_new(shape, json_integer(t->shape[d])) != 0;
        bad |= json_array_append_new(offs, json_integer((json_int_t)off)) != 0;
        bad |= json_array_append_new(offs, json_integer((json_int_t)(off + bytes))) != 0;
        bad |= json_object_set_new(e, "dtype", json_string("F32")) != 0;
        bad |= json_object_set_new(e, "shape", shape) != 0;
        bad |= json_object_set_new(e, "data_offsets", offs) != 0;
        if (bad) {
            json_decref(e);
            json_decref(root);
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the header", path);
        }
        if (json_object_set_new(root, t->name, e) != 0) {
            json_decref(root);
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
        }
        off += bytes;
    }
    *out = root;
    return HR_OK;
}

static hr_status save_mode(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                           const char *const *meta_values, size_t n_meta, unsigned mode, hr_error *err)
{
    json_t *root = NULL;
    char *text;
    size_t tlen, padded;
    unsigned char lenbuf[8];
    hr__atomic_file af;
    hr_status st;

    if (!path || !map || (n_meta > 0 && (!meta_keys || !meta_values)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_safetensors_save: path, map or metadata is NULL");
    st = build_header(path, map, meta_keys, meta_values, n_meta, &root, err);
    if (st != HR_OK)
        return st;
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: cannot serialise the header", path);
    tlen = strlen(text);
    padded = (tlen + 7) / 8 * 8;
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    st = hr__atomic_begin_mode(&af, path, mode, err);
    if (st == HR_OK)
        st = hr__atomic_write(&af, lenbuf, sizeof lenbuf, err);
    if (st == HR_OK)
        st = hr__atomic_write(&af, text, tlen, err);
    if (st == HR_OK)
        st = hr__atomic_write(&af, "        ", padded - tlen, err);
    free(text);
    for (size_t i = 0; i < hr_tensor_map_count(map) && st == HR_OK; i++) {
        const hr_named_tensor *t = hr_tensor_map_at(map, i);
        st = hr__atomic_write_f32le(&af, t->data, (uint64_t)hr_named_tensor_numel(t), err);
    }
    if (st == HR_OK)
        st = hr__atomic_commit(&af, err);
    return st;
}

hr_status hr_safetensors_save(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                              const char *const *meta_values, size_t n_meta, hr_error *err)
{
    return save_mode(path, map, meta_keys, meta_values, n_meta, 0644, err);
}

hr_status hr_safetensors_save_private(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                                      const char *const *meta_values, size_t n_meta, hr_error *err)
{
    return save_mode(path, map, meta_keys, meta_values, n_meta, 0600, err);
}
