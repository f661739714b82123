/* Trained α from a file onto a model: Code 1's JSON (the original's
 * trained_hyper_weights.json, {"domain_k": {"stage1.0.hyper_dense": v, …}},
 * or one flat {name: v} map) or a safetensors file of one-value tensors
 * named the same way (the joint's domain_K_alpha.safetensors). One reader,
 * so `--alpha FILE` means the same in every command. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/model.h"
#include "hyperrep/weights.h"

/* JSON or safetensors, by content: a JSON text starts with '{' after
 * optional white space; a safetensors file starts with its 8-byte header
 * length, whose first byte is never '{' for a header under 123 bytes and
 * never white space followed by '{' (the next 7 bytes are mostly zero). */
static hr_status is_json(const char *path, int *json, hr_error *err)
{
    FILE *f = fopen(path, "rb");
    int c;
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        ;
    fclose(f);
    if (c == EOF)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: empty file: expected a JSON object or safetensors", path);
    *json = c == '{';
    return HR_OK;
}

/* The α map of one domain, as name → value, from a JSON file; *root owns it. */
static hr_status json_map(const char *path, const hr_model *m, int domain, json_t **root, json_t **obj, hr_error *err)
{
    json_error_t je;
    char name[96];
    *obj = NULL;
    if (!(*root = json_load_file(path, JSON_REJECT_DUPLICATES, &je)))
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    if (!json_is_object(*root))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: expected a JSON object", path);
    if (json_object_get(*root, hr_model_alpha_name(m, 0, HR_BRANCH_DENSE, name, sizeof name))) {
        *obj = *root; /* flat */
    } else if (domain >= 0) {
        snprintf(name, sizeof name, "domain_%d", domain);
        *obj = json_object_get(*root, name);
        if (!json_is_object(*obj))
            return hr_error_set(err, HR_ERR_NOT_FOUND, "%s: no object \"%s\"", path, name);
    } else if (json_object_size(*root) == 1) {
        *obj = json_object_iter_value(json_object_iter(*root));
    } else {
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s holds several domains: choose one with --domain", path);
    }
    if (!json_is_object(*obj))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: the α map is not an object", path);
    return HR_OK;
}

hr_status hr_alpha_file_read(const hr_model *m, const char *path, int domain, float *alpha, hr_error *err)
{
    json_t *root = NULL, *obj = NULL;
    hr_tensor_map *map = NULL;
    hr_virtual_ids virt = {0};
    hr_status st;
    int json = 0;
    char name[96], note[512];

    if (!m || !path || !alpha)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "alpha file: no model, path or output");
    if ((st = is_json(path, &json, err)))
        return st;
    if (json ? (st = json_map(path, m, domain, &root, &obj, err)) : (st = hr_safetensors_load(path, &map, err)))
        goto done;
    for (int i = 0; i < hr_model_num_blocks(m) && !st; i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int br = 0; br < HR_BRANCH_COUNT && !st; br++) {
            float *a = &alpha[i * HR_BRANCH_COUNT + br];
            hr_model_alpha_name(m, i, (hr_branch)br, name, sizeof name);
            *a = 0;
            if (!(bi.existing >> br & 1u)) {
                /* the original's virtual identity: counted once, for one note */
                if (hr_branch_is_virtual(bi.existing, (hr_branch)br) &&
                    (json ? json_object_get(obj, name) != NULL : hr_tensor_map_find(map, name) != NULL))
                    hr_virtual_ids_add(&virt, bi.name);
                continue;
            }
            if (json) {
                json_t *v = json_object_get(obj, name);
                if (!json_is_number(v))
                    st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s is missing or not a number", path, name);
                else
                    *a = (float)json_number_value(v);
            } else {
                const hr_named_tensor *t = hr_tensor_map_find(map, name);
                if (!t || hr_named_tensor_numel(t) != 1)
                    st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s is missing or not one value", path, name);
                else
                    *a = t->data[0];
            }
            if (!st && !isfinite(*a))
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s = %g is not a finite number", path, name, (double)*a);
        }
    }
    if (!st && virt.count)
        hr_ctx_log(hr_model_ctx(m), HR_LOG_WARN, "%s", hr_virtual_ids_note(&virt, path, note, sizeof note));
done:
    json_decref(root);
    hr_tensor_map_destroy(map);
    return st;
}

hr_status hr_alpha_file_apply(hr_model *m, const char *path, int domain, hr_error *err)
{
    int n = m ? hr_model_num_blocks(m) : 0;
    float *alpha = malloc(sizeof *alpha * (size_t)(n > 0 ? n : 1) * HR_BRANCH_COUNT);
    hr_status st;
    if (!alpha)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path ? path : "alpha file");
    /* hr_model_set_alphas sets non-zero values first, so pruning never
     * meets a block whose other branches are still pending */
    if (!(st = hr_alpha_file_read(m, path, domain, alpha, err)) && (st = hr_model_set_alphas(m, alpha, err)))
        hr_error_prefix(err, "%s", path);
    free(alpha);
    return st;
}
