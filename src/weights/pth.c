/* PyTorch checkpoint reader (torch.save zip format, torch >= 1.6).
 *
 * The archive holds <name>/data.pkl (the pickled object), <name>/data/<key>
 * (one raw little-endian storage per key) and <name>/version. data.pkl is
 * decoded by the restricted unpickler in unpickle.c; this file picks the
 * state dict out of the result, reads each referenced storage once (checking
 * its real size in the archive against what the pickle claims), and copies
 * every tensor into a contiguous float32 buffer, gathering strided views and
 * converting other dtypes. A storage's bytes are freed as soon as the last
 * tensor using it has been copied, which keeps peak memory near one copy. */
#include "weights/unpickle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define PTH_MAX_ENTRY_NAME 512

typedef struct storage_slot {
    const hr__py_obj *ref;   /* first reference seen; key, dtype, numel */
    size_t uses;             /* tensors still to be copied from it */
    unsigned char *bytes;    /* loaded on first use */
} storage_slot;

typedef struct pth_loader {
    const char *path;
    zip_t *za;
    char prefix[PTH_MAX_ENTRY_NAME]; /* "<archive name>/" */
    uint64_t file_size;
    storage_slot *slots;             /* open-addressing table keyed by storage key */
    size_t nslots;
    hr_error *err;
} pth_loader;

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Finds (or creates) the slot for a storage key. Two references to the same
 * key must agree on dtype and element count, otherwise one of them would
 * read the bytes with the wrong meaning or past their end. */
static hr_status slot_for(pth_loader *L, const hr__py_obj *ref, storage_slot **out)
{
    size_t mask = L->nslots - 1, i = (size_t)hash_key(ref->u.storage.key, ref->u.storage.key_len) & mask;
    for (;; i = (i + 1) & mask) {
        storage_slot *s = &L->slots[i];
        if (!s->ref) {
            s->ref = ref;
            *out = s;
            return HR_OK;
        }
        if (s->ref->u.storage.key_len == ref->u.storage.key_len &&
            memcmp(s->ref->u.storage.key, ref->u.storage.key, ref->u.storage.key_len) == 0) {
            if (s->ref->u.storage.dtype != ref->u.storage.dtype || s->ref->u.storage.numel != ref->u.storage.numel)
                return hr_error_set(L->err, HR_ERR_FORMAT,
                                    "%s: storage '%.*s' is referenced with two different types or sizes", L->path,
                                    (int)ref->u.storage.key_len, ref->u.storage.key);
            *out = s;
            return HR_OK;
        }
    }
}

/* Reads archive entry `index` of exactly `size` bytes into a new buffer.
 * The final one-byte read must hit end of file, which is also when libzip
 * verifies the CRC, so a corrupted entry is reported rather than used. */
static hr_status read_entry(pth_loader *L, zip_int64_t index, const char *name, uint64_t size, unsigned char **out)
{
    zip_file_t *zf;
    unsigned char *buf, extra;
    uint64_t got = 0;
    zip_int64_t n;

    if (size > SIZE_MAX - 1)
        return hr_error_set(L->err, HR_ERR_LIMIT, "%s: entry '%s' is too large", L->path, name);
    buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return hr_error_set(L->err, HR_ERR_NOMEM, "%s: out of memory for entry '%s' (%llu bytes)", L->path, name,
                            (unsigned long long)size);
    zf = zip_fopen_index(L->za, (zip_uint64_t)index, 0);
    if (!zf) {
        hr_status st = hr_error_set(L->err, HR_ERR_FORMAT, "%s: cannot open entry '%s': %s", L->path, name,
                                    zip_strerror(L->za));
        free(buf);
        return st;
    }
    while (got < size) {
        n = zip_fread(zf, buf + got, size - got);
        if (n <= 0)
            break;
        got += (uint64_t)n;
    }
    n = got == size ? zip_fread(zf, &extra, 1) : -1;
    if (got != size || n != 0) {
        hr_status st = hr_error_set(L->err, HR_ERR_FORMAT, "%s: entry '%s' is corrupt or not %llu bytes long: %s",
                                    L->path, name, (unsigned long long)size, zip_file_strerror(zf));
        zip_fclose(zf);
        free(buf);
        return st;
    }
    zip_fclose(zf);
    *out = buf;
    return HR_OK;
}

/* Looks an entry up by name and returns its index and uncompressed size.
 * The size comes from the archive's directory, so before anyone allocates
 * it we check that the file could really hold it: compressed bytes within
 * the file, and no more than deflate's best ratio (1032:1) of expansion.
 * torch.save stores entries uncompressed; this stops zip bombs. */
static hr_status stat_entry(pth_loader *L, const char *name, zip_int64_t *index, uint64_t *size)
{
    zip_stat_t sb;
    zip_int64_t i = zip_name_locate(L->za, name, ZIP_FL_ENC_RAW);
    if (i < 0)
        return hr_error_set(L->err, HR_ERR_FORMAT, "%s: archive has no entry '%s'", L->path, name);
    zip_stat_init(&sb);
    if (zip_stat_index(L->za, (zip_uint64_t)i, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE) ||
        !(sb.valid & ZIP_STAT_COMP_SIZE))
        return hr_error_set(L->err, HR_ERR_FORMAT, "%s: cannot stat entry '%s': %s", L->path, name,
                            zip_strerror(L->za));
    if (sb.comp_size > L->file_size || sb.size / 1032 > sb.comp_size)
        return hr_error_set(L->err, HR_ERR_FORMAT,
                            "%s: entry '%s' claims %llu bytes from %llu compressed bytes in a %llu-byte file", L->path,
                            name, (unsigned long long)sb.size, (unsigned long long)sb.comp_size,
                            (unsigned long long)L->file_size);

    *index = i;
    *size = sb.size;
    return HR_OK;
}

/* Loads a storage's bytes on first use, checking the entry holds exactly the
 * element count the pickle claimed: the pickle alone is not trusted. */
static hr_status load_storage(pth_loader *L, storage_slot *s)
{
    char name[PTH_MAX_ENTRY_NAME + 80];
    const hr__py_obj *r = s->ref;
    uint64_t need = (uint64_t)r->u.storage.numel * hr__dtype_size(r->u.storage.dtype), size;
    zip_int64_t index;
    hr_status st;

    if (s->bytes)
        return HR_OK;
    snprintf(name, sizeof name, "%sdata/%.*s", L->prefix, (int)r->u.storage.key_len, r->u.storage.key);
    st = stat_entry(L, name, &index, &size);
    if (st != HR_OK)
        return st;
    if (size != need)
        return hr_error_set(L->err, HR_ERR_FORMAT,
                            "%s: storage '%s' has %llu bytes, the pickle claims %lld elements of %zu bytes", L->path,
                            name, (unsigned long long)size, (long long)r->u.storage.numel,
                            hr__dtype_size(r->u.storage.dtype));
    return read_entry(L, index, name, size, &s->bytes);
}

/* Copies tensor t into a new contiguous float buffer. The bounds of the view
 * were checked by the unpickler against the storage's element count, and
 * that count against the entry's size, so every index here is in range. */
static hr_status gather(pth_loader *L, const hr__py_obj *t, const unsigned char *bytes, const char *name,
                        float **out)
{
    int nd = t->u.tensor.ndim;
    const int64_t *size = t->u.tensor.dims, *stride = nd ? t->u.tensor.dims + nd : NULL;
    hr__dtype dt = t->u.tensor.storage->u.storage.dtype;
    int64_t numel = 1, expect = 1, idx[HR_MAX_DIMS] = {0};
    int contiguous = 1;
    float *dst;

    for (int i = nd - 1; i >= 0; i--) {
        if (size[i] != 1 && stride[i] != expect)
            contiguous = 0;
        expect *= size[i];
        numel *= size[i];
    }
    dst = malloc(numel ? (size_t)numel * sizeof *dst : sizeof *dst);
    if (!dst)
        return hr_error_set(L->err, HR_ERR_NOMEM, "%s: tensor '%s': out of memory for %lld floats", L->path, name,
                            (long long)numel);
    if (contiguous) {
        if (numel)
            hr__dtype_convert(dt, bytes + (size_t)t->u.tensor.offset * hr__dtype_size(dt), dst, (uint64_t)numel);
    } else {
        for (int64_t k = 0; k < numel; k++) {
            int64_t src = t->u.tensor.offset;
            for (int i = 0; i < nd; i++)
                src += idx[i] * stride[i];
            dst[k] = hr__dtype_load(dt, bytes, (uint64_t)src);
            for (int i = nd - 1; i >= 0; i--) {
                if (++idx[i] < size[i])
                    break;
                idx[i] = 0;
            }
        }
    }
    *out = dst;
    return HR_OK;
}

static int has_tensor(const hr__py_obj *d)
{
    for (size_t i = 1; i < d->u.seq.n; i += 2)
        if (d->u.seq.items[i]->kind == HR__PY_TENSOR)
            return 1;
    return 0;
}

/* torch checkpoints are often {"state_dict": {...}, "epoch": 3, ...} or
 * {"model": {...}, ...}; the tensors are in the nested dict then. A nested
 * dict without tensors (say "model": {"name": ...}) is not a state dict. */
static const hr__py_obj *select_state_dict(const hr__py_obj *root)
{
    static const char *const keys[] = {"state_dict", "model"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (size_t i = 0; i + 1 < root->u.seq.n; i += 2)
            if (hr__py_str_eq(root->u.seq.items[i], keys[k]) && root->u.seq.items[i + 1]->kind == HR__PY_DICT &&
                has_tensor(root->u.seq.items[i + 1]))
                return root->u.seq.items[i + 1];
    return root;
}

/* Copies every tensor of dict d into map. Storages are counted first so each
 * one can be freed right after its last tensor is copied. */
static hr_status copy_tensors(pth_loader *L, const hr__py_obj *d, hr_tensor_map *map)
{
    size_t ntensors = 0;
    hr_status st = HR_OK;

    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2)
        ntensors += d->u.seq.items[i + 1]->kind == HR__PY_TENSOR;
    if (ntensors > HR_WEIGHTS_MAX_TENSORS)
        return hr_error_set(L->err, HR_ERR_LIMIT, "%s: %zu tensors exceed the limit of %d", L->path, ntensors,
                            HR_WEIGHTS_MAX_TENSORS);
    for (L->nslots = 16; L->nslots < 2 * ntensors; L->nslots *= 2)
        ;
    L->slots = calloc(L->nslots, sizeof *L->slots);
    if (!L->slots)
        return hr_error_set(L->err, HR_ERR_NOMEM, "%s: out of memory", L->path);
    for (size_t i = 0; i + 1 < d->u.seq.n && st == HR_OK; i += 2) {
        const hr__py_obj *v = d->u.seq.items[i + 1];
        storage_slot *s;
        if (v->kind == HR__PY_TENSOR) {
            st = slot_for(L, v->u.tensor.storage, &s);
            if (st == HR_OK)
                s->uses++;
        }
    }
    for (size_t i = 0; i + 1 < d->u.seq.n && st == HR_OK; i += 2) {
        const hr__py_obj *k = d->u.seq.items[i], *v = d->u.seq.items[i + 1];
        char name[HR_WEIGHTS_MAX_NAME + 1];
        storage_slot *s;
        float *data = NULL;
        if (v->kind != HR__PY_TENSOR)
            continue;
        if (k->kind != HR__PY_STR || k->u.str.len == 0 || k->u.str.len > HR_WEIGHTS_MAX_NAME ||
            memchr(k->u.str.s, '\0', k->u.str.len))
            return hr_error_set(L->err, HR_ERR_FORMAT,
                                "%s: a tensor's key (of type %s) is not a non-empty string of at most %d bytes", L->path,
                                hr__py_kind_name(k->kind), HR_WEIGHTS_MAX_NAME);
        memcpy(name, k->u.str.s, k->u.str.len);
        name[k->u.str.len] = '\0';
        if (v->u.tensor.ndim > HR_MAX_DIMS)
            return hr_error_set(L->err, HR_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims, at most %d are supported",
                                L->path, name, v->u.tensor.ndim, HR_MAX_DIMS);
        st = slot_for(L, v->u.tensor.storage, &s);
        if (st == HR_OK)
            st = load_storage(L, s);
        if (st == HR_OK)
            st = gather(L, v, s->bytes, name, &data);
        if (st != HR_OK)
            return st;
        if (--s->uses == 0) {
            free(s->bytes);
            s->bytes = NULL;
        }
        st = hr__tensor_map_add_owned(map, name, k->u.str.len, v->u.tensor.ndim, v->u.tensor.dims, data, L->err);
        if (st != HR_OK) {
            /* A duplicate or bad key is a fault of the file, not of the caller. */
            if (st == HR_ERR_INVALID_ARG) {
                st = HR_ERR_FORMAT;
                if (L->err)
                    L->err->status = st;
            }
            hr_error_prefix(L->err, "%s", L->path);
        }
    }
    return st;
}

/* A ratio per entry alone lets many entries add up (issue 15): before any
 * entry is read, the compressed ones must inflate to at most
 * HR_PTH_MAX_INFLATED bytes in all, as the directory claims them. Stored
 * entries (torch.save's) are bytes of the file itself and do not count. */
static hr_status check_inflation(pth_loader *L)
{
    zip_int64_t n = zip_get_num_entries(L->za, 0);
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t sb;
        zip_stat_init(&sb);
        if (zip_stat_index(L->za, (zip_uint64_t)i, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE) ||
            !(sb.valid & ZIP_STAT_COMP_SIZE) || sb.size <= sb.comp_size)
            continue;
        if (sb.size > HR_PTH_MAX_INFLATED - total)
            return hr_error_set(L->err, HR_ERR_LIMIT,
                                "%s: the archive's compressed entries inflate to more than %llu bytes in all (entry "
                                "'%s' reaches past it)", L->path, (unsigned long long)HR_PTH_MAX_INFLATED,
                                sb.valid & ZIP_STAT_NAME ? sb.name : "?");
        total += sb.size;
    }
    return HR_OK;
}

/* Finds "<name>/data.pkl". torch names the archive after the file, so the
 * prefix varies; it must be a single path component, and exactly one such
 * entry may exist. */
static hr_status find_pickle(pth_loader *L, zip_int64_t *index, uint64_t *size)
{
    zip_int64_t n = zip_get_num_entries(L->za, 0), found = -1;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(L->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        size_t len = nm ? strlen(nm) : 0;
        const char *slash;
        if (len <= 9 || strcmp(nm + len - 9, "/data.pkl") != 0)
            continue;
        slash = strchr(nm, '/');
        if (slash != nm + len - 9 || len - 8 >= sizeof L->prefix)
            continue;
        if (found >= 0)
            return hr_error_set(L->err, HR_ERR_FORMAT, "%s: archive holds more than one */data.pkl", L->path);
        found = i;
        memcpy(L->prefix, nm, len - 8);
        L->prefix[len - 8] = '\0';
    }
    if (found < 0)
        return hr_error_set(L->err, HR_ERR_FORMAT, "%s: zip archive has no <name>/data.pkl: not a torch.save file",
                            L->path);
    {
        char name[PTH_MAX_ENTRY_NAME + 16];
        snprintf(name, sizeof name, "%sdata.pkl", L->prefix);
        return stat_entry(L, name, index, size);
    }
}

/* torch >= 2.1 records the storages' byte order in <name>/byteorder; older
 * archives have no such entry and are little-endian. Big-endian archives
 * would need every element swapped, which is not implemented. */
static hr_status check_byteorder(pth_loader *L)
{
    char name[PTH_MAX_ENTRY_NAME + 16];
    unsigned char *text = NULL;
    zip_int64_t index;
    uint64_t size;
    hr_status st;

    snprintf(name, sizeof name, "%sbyteorder", L->prefix);
    if (zip_name_locate(L->za, name, ZIP_FL_ENC_RAW) < 0)
        return HR_OK;
    st = stat_entry(L, name, &index, &size);
    if (st == HR_OK && size > 16)
        st = hr_error_set(L->err, HR_ERR_FORMAT, "%s: entry '%s' is %llu bytes long", L->path, name,
                          (unsigned long long)size);
    if (st == HR_OK)
        st = read_entry(L, index, name, size, &text);
    if (st == HR_OK && !(size == 6 && memcmp(text, "little", 6) == 0))
        st = hr_error_set(L->err, HR_ERR_UNSUPPORTED, "%s: byteorder is '%.*s'; only little-endian storages are supported",
                          L->path, (int)size, (const char *)text);
    free(text);
    return st;
}

/* Sniffs the first bytes: a zip local header is required; a bare pickle is
 * the legacy format, which we refuse with the one-line fix. Also records the
 * file size, which bounds every size the archive directory claims. */
static hr_status check_magic(const char *path, uint64_t *file_size, hr_error *err)
{
    unsigned char b[4];
    size_t n;
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: not a readable regular file", path);
    }
    *file_size = (uint64_t)sb.st_size;
    n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 1 && b[0] == 0x80)
        return hr_error_set(err, HR_ERR_UNSUPPORTED,
                            "%s: legacy (pre-1.6) torch.save format is not supported; re-save with "
                            "torch.save(..., _use_new_zipfile_serialization=True)", path);
    if (n < 4 || memcmp(b, "PK\x03\x04", 4) != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: not a PyTorch checkpoint (expected a zip archive)", path);
    return HR_OK;
}

hr_status hr_pth_load(const char *path, hr_tensor_map **out, hr_error *err)
{
    pth_loader L;
    int zerr = 0;
    zip_int64_t pkl_index;
    uint64_t pkl_size;
    unsigned char *pkl = NULL;
    hr__pickle *pk = NULL;
    const hr__py_obj *root, *dict;
    hr_tensor_map *map = NULL;
    hr_status st;

    if (!path || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "hr_pth_load: path or out is NULL");
    memset(&L, 0, sizeof L);
    L.path = path;
    L.err = err;
    st = check_magic(path, &L.file_size, err);
    if (st != HR_OK)
        return st;
    L.za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!L.za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt zip archive: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    st = check_inflation(&L);
    if (st == HR_OK)
        st = find_pickle(&L, &pkl_index, &pkl_size);
    if (st == HR_OK)
        st = check_byteorder(&L);
    if (st == HR_OK && pkl_size > HR__PICKLE_MAX_SIZE)
        st = hr_error_set(err, HR_ERR_LIMIT, "%s: %sdata.pkl is %llu bytes, more than the limit of %zu", path,
                          L.prefix, (unsigned long long)pkl_size, HR__PICKLE_MAX_SIZE);
    if (st == HR_OK)
        st = read_entry(&L, pkl_index, "data.pkl", pkl_size, &pkl);
    if (st == HR_OK) {
        st = hr__unpickle(pkl, (size_t)pkl_size, "data.pkl", &pk, err);
        if (st != HR_OK)
            hr_error_prefix(err, "%s", path);
    }
    if (st == HR_OK) {
        root = hr__pickle_root(pk);
        if (root->kind != HR__PY_DICT)
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: top-level object is a %s, expected a dict (a state_dict)",
                              path, hr__py_kind_name(root->kind));
    }
    if (st == HR_OK)
        st = hr_tensor_map_create(&map, err);
    if (st == HR_OK) {
        dict = select_state_dict(root);
        st = copy_tensors(&L, dict, map);
    }
    if (st == HR_OK)
        st = hr_tensor_map_strip_prefix(map, "module.", err);
    for (size_t i = 0; i < L.nslots; i++)
        free(L.slots[i].bytes);
    free(L.slots);
    hr__pickle_destroy(pk);
    free(pkl);
    zip_discard(L.za);
    if (st != HR_OK) {
        hr_tensor_map_destroy(map);
        return st;
    }
    *out = map;
    return HR_OK;
}
