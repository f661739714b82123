/* Restricted unpickler (see unpickle.h for the contract).
 *
 * Values live in fixed-size chunks owned by the hr__pickle and are freed in
 * one sweep, so the machine never needs reference counts and never recurses:
 * self-referencing or deeply nested pickles cost nothing extra to free. The
 * MARK stack records stack heights, as CPython's metastack does; no opcode
 * may pop below the innermost mark. Every allocation is charged to a byte
 * budget and every value to an object budget before it is made. */
#include "weights/unpickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_OBJS 1024
#define MAX_GLOBAL_PART 256 /* bytes in a GLOBAL module or name line */
#define MAX_STORAGE_KEY 64

typedef struct chunk {
    struct chunk *next;
    size_t used;
    hr__py_obj objs[CHUNK_OBJS];
} chunk;

struct hr__pickle {
    chunk *chunks;
    size_t nobjects;
    size_t bytes;
    const hr__py_obj *root;
};

typedef struct machine {
    hr__pickle *p;
    const unsigned char *data;
    size_t size, pos, op_pos;
    const char *what;
    hr_error *err;
    hr__py_obj **stack;
    size_t sp, stack_cap;
    size_t marks[HR__PICKLE_MAX_MARKS];
    size_t nmarks;
    hr__py_obj **memo;
    size_t memo_n, memo_cap;
} machine;

static const struct {
    unsigned char op;
    const char *name;
} opcode_names[] = {
    {'(', "MARK"},         {'.', "STOP"},          {'0', "POP"},           {'1', "POP_MARK"},
    {'2', "DUP"},          {'F', "FLOAT"},         {'I', "INT"},           {'J', "BININT"},
    {'K', "BININT1"},      {'L', "LONG"},          {'M', "BININT2"},       {'N', "NONE"},
    {'P', "PERSID"},       {'Q', "BINPERSID"},     {'R', "REDUCE"},        {'S', "STRING"},
    {'T', "BINSTRING"},    {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},     {'X', "BINUNICODE"},
    {'a', "APPEND"},       {'b', "BUILD"},         {'c', "GLOBAL"},        {'d', "DICT"},
    {'}', "EMPTY_DICT"},   {'e', "APPENDS"},       {'g', "GET"},           {'h', "BINGET"},
    {'i', "INST"},         {'j', "LONG_BINGET"},   {'l', "LIST"},          {']', "EMPTY_LIST"},
    {'o', "OBJ"},          {'p', "PUT"},           {'q', "BINPUT"},        {'r', "LONG_BINPUT"},
    {'s', "SETITEM"},      {'t', "TUPLE"},         {')', "EMPTY_TUPLE"},   {'u', "SETITEMS"},
    {'G', "BINFLOAT"},     {0x80, "PROTO"},        {0x81, "NEWOBJ"},       {0x82, "EXT1"},
    {0x83, "EXT2"},        {0x84, "EXT4"},         {0x85, "TUPLE1"},       {0x86, "TUPLE2"},
    {0x87, "TUPLE3"},      {0x88, "NEWTRUE"},      {0x89, "NEWFALSE"},     {0x8a, "LONG1"},
    {0x8b, "LONG4"},       {'B', "BINBYTES"},      {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"},
    {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"},    {0x8f, "EMPTY_SET"},    {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"},   {0x92, "NEWOBJ_EX"},    {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"},
    {0x95, "FRAME"},       {0x96, "BYTEARRAY8"},   {0x97, "NEXT_BUFFER"},  {0x98, "READONLY_BUFFER"},
};

static const char *opcode_name(unsigned char op)
{
    for (size_t i = 0; i < sizeof opcode_names / sizeof opcode_names[0]; i++)
        if (opcode_names[i].op == op)
            return opcode_names[i].name;
    return NULL;
}

static const struct {
    const char *module, *name;
    hr__py_global which;
    hr__dtype dtype;
} allowed_globals[] = {
    {"collections", "OrderedDict", HR__G_ORDERED_DICT, HR__DT_F32},
    {"torch._utils", "_rebuild_tensor_v2", HR__G_REBUILD_TENSOR_V2, HR__DT_F32},
    {"torch._utils", "_rebuild_parameter", HR__G_REBUILD_PARAMETER, HR__DT_F32},
    {"torch", "FloatStorage", HR__G_STORAGE_CLASS, HR__DT_F32},
    {"torch", "HalfStorage", HR__G_STORAGE_CLASS, HR__DT_F16},
    {"torch", "BFloat16Storage", HR__G_STORAGE_CLASS, HR__DT_BF16},
    {"torch", "DoubleStorage", HR__G_STORAGE_CLASS, HR__DT_F64},
    {"torch", "LongStorage", HR__G_STORAGE_CLASS, HR__DT_I64},
    {"torch", "IntStorage", HR__G_STORAGE_CLASS, HR__DT_I32},
    {"torch", "ShortStorage", HR__G_STORAGE_CLASS, HR__DT_I16},
    {"torch", "CharStorage", HR__G_STORAGE_CLASS, HR__DT_I8},
    {"torch", "ByteStorage", HR__G_STORAGE_CLASS, HR__DT_U8},
    {"torch", "BoolStorage", HR__G_STORAGE_CLASS, HR__DT_BOOL},
};

static const char *const kind_names[HR__PY_KIND_COUNT] = {
    "None", "bool", "int", "float", "str", "tuple", "list", "dict", "global", "storage", "tensor",
};

const char *hr__py_kind_name(hr__py_kind k)
{
    return (unsigned)k < HR__PY_KIND_COUNT ? kind_names[k] : "?";
}

int hr__py_str_eq(const hr__py_obj *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->kind == HR__PY_STR && o->u.str.len == n && memcmp(o->u.str.s, s, n) == 0;
}

/* Records an error naming the stream and the offset of the current opcode;
 * every rejection goes through here so messages have one shape. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hr_status fail(machine *m, hr_status st, const char *fmt, ...)
{
    char msg[HR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hr_error_set(m->err, st, "%s: %s (offset %zu)", m->what, msg, m->op_pos);
    return st;
}

/* Copies at most 64 bytes of s into out, replacing unprintable bytes, so a
 * hostile name cannot inject control characters into a message. */
static const char *printable(const char *s, size_t n, char out[72])
{
    size_t k = n > 64 ? 64 : n;
    for (size_t i = 0; i < k; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > k) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static hr_status charge(machine *m, size_t bytes)
{
    if (bytes > HR__PICKLE_MAX_BYTES - m->p->bytes)
        return fail(m, HR_ERR_LIMIT, "pickle needs more than %zu bytes of memory", HR__PICKLE_MAX_BYTES);
    m->p->bytes += bytes;
    return HR_OK;
}

static hr_status new_obj(machine *m, hr__py_kind kind, hr__py_obj **out)
{
    chunk *c = m->p->chunks;
    hr__py_obj *o = NULL;
    hr_status st;

    if (m->p->nobjects >= HR__PICKLE_MAX_OBJECTS)
        return fail(m, HR_ERR_LIMIT, "pickle creates more than %zu values", HR__PICKLE_MAX_OBJECTS);
    if (!c || c->used == CHUNK_OBJS) {
        st = charge(m, sizeof *c);
        if (st != HR_OK)
            return st;
        c = malloc(sizeof *c);
        if (!c)
            return fail(m, HR_ERR_NOMEM, "out of memory");
        c->next = m->p->chunks;
        c->used = 0;
        m->p->chunks = c;
    }
    o = &c->objs[c->used++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    m->p->nobjects++;
    *out = o;
    return HR_OK;
}

/* Appends item to a tuple, list or dict, doubling its array. */
static hr_status seq_add(machine *m, hr__py_obj *seq, hr__py_obj *item)
{
    if (seq->u.seq.n == seq->u.seq.cap) {
        size_t ncap = seq->u.seq.cap ? seq->u.seq.cap * 2 : 4;
        hr__py_obj **ni;
        hr_status st = charge(m, (ncap - seq->u.seq.cap) * sizeof *ni);
        if (st != HR_OK)
            return st;
        ni = realloc(seq->u.seq.items, ncap * sizeof *ni);
        if (!ni)
            return fail(m, HR_ERR_NOMEM, "out of memory");
        seq->u.seq.items = ni;
        seq->u.seq.cap = ncap;
    }
    seq->u.seq.items[seq->u.seq.n++] = item;
    return HR_OK;
}

static size_t mark_base(const machine *m)
{
    return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static hr_status push(machine *m, hr__py_obj *o)
{
    if (m->sp == m->stack_cap) {
        size_t ncap = m->stack_cap ? m->stack_cap * 2 : 64;
        hr__py_obj **ns;
        hr_status st;
        if (m->sp >= HR__PICKLE_MAX_STACK)
            return fail(m, HR_ERR_LIMIT, "stack deeper than %zu entries", HR__PICKLE_MAX_STACK);
        st = charge(m, (ncap - m->stack_cap) * sizeof *ns);
        if (st != HR_OK)
            return st;
        ns = realloc(m->stack, ncap * sizeof *ns);
        if (!ns)
            return fail(m, HR_ERR_NOMEM, "out of memory");
        m->stack = ns;
        m->stack_cap = ncap;
    }
    m->stack[m->sp++] = o;
    return HR_OK;
}

static hr_status pop(machine *m, hr__py_obj **o)
{
    if (m->sp <= mark_base(m))
        return fail(m, HR_ERR_FORMAT, "stack underflow");
    *o = m->stack[--m->sp];
    return HR_OK;
}

static hr_status peek(machine *m, hr__py_obj **o)
{
    if (m->sp <= mark_base(m))
        return fail(m, HR_ERR_FORMAT, "stack underflow");
    *o = m->stack[m->sp - 1];
    return HR_OK;
}

/* Ends the innermost MARK: *start is where its items begin on the stack. */
static hr_status pop_mark(machine *m, size_t *start)
{
    if (m->nmarks == 0)
        return fail(m, HR_ERR_FORMAT, "opcode needs a MARK but none is open");
    *start = m->marks[--m->nmarks];
    return HR_OK;
}

static hr_status need(machine *m, size_t n)
{
    const char *name = opcode_name(m->data[m->op_pos]);
    if (m->size - m->pos < n)
        return fail(m, HR_ERR_FORMAT, "truncated: opcode %s needs %zu more bytes, %zu remain", name ? name : "?", n,
                    m->size - m->pos);
    return HR_OK;
}

static uint64_t read_le(machine *m, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | m->data[m->pos + i];
    m->pos += n;
    return v;
}

static hr_status push_int(machine *m, hr__py_kind kind, int64_t v)
{
    hr__py_obj *o = NULL;
    hr_status st = new_obj(m, kind, &o);
    if (st != HR_OK)
        return st;
    o->u.i = v;
    return push(m, o);
}

static hr_status push_str(machine *m, size_t len)
{
    hr__py_obj *o = NULL;
    hr_status st;
    if (m->size - m->pos < len)
        return fail(m, HR_ERR_FORMAT, "string of %zu bytes runs past the end (%zu bytes remain)", len,
                    m->size - m->pos);
    st = new_obj(m, HR__PY_STR, &o);
    if (st != HR_OK)
        return st;
    o->u.str.s = (const char *)m->data + m->pos;
    o->u.str.len = len;
    m->pos += len;
    return push(m, o);
}

/* Builds a tuple from stack[start, sp) and leaves it in their place. */
static hr_status make_tuple(machine *m, size_t start)
{
    hr__py_obj *t = NULL;
    hr_status st = new_obj(m, HR__PY_TUPLE, &t);
    for (size_t i = start; i < m->sp && st == HR_OK; i++)
        st = seq_add(m, t, m->stack[i]);
    if (st != HR_OK)
        return st;
    m->sp = start;
    return push(m, t);
}

/* Looks a (module, name) pair up in the allow-list; anything else is the
 * point where a malicious pickle would gain code execution, so it is
 * rejected with the exact name. */
static hr_status push_global(machine *m, const char *mod, size_t mlen, const char *name, size_t nlen)
{
    char pm[72], pn[72];
    hr__py_obj *o = NULL;
    hr_status st;

    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        if (strlen(allowed_globals[i].module) == mlen && memcmp(allowed_globals[i].module, mod, mlen) == 0 &&
            strlen(allowed_globals[i].name) == nlen && memcmp(allowed_globals[i].name, name, nlen) == 0) {
            st = new_obj(m, HR__PY_GLOBAL, &o);
            if (st != HR_OK)
                return st;
            o->u.global.which = allowed_globals[i].which;
            o->u.global.dtype = allowed_globals[i].dtype;
            return push(m, o);
        }
    }
    printable(mod, mlen, pm);
    printable(name, nlen, pn);
    /* The offset goes right after the verdict here, before the hint. */
    if (strcmp(pm, "torch.storage") == 0 && strcmp(pn, "_load_from_bytes") == 0)
        return hr_error_set(m->err, HR_ERR_UNSUPPORTED,
                            "%s: global '%s.%s' is not allowed (offset %zu): it unpickles a nested legacy storage; "
                            "re-save the checkpoint with a current torch.save", m->what, pm, pn, m->op_pos);
    return hr_error_set(m->err, HR_ERR_UNSUPPORTED,
                        "%s: global '%s.%s' is not allowed (offset %zu): only state_dict contents (tensors, numbers, "
                        "strings, containers) can be loaded; save model.state_dict(), not the model", m->what, pm, pn,
                        m->op_pos);
}

/* GLOBAL's operand is two newline-terminated lines, module and name. */
static hr_status op_global(machine *m)
{
    const char *part[2];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        const unsigned char *start = m->data + m->pos;
        size_t avail = m->size - m->pos, lim = avail < MAX_GLOBAL_PART + 1 ? avail : MAX_GLOBAL_PART + 1;
        const unsigned char *nl = memchr(start, '\n', lim);
        if (!nl)
            return fail(m, HR_ERR_FORMAT, "GLOBAL %s is not a newline-terminated line of at most %d bytes",
                        k ? "name" : "module", MAX_GLOBAL_PART);
        part[k] = (const char *)start;
        len[k] = (size_t)(nl - start);
        m->pos += len[k] + 1;
    }
    return push_global(m, part[0], len[0], part[1], len[1]);
}

static hr_status op_stack_global(machine *m)
{
    hr__py_obj *name = NULL, *mod = NULL;
    hr_status st = pop(m, &name);
    if (st == HR_OK)
        st = pop(m, &mod);
    if (st != HR_OK)
        return st;
    if (name->kind != HR__PY_STR || mod->kind != HR__PY_STR)
        return fail(m, HR_ERR_FORMAT, "STACK_GLOBAL needs two strings, got %s and %s", hr__py_kind_name(mod->kind),
                    hr__py_kind_name(name->kind));
    return push_global(m, mod->u.str.s, mod->u.str.len, name->u.str.s, name->u.str.len);
}

/* A persistent id is torch's storage reference:
 * ('storage', <torch.XStorage>, key, location, numel). The key names the
 * archive entry data/<key>, so it is restricted to a short identifier. */
static hr_status op_binpersid(machine *m)
{
    hr__py_obj *pid = NULL, *o = NULL, **it;
    hr_status st = pop(m, &pid);
    if (st != HR_OK)
        return st;
    if (pid->kind != HR__PY_TUPLE || pid->u.seq.n != 5)
        return fail(m, HR_ERR_FORMAT, "persistent id is a %s, expected a 5-tuple ('storage', ...)",
                    hr__py_kind_name(pid->kind));
    it = pid->u.seq.items;
    if (!hr__py_str_eq(it[0], "storage"))
        return fail(m, HR_ERR_UNSUPPORTED, "persistent id is not a 'storage' reference");
    if (it[1]->kind != HR__PY_GLOBAL || it[1]->u.global.which != HR__G_STORAGE_CLASS)
        return fail(m, HR_ERR_FORMAT, "storage type is a %s, expected a torch storage class",
                    hr__py_kind_name(it[1]->kind));
    if (it[2]->kind != HR__PY_STR || it[2]->u.str.len == 0 || it[2]->u.str.len > MAX_STORAGE_KEY)
        return fail(m, HR_ERR_FORMAT, "storage key is not a string of 1..%d bytes", MAX_STORAGE_KEY);
    for (size_t i = 0; i < it[2]->u.str.len; i++) {
        char c = it[2]->u.str.s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return fail(m, HR_ERR_FORMAT, "storage key contains byte 0x%02x; only letters, digits and '_' allowed",
                        (unsigned char)c);
    }
    if (it[4]->kind != HR__PY_INT || it[4]->u.i < 0 || it[4]->u.i > HR_WEIGHTS_MAX_ELEMENTS)
        return fail(m, HR_ERR_LIMIT, "storage element count is not an int in [0, %lld]",
                    (long long)HR_WEIGHTS_MAX_ELEMENTS);
    st = new_obj(m, HR__PY_STORAGE, &o);
    if (st != HR_OK)
        return st;
    o->u.storage.dtype = it[1]->u.global.dtype;
    o->u.storage.key = it[2]->u.str.s;
    o->u.storage.key_len = it[2]->u.str.len;
    o->u.storage.numel = it[4]->u.i;
    return push(m, o);
}

/* Reads a tuple of non-negative ints (a tensor's size or stride). */
static hr_status int_tuple(machine *m, const hr__py_obj *t, const char *what, int64_t *out, int *n)
{
    if (t->kind != HR__PY_TUPLE)
        return fail(m, HR_ERR_FORMAT, "tensor %s is a %s, expected a tuple", what, hr__py_kind_name(t->kind));
    if (t->u.seq.n > HR__PICKLE_MAX_TENSOR_DIMS)
        return fail(m, HR_ERR_LIMIT, "tensor %s has %zu entries, more than %d", what, t->u.seq.n,
                    HR__PICKLE_MAX_TENSOR_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const hr__py_obj *v = t->u.seq.items[i];
        if (v->kind != HR__PY_INT || v->u.i < 0)
            return fail(m, HR_ERR_FORMAT, "tensor %s[%zu] is not a non-negative int", what, i);
        out[i] = v->u.i;
    }
    *n = (int)t->u.seq.n;
    return HR_OK;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]). Checks that every element the view can reach
 * lies inside the storage's claimed element count, without overflow: the
 * largest reachable index is offset + sum((size_i - 1) * stride_i). */
static hr_status rebuild_tensor(machine *m, const hr__py_obj *args)
{
    hr__py_obj *t = NULL, *const *a = args->u.seq.items;
    int64_t size[HR__PICKLE_MAX_TENSOR_DIMS], stride[HR__PICKLE_MAX_TENSOR_DIMS];
    int nd, ns;
    int64_t numel = 1, snumel, offset, room;
    hr_status st;

    if (args->u.seq.n != 6 && args->u.seq.n != 7)
        return fail(m, HR_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", args->u.seq.n);
    if (a[0]->kind != HR__PY_STORAGE)
        return fail(m, HR_ERR_FORMAT, "_rebuild_tensor_v2 storage is a %s", hr__py_kind_name(a[0]->kind));
    if (a[1]->kind != HR__PY_INT || a[1]->u.i < 0)
        return fail(m, HR_ERR_FORMAT, "_rebuild_tensor_v2 storage_offset is not a non-negative int");
    st = int_tuple(m, a[2], "size", size, &nd);
    if (st == HR_OK)
        st = int_tuple(m, a[3], "stride", stride, &ns);
    if (st != HR_OK)
        return st;
    if (nd != ns)
        return fail(m, HR_ERR_FORMAT, "tensor size has %d dims but stride has %d", nd, ns);
    for (int i = 0; i < nd; i++) {
        if (size[i] > HR_WEIGHTS_MAX_ELEMENTS || (size[i] > 0 && numel > HR_WEIGHTS_MAX_ELEMENTS / size[i]))
            return fail(m, HR_ERR_LIMIT, "tensor has more than %lld elements", (long long)HR_WEIGHTS_MAX_ELEMENTS);
        numel *= size[i];
    }
    snumel = a[0]->u.storage.numel;
    offset = a[1]->u.i;
    /* A view may repeat its storage's elements (stride 0, PyTorch's
     * expand), and gathering it makes every repeat real: a few hundred
     * bytes of pickle could ask for gigabytes (issue 15). Beyond
     * HR_PTH_MAX_EXPANSION elements more than its storage holds, refused. */
    if (numel > snumel && numel - snumel > HR_PTH_MAX_EXPANSION)
        return fail(m, HR_ERR_LIMIT,
                    "tensor view of %lld elements repeats its storage of %lld elements beyond the bound of %lld "
                    "more", (long long)numel, (long long)snumel, (long long)HR_PTH_MAX_EXPANSION);
    if (numel == 0) {
        if (offset > snumel)
            return fail(m, HR_ERR_FORMAT, "tensor offset %lld is beyond its storage of %lld elements",
                        (long long)offset, (long long)snumel);
    } else {
        if (offset >= snumel)
            return fail(m, HR_ERR_FORMAT, "tensor offset %lld is beyond its storage of %lld elements",
                        (long long)offset, (long long)snumel);
        room = snumel - 1 - offset;
        for (int i = 0; i < nd; i++) {
            if (size[i] <= 1 || stride[i] == 0)
                continue;
            if (size[i] - 1 > room / stride[i])
                return fail(m, HR_ERR_FORMAT,
                            "tensor view (offset %lld, dim %d size %lld stride %lld) reaches past its storage of "
                            "%lld elements", (long long)offset, i, (long long)size[i], (long long)stride[i],
                            (long long)snumel);
            room -= (size[i] - 1) * stride[i];
        }
    }
    st = new_obj(m, HR__PY_TENSOR, &t);
    if (st == HR_OK && nd > 0)
        st = charge(m, 2 * (size_t)nd * sizeof *t->u.tensor.dims);
    if (st != HR_OK)
        return st;
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = offset;
    if (nd > 0) {
        t->u.tensor.dims = malloc(2 * (size_t)nd * sizeof *t->u.tensor.dims);
        if (!t->u.tensor.dims)
            return fail(m, HR_ERR_NOMEM, "out of memory");
        memcpy(t->u.tensor.dims, size, (size_t)nd * sizeof *size);
        memcpy(t->u.tensor.dims + nd, stride, (size_t)nd * sizeof *stride);
    }
    t->u.tensor.ndim = nd;
    return push(m, t);
}

/* REDUCE calls callable(*args). Only the allowed callables are interpreted,
 * each by hand; the storage classes are never called. */
static hr_status op_reduce(machine *m)
{
    hr__py_obj *args = NULL, *fn = NULL, *o = NULL;
    hr_status st = pop(m, &args);
    if (st == HR_OK)
        st = pop(m, &fn);
    if (st != HR_OK)
        return st;
    if (fn->kind != HR__PY_GLOBAL)
        return fail(m, HR_ERR_UNSUPPORTED, "REDUCE on a %s is not allowed", hr__py_kind_name(fn->kind));
    if (args->kind != HR__PY_TUPLE)
        return fail(m, HR_ERR_FORMAT, "REDUCE arguments are a %s, not a tuple", hr__py_kind_name(args->kind));
    switch (fn->u.global.which) {
    case HR__G_ORDERED_DICT:
        if (args->u.seq.n != 0)
            return fail(m, HR_ERR_UNSUPPORTED, "OrderedDict called with %zu arguments", args->u.seq.n);
        st = new_obj(m, HR__PY_DICT, &o);
        return st == HR_OK ? push(m, o) : st;
    case HR__G_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args);
    case HR__G_REBUILD_PARAMETER:
        if (args->u.seq.n != 3 || args->u.seq.items[0]->kind != HR__PY_TENSOR)
            return fail(m, HR_ERR_FORMAT, "_rebuild_parameter expects (tensor, requires_grad, hooks)");
        return push(m, args->u.seq.items[0]);
    default:
        return fail(m, HR_ERR_UNSUPPORTED, "REDUCE on a torch storage class is not allowed");
    }
}

/* SETITEMS/APPENDS: the container sits just below the MARK. */
static hr_status op_setitems(machine *m, int dict)
{
    size_t start = 0, n;
    hr__py_obj *c;
    hr_status st = pop_mark(m, &start);
    if (st != HR_OK)
        return st;
    n = m->sp - start;
    if (start <= mark_base(m))
        return fail(m, HR_ERR_FORMAT, "%s without a container below the MARK", dict ? "SETITEMS" : "APPENDS");
    c = m->stack[start - 1];
    if (c->kind != (dict ? HR__PY_DICT : HR__PY_LIST))
        return fail(m, HR_ERR_UNSUPPORTED, "%s on a %s is not allowed", dict ? "SETITEMS" : "APPENDS",
                    hr__py_kind_name(c->kind));
    if (dict && n % 2)
        return fail(m, HR_ERR_FORMAT, "SETITEMS with an odd number (%zu) of keys and values", n);
    for (size_t i = start; i < m->sp && st == HR_OK; i++)
        st = seq_add(m, c, m->stack[i]);
    m->sp = start;
    return st;
}

static hr_status op_put(machine *m, size_t idx)
{
    hr__py_obj *top = NULL;
    hr_status st = peek(m, &top);
    if (st != HR_OK)
        return st;
    /* Picklers number memo entries consecutively; requiring that keeps the
     * memo dense and its size bounded by the number of values. */
    if (idx > m->memo_n)
        return fail(m, HR_ERR_FORMAT, "memo index %zu out of sequence (next is %zu)", idx, m->memo_n);
    if (idx == m->memo_n) {
        if (m->memo_n == m->memo_cap) {
            size_t ncap = m->memo_cap ? m->memo_cap * 2 : 64;
            hr__py_obj **nm;
            st = charge(m, (ncap - m->memo_cap) * sizeof *nm);
            if (st != HR_OK)
                return st;
            nm = realloc(m->memo, ncap * sizeof *nm);
            if (!nm)
                return fail(m, HR_ERR_NOMEM, "out of memory");
            m->memo = nm;
            m->memo_cap = ncap;
        }
        m->memo_n++;
    }
    m->memo[idx] = top;
    return HR_OK;
}

static hr_status op_get(machine *m, size_t idx)
{
    if (idx >= m->memo_n)
        return fail(m, HR_ERR_FORMAT, "memo index %zu was never stored", idx);
    return push(m, m->memo[idx]);
}

static hr_status unsupported(machine *m, unsigned char op)
{
    const char *name = opcode_name(op);
    if (name)
        return fail(m, HR_ERR_UNSUPPORTED, "opcode 0x%02x (%s) is not supported", op, name);
    return fail(m, HR_ERR_FORMAT, "unknown opcode 0x%02x", op);
}

/* One opcode. Returns HR_OK, or an error; sets *stop on STOP. */
static hr_status step(machine *m, int *stop)
{
    unsigned char op = m->data[m->pos++];
    hr__py_obj *a = NULL, *b = NULL, *c = NULL;
    size_t start = 0;
    hr_status st;

    switch (op) {
    case 0x80: /* PROTO */
        if ((st = need(m, 1)) != HR_OK)
            return st;
        if (m->data[m->pos] < 2 || m->data[m->pos] > 5)
            return fail(m, HR_ERR_UNSUPPORTED, "pickle protocol %u is not supported (2-5 are)", m->data[m->pos]);
        m->pos++;
        return HR_OK;
    case 0x95: { /* FRAME: a length prefix we do not need */
        uint64_t n;
        if ((st = need(m, 8)) != HR_OK)
            return st;
        n = read_le(m, 8);
        if (n > m->size - m->pos)
            return fail(m, HR_ERR_FORMAT, "frame of %llu bytes runs past the end", (unsigned long long)n);
        return HR_OK;
    }
    case '}':
    case ']':
    case ')':
        st = new_obj(m, op == '}' ? HR__PY_DICT : op == ']' ? HR__PY_LIST : HR__PY_TUPLE, &a);
        return st == HR_OK ? push(m, a) : st;
    case 'N':
        st = new_obj(m, HR__PY_NONE, &a);
        return st == HR_OK ? push(m, a) : st;
    case 0x88:
    case 0x89:
        return push_int(m, HR__PY_BOOL, op == 0x88);
    case 'K':
        if ((st = need(m, 1)) != HR_OK)
            return st;
        return push_int(m, HR__PY_INT, (int64_t)read_le(m, 1));
    case 'M':
        if ((st = need(m, 2)) != HR_OK)
            return st;
        return push_int(m, HR__PY_INT, (int64_t)read_le(m, 2));
    case 'J':
        if ((st = need(m, 4)) != HR_OK)
            return st;
        return push_int(m, HR__PY_INT, (int64_t)(int32_t)(uint32_t)read_le(m, 4));
    case 0x8a: { /* LONG1: n-byte little-endian two's complement */
        size_t n;
        uint64_t v;
        if ((st = need(m, 1)) != HR_OK)
            return st;
        n = m->data[m->pos++];
        if (n > 8)
            return fail(m, HR_ERR_UNSUPPORTED, "LONG1 integer of %zu bytes does not fit in 64 bits", n);
        if ((st = need(m, n)) != HR_OK)
            return st;
        v = read_le(m, n);
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1)
            v |= ~(uint64_t)0 << (8 * n);
        return push_int(m, HR__PY_INT, (int64_t)v);
    }
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        uint64_t bits = 0;
        double d;
        if ((st = need(m, 8)) != HR_OK)
            return st;
        for (int i = 0; i < 8; i++)
            bits = (bits << 8) | m->data[m->pos++];
        memcpy(&d, &bits, sizeof d);
        if ((st = new_obj(m, HR__PY_FLOAT, &a)) != HR_OK)
            return st;
        a->u.f = d;
        return push(m, a);
    }
    case 'X':
        if ((st = need(m, 4)) != HR_OK)
            return st;
        return push_str(m, (size_t)read_le(m, 4));
    case 0x8c:
        if ((st = need(m, 1)) != HR_OK)
            return st;
        return push_str(m, (size_t)read_le(m, 1));
    case '(':
        if (m->nmarks == HR__PICKLE_MAX_MARKS)
            return fail(m, HR_ERR_LIMIT, "more than %d nested MARKs", HR__PICKLE_MAX_MARKS);
        m->marks[m->nmarks++] = m->sp;
        return HR_OK;
    case 't':
        if ((st = pop_mark(m, &start)) != HR_OK)
            return st;
        return make_tuple(m, start);
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t n = (size_t)(op - 0x84);
        if (m->sp - mark_base(m) < n)
            return fail(m, HR_ERR_FORMAT, "stack underflow");
        return make_tuple(m, m->sp - n);
    }
    case 'q':
        if ((st = need(m, 1)) != HR_OK)
            return st;
        return op_put(m, (size_t)read_le(m, 1));
    case 'r':
        if ((st = need(m, 4)) != HR_OK)
            return st;
        return op_put(m, (size_t)read_le(m, 4));
    case 0x94:
        return op_put(m, m->memo_n);
    case 'h':
        if ((st = need(m, 1)) != HR_OK)
            return st;
        return op_get(m, (size_t)read_le(m, 1));
    case 'j':
        if ((st = need(m, 4)) != HR_OK)
            return st;
        return op_get(m, (size_t)read_le(m, 4));
    case 'c':
        return op_global(m);
    case 0x93:
        return op_stack_global(m);
    case 'Q':
        return op_binpersid(m);
    case 'R':
        return op_reduce(m);
    case 's':
        if ((st = pop(m, &b)) != HR_OK || (st = pop(m, &a)) != HR_OK || (st = peek(m, &c)) != HR_OK)
            return st;
        if (c->kind != HR__PY_DICT)
            return fail(m, HR_ERR_UNSUPPORTED, "SETITEM on a %s is not allowed", hr__py_kind_name(c->kind));
        if ((st = seq_add(m, c, a)) != HR_OK)
            return st;
        return seq_add(m, c, b);
    case 'u':
        return op_setitems(m, 1);
    case 'a':
        if ((st = pop(m, &a)) != HR_OK || (st = peek(m, &c)) != HR_OK)
            return st;
        if (c->kind != HR__PY_LIST)
            return fail(m, HR_ERR_UNSUPPORTED, "APPEND on a %s is not allowed", hr__py_kind_name(c->kind));
        return seq_add(m, c, a);
    case 'e':
        return op_setitems(m, 0);
    case 'b': /* BUILD: only the ignorable state of an OrderedDict/tensor */
        if ((st = pop(m, &a)) != HR_OK || (st = peek(m, &c)) != HR_OK)
            return st;
        if (c->kind != HR__PY_DICT && c->kind != HR__PY_TENSOR)
            return fail(m, HR_ERR_UNSUPPORTED, "BUILD on a %s is not allowed", hr__py_kind_name(c->kind));
        return HR_OK;
    case '.':
        if (m->sp != 1 || m->nmarks != 0)
            return fail(m, HR_ERR_FORMAT, "STOP with %zu values on the stack and %zu open MARKs", m->sp,
                        m->nmarks);
        m->p->root = m->stack[0];
        *stop = 1;
        return HR_OK;
    default:
        return unsupported(m, op);
    }
}

hr_status hr__unpickle(const unsigned char *data, size_t size, const char *what, hr__pickle **out, hr_error *err)
{
    machine m;
    hr_status st = HR_OK;
    int stop = 0;

    memset(&m, 0, sizeof m);
    m.data = data;
    m.size = size;
    m.what = what ? what : "pickle";
    m.err = err;
    if ((!data && size > 0) || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: NULL argument", m.what);
    if (size > HR__PICKLE_MAX_SIZE)
        return hr_error_set(err, HR_ERR_LIMIT, "%s: %zu bytes exceeds the limit of %zu", m.what, size,
                            HR__PICKLE_MAX_SIZE);
    m.p = calloc(1, sizeof *m.p);
    if (!m.p)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", m.what);
    while (st == HR_OK && !stop) {
        if (m.pos >= m.size) {
            m.op_pos = m.pos;
            st = fail(&m, HR_ERR_FORMAT, "truncated: ends without a STOP opcode");
            break;
        }
        m.op_pos = m.pos;
        st = step(&m, &stop);
    }
    free(m.stack);
    free(m.memo);
    if (st != HR_OK) {
        hr__pickle_destroy(m.p);
        return st;
    }
    *out = m.p;
    return HR_OK;
}

const hr__py_obj *hr__pickle_root(const hr__pickle *p)
{
    return p ? p->root : NULL;
}

void hr__pickle_destroy(hr__pickle *p)
{
    chunk *c, *next;
    if (!p)
        return;
    for (c = p->chunks; c; c = next) {
        next = c->next;
        for (size_t i = 0; i < c->used; i++) {
            hr__py_kind k = c->objs[i].kind;
            if (k == HR__PY_TUPLE || k == HR__PY_LIST || k == HR__PY_DICT)
                free(c->objs[i].u.seq.items);
            else if (k == HR__PY_TENSOR)
                free(c->objs[i].u.tensor.dims);
        }
        free(c);
    }
    free(p);
}
