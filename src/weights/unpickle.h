/* A restricted unpickler for the data.pkl of torch.save archives.
 *
 * It is a stack machine over a fixed subset of pickle opcodes (protocol 2,
 * plus the few protocol-4 ones torch.save(..., pickle_protocol=4) emits) that
 * builds plain values: None, bools, ints, floats, strings, tuples, lists,
 * dicts, and three torch objects (storage references from BINPERSID, tensors
 * from torch._utils._rebuild_tensor_v2/_rebuild_parameter, and the allowed
 * globals themselves). Nothing is ever called or imported: REDUCE is only
 * interpreted for the allowed callables, and everything else is rejected with
 * the opcode or global and its byte offset. Every count and length is
 * bounded before anything is allocated. Private to src/weights/. */
#ifndef HR_WEIGHTS_UNPICKLE_H
#define HR_WEIGHTS_UNPICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "weights/weights_internal.h"

/* Bounds on what one pickle may build. */
#define HR__PICKLE_MAX_SIZE ((size_t)64 << 20)     /* bytes of data.pkl */
#define HR__PICKLE_MAX_OBJECTS ((size_t)1 << 22)   /* values created */
#define HR__PICKLE_MAX_BYTES ((size_t)256 << 20)   /* bytes allocated */
#define HR__PICKLE_MAX_STACK ((size_t)1 << 20)     /* stack entries */
#define HR__PICKLE_MAX_MARKS 1024                  /* nested MARKs */
#define HR__PICKLE_MAX_TENSOR_DIMS 16              /* dims of any tensor */

typedef enum hr__py_kind {
    HR__PY_NONE,
    HR__PY_BOOL,
    HR__PY_INT,
    HR__PY_FLOAT,
    HR__PY_STR,
    HR__PY_TUPLE,
    HR__PY_LIST,
    HR__PY_DICT,    /* dict and OrderedDict: items[2k] = key, items[2k+1] = value */
    HR__PY_GLOBAL,  /* one of the allowed callables/classes */
    HR__PY_STORAGE, /* a persistent-id storage reference */
    HR__PY_TENSOR,
    HR__PY_KIND_COUNT
} hr__py_kind;

typedef enum hr__py_global {
    HR__G_ORDERED_DICT,
    HR__G_REBUILD_TENSOR_V2,
    HR__G_REBUILD_PARAMETER,
    HR__G_STORAGE_CLASS, /* torch.<X>Storage; the dtype is in the object */
    HR__G_COUNT
} hr__py_global;

typedef struct hr__py_obj hr__py_obj;
struct hr__py_obj {
    hr__py_kind kind;
    union {
        int64_t i; /* BOOL (0/1) and INT */
        double f;
        struct {
            const char *s; /* points into the pickle bytes: not NUL-terminated */
            size_t len;
        } str;
        struct {
            hr__py_obj **items;
            size_t n, cap;
        } seq; /* TUPLE, LIST, DICT */
        struct {
            hr__py_global which;
            hr__dtype dtype; /* for HR__G_STORAGE_CLASS */
        } global;
        struct {
            hr__dtype dtype;
            const char *key; /* the archive's data/<key>; not NUL-terminated */
            size_t key_len;
            int64_t numel; /* elements of dtype the pickle claims */
        } storage;
        struct {
            const hr__py_obj *storage; /* HR__PY_STORAGE */
            int64_t offset;            /* in elements, within the storage */
            int ndim;
            int64_t *dims; /* size[0..ndim) then stride[0..ndim); NULL when ndim is 0 */
        } tensor;
    } u;
};

typedef struct hr__pickle hr__pickle;

/* Unpickles size bytes at data. `what` names the stream in messages
 * ("data.pkl: global 'posix.system' is not allowed (offset 23)"). Tensors are
 * checked to lie inside their storage's claimed element count; the caller
 * must still check that count against the real storage bytes. The result
 * references data, which must outlive it. */
hr_status hr__unpickle(const unsigned char *data, size_t size, const char *what, hr__pickle **out, hr_error *err);

/* The unpickled value (valid until hr__pickle_destroy). */
const hr__py_obj *hr__pickle_root(const hr__pickle *p);

/* Frees every value; NULL is a no-op. */
void hr__pickle_destroy(hr__pickle *p);

/* 1 when o is a STR equal to the NUL-terminated s. */
int hr__py_str_eq(const hr__py_obj *o, const char *s);

/* The name of a kind ("tuple", "dict", ...), for messages. */
const char *hr__py_kind_name(hr__py_kind k);

#endif
