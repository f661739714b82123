/* hr_tensor_map: an ordered set of named float32 tensors.
 *
 * Entries are allocated one by one (name stored inline), so the pointers
 * returned by hr_tensor_map_at/find stay valid while the map grows. Lookup
 * goes through an open-addressing hash table of entry indices (FNV-1a, linear
 * probing, load factor <= 1/2), which keeps loading a 2000-tensor checkpoint
 * and resolving every name linear rather than quadratic. */
/* madvise(MADV_DONTNEED) is not in POSIX (posix_madvise's DONTNEED is a no-op on Linux). */
#define _DEFAULT_SOURCE
#include "weights/weights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct entry {
    hr_named_tensor t;
    float *owned; /* malloc'd data, or NULL when borrowed from the mapping */
    char name[];  /* t.name points into this (possibly past a stripped prefix) */
} entry;

struct hr_tensor_map {
    entry **items;
    size_t count, cap;
    size_t *slots; /* index + 1 into items; 0 = empty */
    size_t nslots; /* power of two, or 0 before the first add */
    void *map_addr;
    size_t map_len;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

hr_status hr_tensor_map_create(hr_tensor_map **out, hr_error *err)
{
    hr_tensor_map *m;
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_tensor_map_create: out is NULL");
    m = calloc(1, sizeof *m);
    if (!m)
        return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory");
    *out = m;
    return HR_OK;
}

void hr_tensor_map_destroy(hr_tensor_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->count; i++) {
        free(map->items[i]->owned);
        free(map->items[i]);
    }
    free(map->items);
    free(map->slots);
    if (map->map_addr)
        munmap(map->map_addr, map->map_len);
    free(map);
}

size_t hr_tensor_map_count(const hr_tensor_map *map)
{
    return map ? map->count : 0;
}

const hr_named_tensor *hr_tensor_map_at(const hr_tensor_map *map, size_t i)
{
    if (!map || i >= map->count)
        return NULL;
    return &map->items[i]->t;
}

/* Returns the slot where name lives or, when absent, the empty slot where it
 * would go. The table is never full (load factor <= 1/2), so probing ends. */
static size_t find_slot(size_t *slots, size_t nslots, entry *const *items, const char *const *names,
                        const char *name)
{
    size_t mask = nslots - 1;
    size_t i = (size_t)hash_name(name) & mask;
    for (;;) {
        size_t s = slots[i];
        if (s == 0)
            return i;
        if (strcmp(names ? names[s - 1] : items[s - 1]->t.name, name) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

const hr_named_tensor *hr_tensor_map_find(const hr_tensor_map *map, const char *name)
{
    size_t i;
    if (!map || !name || map->nslots == 0)
        return NULL;
    i = find_slot(map->slots, map->nslots, map->items, NULL, name);
    return map->slots[i] ? &map->items[map->slots[i] - 1]->t : NULL;
}

int64_t hr_named_tensor_numel(const hr_named_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Builds a table of nslots slots over `count` names (names[i], or the
 * entries' own names when names is NULL). Fails with the offending name in
 * *dup when two names are equal, so callers can report collisions. */
static hr_status build_table(size_t nslots, entry *const *items, const char *const *names, size_t count,
                             size_t **out, const char **dup)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return HR_ERR_NOMEM;
    for (size_t k = 0; k < count; k++) {
        const char *nm = names ? names[k] : items[k]->t.name;
        size_t i = find_slot(slots, nslots, items, names, nm);
        if (slots[i]) {
            *dup = nm;
            free(slots);
            return HR_ERR_FORMAT;
        }
        slots[i] = k + 1;
    }
    *out = slots;
    return HR_OK;
}

/* Makes room for one more entry in items and the hash table, rehashing into a
 * table twice as large when the load factor would pass 1/2. */
static hr_status reserve_one(hr_tensor_map *m, hr_error *err)
{
    if (m->count == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        entry **ni = realloc(m->items, ncap * sizeof *ni);
        if (!ni)
            return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory growing to %zu entries", ncap);
        m->items = ni;
        m->cap = ncap;
    }
    if ((m->count + 1) * 2 > m->nslots) {
        size_t ns = m->nslots ? m->nslots * 2 : 32;
        size_t *slots = NULL;
        const char *dup = NULL;
        if (build_table(ns, m->items, NULL, m->count, &slots, &dup) != HR_OK)
            return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory growing the index");
        free(m->slots);
        m->slots = slots;
        m->nslots = ns;
    }
    return HR_OK;
}

/* The common path of every add: validates name and shape, allocates the
 * entry and links it in. `owned` is freed on failure; `data` is what the
 * tensor points at (owned, borrowed, or NULL for an empty tensor). */
static hr_status add_entry(hr_tensor_map *m, const char *name, size_t name_len, int ndim, const int64_t *shape,
                           const float *data, float *owned, hr_error *err)
{
    entry *e;
    int64_t numel;
    size_t slot;
    hr_status st;

    if (!m || !name) {
        free(owned);
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tensor map: map or name is NULL");
    }
    if (name_len == 0 || name_len > HR_WEIGHTS_MAX_NAME || memchr(name, '\0', name_len)) {
        free(owned);
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "tensor map: tensor name of %zu bytes is empty, longer than %d bytes or contains NUL",
                            name_len, HR_WEIGHTS_MAX_NAME);
    }
    if (ndim < 0 || ndim > HR_MAX_DIMS || (ndim > 0 && !shape)) {
        free(owned);
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tensor map: tensor '%.*s' has %d dims (0..%d allowed)",
                            (int)name_len, name, ndim, HR_MAX_DIMS);
    }
    if (!hr__shape_numel(ndim, shape, &numel)) {
        char buf[128];
        free(owned);
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "tensor map: tensor '%.*s' shape %s has a negative dimension or over %lld elements",
                            (int)name_len, name, hr__shape_str(ndim, shape, buf, sizeof buf),
                            (long long)HR_WEIGHTS_MAX_ELEMENTS);
    }
    if (numel > 0 && !data) {
        free(owned);
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tensor map: tensor '%.*s' has no data", (int)name_len,
                            name);
    }
    st = reserve_one(m, err);
    if (st != HR_OK) {
        free(owned);
        return st;
    }
    e = malloc(sizeof *e + name_len + 1);
    if (!e) {
        free(owned);
        return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory adding '%.*s'", (int)name_len, name);
    }
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';
    slot = find_slot(m->slots, m->nslots, m->items, NULL, e->name);
    if (m->slots[slot]) {
        hr_status dup = hr_error_set(err, HR_ERR_INVALID_ARG, "tensor map: duplicate tensor name '%s'", e->name);
        free(e);
        free(owned);
        return dup;
    }
    memset(&e->t, 0, sizeof e->t);
    e->t.name = e->name;
    e->t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->t.shape[i] = shape[i];
    e->t.data = data;
    e->owned = owned;
    m->items[m->count] = e;
    m->slots[slot] = ++m->count;
    return HR_OK;
}

hr_status hr_tensor_map_add(hr_tensor_map *map, const char *name, int ndim, const int64_t *shape,
                            const float *data, hr_error *err)
{
    int64_t numel;
    float *copy;

    if (!map || !name)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_tensor_map_add: map or name is NULL");
    if (ndim < 0 || ndim > HR_MAX_DIMS || (ndim > 0 && !shape) || !hr__shape_numel(ndim, shape, &numel)) {
        /* add_entry produces the detailed message. */
        return add_entry(map, name, strlen(name), ndim, shape, data, NULL, err);
    }
    if (numel > 0 && !data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tensor map: tensor '%s' has no data", name);
    copy = malloc(numel > 0 ? (size_t)numel * sizeof *copy : sizeof *copy);
    if (!copy)
        return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory copying '%s' (%lld floats)", name,
                            (long long)numel);
    if (numel > 0)
        memcpy(copy, data, (size_t)numel * sizeof *copy);
    return add_entry(map, name, strlen(name), ndim, shape, copy, copy, err);
}

hr_status hr__tensor_map_add_owned(hr_tensor_map *map, const char *name, size_t name_len, int ndim,
                                   const int64_t *shape, float *data, hr_error *err)
{
    return add_entry(map, name, name_len, ndim, shape, data, data, err);
}

hr_status hr__tensor_map_add_borrowed(hr_tensor_map *map, const char *name, size_t name_len, int ndim,
                                      const int64_t *shape, const float *data, hr_error *err)
{
    return add_entry(map, name, name_len, ndim, shape, data, NULL, err);
}

void hr__tensor_map_adopt_mapping(hr_tensor_map *map, void *addr, size_t len)
{
    map->map_addr = addr;
    map->map_len = len;
}

/* Computes every new name first and builds the new index from them, so a
 * collision is detected before anything changes: on failure the map is left
 * exactly as it was. Renaming just advances each name pointer past the
 * prefix inside the entry's own storage. A name equal to the prefix would
 * become empty and is left alone. */
hr_status hr_tensor_map_strip_prefix(hr_tensor_map *map, const char *prefix, hr_error *err)
{
    size_t plen, changed = 0;
    const char **names;
    size_t *slots = NULL;
    const char *dup = NULL;
    hr_status st;

    if (!map || !prefix)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_tensor_map_strip_prefix: map or prefix is NULL");
    plen = strlen(prefix);
    if (plen == 0 || map->count == 0)
        return HR_OK;
    names = malloc(map->count * sizeof *names);
    if (!names)
        return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory stripping prefix '%s'", prefix);
    for (size_t i = 0; i < map->count; i++) {
        const char *nm = map->items[i]->t.name;
        if (strncmp(nm, prefix, plen) == 0 && nm[plen] != '\0') {
            nm += plen;
            changed++;
        }
        names[i] = nm;
    }
    if (changed == 0) {
        free(names);
        return HR_OK;
    }
    st = build_table(map->nslots, map->items, names, map->count, &slots, &dup);
    if (st == HR_ERR_FORMAT) {
        st = hr_error_set(err, HR_ERR_FORMAT, "tensor map: two tensors are called '%s' after stripping prefix '%s'",
                          dup, prefix);
        free(names);
        return st;
    }
    if (st != HR_OK) {
        free(names);
        return hr_error_set(err, HR_ERR_NOMEM, "tensor map: out of memory stripping prefix '%s'", prefix);
    }
    for (size_t i = 0; i < map->count; i++)
        map->items[i]->t.name = names[i];
    free(names);
    free(map->slots);
    map->slots = slots;
    return HR_OK;
}

void hr_tensor_map_release(hr_tensor_map *map, const hr_named_tensor *t)
{
    uintptr_t lo, hi, base, end, page;
    if (!map || !t || !map->map_addr)
        return;
    base = (uintptr_t)map->map_addr;
    end = base + map->map_len;
    lo = (uintptr_t)t->data;
    hi = lo + (uintptr_t)hr_named_tensor_numel(t) * sizeof(float);
    if (lo < base || hi > end)
        return;
    /* Only whole pages inside the tensor: neighbours may still be needed. */
    page = (uintptr_t)sysconf(_SC_PAGESIZE);
    lo = (lo + page - 1) & ~(page - 1);
    hi &= ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
