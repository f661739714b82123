/* Float32 tensor views.
 *
 * An hr_tensor is a non-owning view {ndim, shape, strides (in elements), data}
 * over storage that belongs to someone else (a model's arena, a tensor map, a
 * caller's buffer). Activations are NCHW. Views are plain values: copy them
 * freely; they never free anything. */
#ifndef HYPERREP_TENSOR_H
#define HYPERREP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_MAX_DIMS 4

typedef struct hr_tensor {
    int ndim;
    int64_t shape[HR_MAX_DIMS];
    int64_t stride[HR_MAX_DIMS];
    float *data;
} hr_tensor;

/* A contiguous (row-major) view of ndim dimensions over data. */
hr_tensor hr_tensor_view(float *data, int ndim, const int64_t *shape);
/* A contiguous NCHW view. */
hr_tensor hr_tensor_4d(float *data, int64_t n, int64_t c, int64_t h, int64_t w);

int64_t hr_tensor_numel(const hr_tensor *t);
/* 1 when the strides are row-major contiguous. */
int hr_tensor_is_contiguous(const hr_tensor *t);
/* 1 when both have the same ndim and shape. */
int hr_tensor_same_shape(const hr_tensor *a, const hr_tensor *b);

/* Relative error as used throughout hyperrep: max|a - b| / max|b|
 * (0 when both are all zero; +inf when b is all zero and a is not).
 * Both must be contiguous with the same number of elements. */
double hr_tensor_rel_error(const hr_tensor *a, const hr_tensor *b);

/* Writes "[1, 3, 224, 224]" into buf. Returns buf. */
char *hr_tensor_shape_str(const hr_tensor *t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
