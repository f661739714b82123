#include "hyperrep/tensor.h"

#include <math.h>
#include <stdio.h>

hr_tensor hr_tensor_view(float *data, int ndim, const int64_t *shape)
{
    hr_tensor t = {0};
    int64_t s = 1;
    t.ndim = ndim;
    t.data = data;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = s;
        s *= shape[i];
    }
    return t;
}

hr_tensor hr_tensor_4d(float *data, int64_t n, int64_t c, int64_t h, int64_t w)
{
    const int64_t shape[4] = {n, c, h, w};
    return hr_tensor_view(data, 4, shape);
}

int64_t hr_tensor_numel(const hr_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

int hr_tensor_is_contiguous(const hr_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return 0;
        s *= t->shape[i];
    }
    return 1;
}

int hr_tensor_same_shape(const hr_tensor *a, const hr_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

double hr_tensor_rel_error(const hr_tensor *a, const hr_tensor *b)
{
    int64_t n = hr_tensor_numel(b);
    double maxdiff = 0, maxref = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a->data[i] - (double)b->data[i]);
        double r = fabs((double)b->data[i]);
        if (d > maxdiff || d != d)
            maxdiff = d != d ? INFINITY : d;
        if (r > maxref)
            maxref = r;
    }
    if (maxref == 0)
        return maxdiff == 0 ? 0 : INFINITY;
    return maxdiff / maxref;
}

char *hr_tensor_shape_str(const hr_tensor *t, char *buf, size_t size)
{
    size_t off = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf + off, size - off, "[");
    for (int i = 0; i < t->ndim && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (off < size)
        snprintf(buf + off, size - off, "]");
    return buf;
}
