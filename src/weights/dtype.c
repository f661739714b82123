/* Element types of weight files and their conversion to float32, plus the
 * checked shape arithmetic every reader uses before allocating.
 *
 * All readers see file bytes, which are little-endian in every format we
 * support; values are assembled byte by byte so neither the host's byte order
 * nor the alignment of the source matters. */
#include "weights/weights_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const size_t dtype_sizes[HR__DT_COUNT] = {
    [HR__DT_F32] = 4, [HR__DT_F16] = 2, [HR__DT_BF16] = 2, [HR__DT_F64] = 8, [HR__DT_I64] = 8,
    [HR__DT_I32] = 4, [HR__DT_I16] = 2, [HR__DT_I8] = 1,   [HR__DT_U8] = 1,  [HR__DT_BOOL] = 1,
};

size_t hr__dtype_size(hr__dtype dt)
{
    return (unsigned)dt < HR__DT_COUNT ? dtype_sizes[dt] : 0;
}

int hr__host_is_le(void)
{
    const float one = 1.0f; /* 0x3f800000: the low byte is 0 only on LE */
    unsigned char b[sizeof one];
    memcpy(b, &one, sizeof one);
    return b[3] == 0x3f;
}

static uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static float bits_to_f32(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half to single, exact for every half value including subnormals,
 * infinities and NaNs (the payload is kept in the high mantissa bits). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f)
        return bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Double to float with IEEE overflow semantics made explicit: converting an
 * out-of-range double to float is undefined behaviour in ISO C. */
static float f64_to_f32(double d)
{
    if (d > FLT_MAX)
        return INFINITY;
    if (d < -FLT_MAX)
        return -INFINITY;
    return (float)d;
}

float hr__dtype_load(hr__dtype dt, const unsigned char *src, uint64_t index)
{
    const unsigned char *p = src + index * hr__dtype_size(dt);
    switch (dt) {
    case HR__DT_F32: return bits_to_f32((uint32_t)load_le(p, 4));
    case HR__DT_F16: return f16_to_f32((uint16_t)load_le(p, 2));
    case HR__DT_BF16: return bits_to_f32((uint32_t)load_le(p, 2) << 16);
    case HR__DT_F64: {
        uint64_t bits = load_le(p, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        return f64_to_f32(d);
    }
    case HR__DT_I64: return (float)(int64_t)load_le(p, 8);
    case HR__DT_I32: return (float)(int32_t)(uint32_t)load_le(p, 4);
    case HR__DT_I16: return (float)(int16_t)(uint16_t)load_le(p, 2);
    case HR__DT_I8: return (float)(int8_t)p[0];
    case HR__DT_U8: return (float)p[0];
    case HR__DT_BOOL: return p[0] ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

void hr__dtype_convert(hr__dtype dt, const unsigned char *src, float *dst, uint64_t n)
{
    if (dt == HR__DT_F32 && hr__host_is_le()) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        dst[i] = hr__dtype_load(dt, src, i);
}

int hr__shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    int64_t n = 1;
    int zero = 0;
    if (ndim < 0 || ndim > HR_MAX_DIMS)
        return 0;
    for (int i = 0; i < ndim; i++) {
        int64_t d = shape[i];
        if (d < 0 || d > HR_WEIGHTS_MAX_ELEMENTS)
            return 0;
        if (d == 0) {
            zero = 1;
            continue;
        }
        if (n > HR_WEIGHTS_MAX_ELEMENTS / d)
            return 0;
        n *= d;
    }
    *numel = zero ? 0 : n;
    return 1;
}

char *hr__shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}
