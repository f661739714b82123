/* The deployment exchange of an edge with a `hyperrep serve`: the weights'
 * bytes, MODEL_SYNC and its ACK, SHUTDOWN (edge_internal.h). */
#include "serve/edge_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/clock.h"
#include "hyperrep/proto.h"

#define CHUNK_BYTES (16u << 20)

double hr__edge_now_ms(void) { return (double)hr_clock_now_ns() * 1e-6; }

static hr_status read_all(const char *path, void **bytes, size_t *len, hr_error *err)
{
    FILE *f = fopen(path, "rb");
    long n;
    void *b;
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: cannot size the file", path);
    }
    if (!(b = malloc(n ? (size_t)n : 1))) {
        fclose(f);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory (%ld bytes)", path, n);
    }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *bytes = b;
    *len = (size_t)n;
    return HR_OK;
}

hr_status hr__edge_weights_bytes(const char *path, const hr_tensor_map *map, void **bytes, size_t *len,
                                 hr_error *err)
{
    size_t n = path ? strlen(path) : 0;
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0)
        return read_all(path, bytes, len, err);
    /* a .pth checkpoint: the wire carries safetensors only */
    return hr_safetensors_save_bytes(map, bytes, len, err);
}

hr_status hr__edge_sync(hr_chan *c, const hr_deploy_config *cfg, const void *bytes, size_t len, uint64_t seed,
                        int want_logits, int timeout_ms, char **ack, hr_error *err)
{
    char wj[256], sha[65], *meta = NULL;
    hr_msg m;
    hr_status st;
    uint32_t chunks = bytes ? (uint32_t)(len ? (len + CHUNK_BYTES - 1) / CHUNK_BYTES : 1) : 0;

    if (bytes) {
        hr_sha256_hex(bytes, len, sha);
        snprintf(wj, sizeof wj, "{\"kind\": \"inline\", \"bytes\": %zu, \"chunks\": %u, \"chunk\": 0, \"sha256\": \"%s\"}",
                 len, chunks, sha);
    } else {
        snprintf(wj, sizeof wj, "{\"kind\": \"random\", \"seed\": %llu}", (unsigned long long)seed);
    }
    if ((st = hr_deploy_config_to_meta(cfg, wj, want_logits, &meta, err)))
        return st;
    for (uint32_t k = 0; k < (chunks ? chunks : 1); k++) {
        hr_wire_tensor t;
        size_t off = (size_t)k * CHUNK_BYTES, n = bytes ? (len - off < CHUNK_BYTES ? len - off : CHUNK_BYTES) : 0;
        char later[256];
        memset(&t, 0, sizeof t);
        t.dtype = HR_WIRE_U8;
        t.ndim = 1;
        t.shape[0] = (int64_t)n;
        t.data = bytes ? (void *)((const unsigned char *)bytes + off) : NULL;
        t.nbytes = n;
        if (k > 0)
            snprintf(later, sizeof later,
                     "{\"purpose\": \"infer\", \"weights\": {\"kind\": \"inline\", \"bytes\": %zu, \"chunks\": %u, "
                     "\"chunk\": %u, \"sha256\": \"%s\"}}",
                     len, chunks, k, sha);
        st = hr_chan_send(c, HR_MSG_MODEL_SYNC, k, k ? later : meta, &t, bytes ? 1 : 0, err);
        if (st)
            break;
    }
    free(meta);
    if (st)
        return st;
    hr_msg_init(&m);
    if ((st = hr_chan_expect(c, HR_MSG_ACK, timeout_ms, &m, err)))
        return st;
    if (ack)
        *ack = m.meta ? strdup(m.meta) : NULL;
    hr_msg_deinit(&m);
    return HR_OK;
}

void hr__edge_shutdown(hr_chan *c, uint32_t id)
{
    hr_msg m;
    hr_msg_init(&m);
    if (hr_chan_send(c, HR_MSG_SHUTDOWN, id, NULL, NULL, 0, NULL) == HR_OK)
        hr_chan_expect(c, HR_MSG_ACK, 10000, &m, NULL);
    hr_msg_deinit(&m);
}
