/* Frames, statistics, weights and the deployment exchange of `hyperrep infer`. */
#include "infer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/clock.h"
#include "hyperrep/data.h"
#include "hyperrep/lut.h"
#include "hyperrep/weights.h"

#define RANDOM_POOL 32 /* distinct random frames; more only cost memory */
#define CHUNK_BYTES (16u << 20)

void hr_infer_timestamp(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tmv);
}

void hr_infer_frames_free(hr_infer_frames *f)
{
    free(f->pix);
    free(f->labels);
    free(f->mean);
    free(f->std);
    memset(f, 0, sizeof *f);
}

const float *hr_infer_frame(const hr_infer_frames *f, int64_t t)
{
    return f->pix + (t % f->count) * f->c * f->h * f->w;
}

int32_t hr_infer_label(const hr_infer_frames *f, int64_t t) { return f->labels[t % f->count]; }

static hr_status frames_alloc(hr_infer_frames *f, int64_t n, hr_error *err)
{
    f->count = n;
    f->pix = malloc(sizeof(float) * (size_t)(n * f->c * f->h * f->w));
    f->labels = malloc(sizeof(int32_t) * (size_t)n);
    f->mean = malloc(sizeof(float) * (size_t)f->c);
    f->std = malloc(sizeof(float) * (size_t)f->c);
    if (!f->pix || !f->labels || !f->mean || !f->std)
        return hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory for %lld frames", (long long)n);
    return HR_OK;
}

hr_status hr_infer_frames_load(const char *src, hr_ctx *ctx, const int64_t in_shape[4], int64_t want, uint64_t seed,
                               hr_infer_frames *out, hr_error *err)
{
    hr_infer_frames f;
    hr_dataset *ds = NULL;
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    int64_t chw[3];
    hr_status st;

    memset(&f, 0, sizeof f);
    f.c = in_shape[1], f.h = in_shape[2], f.w = in_shape[3];
    if (want < 1)
        want = 1;
    if (!src) {
        int fmnist = f.c == 1 && f.h == 28 && f.w == 28 && access(HR_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0;
        src = fmnist ? "fashion-mnist" : "random";
    }
    if (strcmp(src, "random") == 0) {
        uint64_t s = seed * 2654435761u + 12345;
        int64_t n = want < RANDOM_POOL ? want : RANDOM_POOL;
        if ((st = frames_alloc(&f, n, err)))
            goto fail;
        for (int64_t i = 0; i < n * f.c * f.h * f.w; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            f.pix[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
        }
        for (int64_t i = 0; i < n; i++)
            f.labels[i] = -1;
        for (int64_t ch = 0; ch < f.c; ch++)
            f.mean[ch] = 0.0f, f.std[ch] = 1.0f;
        snprintf(f.desc, sizeof f.desc, "random frames, uniform in [-1, 1), seed %llu (%lld distinct)",
                 (unsigned long long)seed, (long long)n);
        *out = f;
        return HR_OK;
    }
    lp.max_samples = want;
    if (strcmp(src, "fashion-mnist") == 0) {
        st = hr_dataset_load_fashion_mnist(NULL, HR_POOL_TEST, &lp, &ds, err);
    } else {
        lp.crop = (int)f.h;
        lp.resize = (int)(f.h * 256 / 224);
        st = hr_dataset_load_folder(ctx, src, HR_POOL_TEST, &lp, &ds, err);
    }
    if (st)
        goto fail;
    hr_dataset_shape(ds, chw);
    if (chw[0] != f.c || chw[1] != f.h || chw[2] != f.w) {
        st = hr_error_set(err, HR_ERR_SHAPE, "infer: %s has %lldx%lldx%lld images, the model takes %lldx%lldx%lld",
                          hr_dataset_name(ds), (long long)chw[0], (long long)chw[1], (long long)chw[2],
                          (long long)f.c, (long long)f.h, (long long)f.w);
        goto fail;
    }
    if ((st = frames_alloc(&f, hr_dataset_size(ds) < want ? hr_dataset_size(ds) : want, err)))
        goto fail;
    for (int64_t i = 0; i < f.count; i++) {
        if ((st = hr_dataset_get(ds, i, HR_DOMAIN_CLEAN, seed, 1, f.pix + i * f.c * f.h * f.w, err)))
            goto fail;
        f.labels[i] = hr_dataset_labels(ds)[i];
    }
    memcpy(f.mean, hr_dataset_mean(ds), sizeof(float) * (size_t)f.c);
    memcpy(f.std, hr_dataset_std(ds), sizeof(float) * (size_t)f.c);
    snprintf(f.desc, sizeof f.desc, "%s: the first %lld test images, clean", hr_dataset_name(ds), (long long)f.count);
    hr_dataset_destroy(ds);
    *out = f;
    return HR_OK;
fail:
    hr_dataset_destroy(ds);
    hr_infer_frames_free(&f);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *s, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;
    if (i >= n - 1)
        return s[n - 1];
    return s[i] + (s[i + 1] - s[i]) * (pos - (double)i);
}

hr_infer_dist hr_infer_dist_of(const double *v, int64_t n)
{
    hr_infer_dist d;
    double *s;
    memset(&d, 0, sizeof d);
    if (n < 1 || !(s = malloc(sizeof(double) * (size_t)n)))
        return d;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    d.n = n;
    for (int64_t i = 0; i < n; i++)
        d.mean += s[i] / (double)n;
    d.p50 = quantile(s, n, 0.50);
    d.p95 = quantile(s, n, 0.95);
    d.p99 = quantile(s, n, 0.99);
    d.max = s[n - 1];
    free(s);
    return d;
}

json_t *hr_infer_dist_json(const hr_infer_dist *d)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "p50", d->p50, "p95", d->p95, "p99", d->p99, "mean", d->mean,
                     "max", d->max, "n", (json_int_t)d->n);
}

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

hr_status hr_infer_weights_bytes(const char *path, const hr_tensor_map *map, void **bytes, size_t *len,
                                 hr_error *err)
{
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0)
        return read_all(path, bytes, len, err);
    /* a .pth checkpoint: the wire carries safetensors only */
    return hr_safetensors_save_bytes(map, bytes, len, err);
}

hr_status hr_infer_deploy(hr_chan *c, const hr_deploy_config *cfg, const void *bytes, size_t len, uint64_t seed,
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

void hr_infer_shutdown(hr_chan *c, uint32_t id)
{
    hr_msg m;
    hr_msg_init(&m);
    if (hr_chan_send(c, HR_MSG_SHUTDOWN, id, NULL, NULL, 0, NULL) == HR_OK)
        hr_chan_expect(c, HR_MSG_ACK, 10000, &m, NULL);
    hr_msg_deinit(&m);
}

hr_status hr_infer_edge_setup(hr_infer_edge *ie, const char *lut_path, hr_deploy_part *part,
                              const hr_deploy_config *cfg, json_t *notes, hr_error *err)
{
    hr_edge_emu_params ep = hr_edge_emu_params_default();
    hr_lut *lut = NULL;
    hr_error le = {0};
    int asked = ie->flags.profile || ie->flags.slowdown > 0;
    hr_status st = HR_OK;

    ie->planned[0] = '\0';
    ie->units_per_frame = cfg->split == HR_DEPLOY_RAW     ? 0
                          : cfg->split == HR_DEPLOY_LOCAL ? cfg->nblocks + 2
                                                          : cfg->split + 1;
    if (lut_path && hr_lut_load(lut_path, &lut, &le)) {
        /* without a flag the prediction reports the problem; with one the
         * LUT was meant to time the edge */
        if (asked)
            return hr_error_set(err, le.status, "%s", le.msg);
        return HR_OK;
    }
    if (lut && hr_edge_emu_lut_planned(lut, ie->planned, sizeof ie->planned) && !asked) {
        char note[600];
        snprintf(note, sizeof note, "%s was planned for an emulated edge (%s), but this run does not emulate it: "
                 "the head runs at this machine's speed (pass --edge or --edge-slowdown to run as that edge)",
                 lut_path, ie->planned);
        fprintf(stderr, "hyperrep infer: warning: %s\n", note);
        json_array_append_new(notes, json_string(note));
    }
    ep.profile = ie->flags.profile;
    ep.slowdown = ie->flags.slowdown;
    ep.lut = lut;
    ep.lut_name = lut_path;
    if ((st = hr_edge_emu_setup(&ep, hr_deploy_part_model(part), cfg->gamma, &ie->emu, err)) ||
        (ie->emu && (st = hr_deploy_part_set_edge_emu(part, ie->emu, err))))
        goto out;
    if (ie->emu && cfg->split == HR_DEPLOY_RAW)
        json_array_append_new(notes, json_string("edge emulation: the raw placement's head only quantises the frame, "
                                                 "which no LUT entry times: nothing on the edge is emulated"));
    if (ie->emu)
        json_array_append_new(notes, json_string("edge emulation: each head unit (stage 0, a block, the classifier "
                                                 "under the local placement) ends at its start plus its emulated "
                                                 "time; the per-frame overhead T_frame is not emulated"));
out:
    hr_lut_destroy(lut);
    return st;
}

json_t *hr_infer_edge_json(const hr_infer_edge *ie, const char *lut_path, int64_t frames)
{
    hr_edge_emu_stats s;
    double n = frames > 0 ? (double)frames : 1;
    json_t *o;
    if (!ie->emu)
        return json_pack("{s:s, s:s?}", "mode", "none", "lut_planned_for", ie->planned[0] ? ie->planned : NULL);
    hr_edge_emu_stats_get(ie->emu, &s);
    o = json_pack("{s:s, s:s?, s:f, s:s, s:s?, s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:I, s:f, s:I, s:f}", "mode",
                  ie->flags.profile ? "profile" : "flat", "profile", ie->flags.profile, "slowdown",
                  ie->flags.profile ? 0.0 : ie->flags.slowdown, "times",
                  hr_edge_emu_is_flat(ie->emu) ? "this machine's duration of each unit x slowdown"
                                               : "the LUT's client time of each unit",
                  "lut", hr_edge_emu_is_flat(ie->emu) ? NULL : lut_path, "frames", (json_int_t)frames,
                  "units_per_frame", (json_int_t)ie->units_per_frame, "emulated_ms_per_frame", s.emulated_ms / n,
                  "target_ms_per_frame", s.target_ms / n, "host_ms_per_frame", s.host_ms / n, "overruns",
                  (json_int_t)s.overruns, "overrun_ms", s.overrun_ms, "waits", (json_int_t)s.waits,
                  "late_ms_per_frame", s.late_ms / n, "untimed_units", (json_int_t)s.untimed, "spin_tail_us",
                  (double)HR_CLOCK_SPIN_TAIL_NS / 1e3);
    if (o && ie->flags.profile)
        json_object_set_new(o, "slowdown", json_null());
    if (o && ie->planned[0])
        json_object_set_new(o, "lut_planned_for", json_string(ie->planned));
    return o;
}

void hr_infer_edge_print(const hr_infer_edge *ie, int64_t frames)
{
    hr_edge_emu_stats s;
    double n = frames > 0 ? (double)frames : 1;
    char what[64];
    if (!ie->emu)
        return;
    hr_edge_emu_stats_get(ie->emu, &s);
    if (ie->flags.profile)
        snprintf(what, sizeof what, "edge profile %s", ie->flags.profile);
    else
        snprintf(what, sizeof what, "slowdown x %g", ie->flags.slowdown);
    printf("infer: edge emulated (%s, %s): %.3f ms per frame on the edge units (target %.3f, this machine %.3f), "
           "%lld overrun%s\n",
           what, hr_edge_emu_is_flat(ie->emu) ? "measured x factor" : "LUT times", s.emulated_ms / n,
           s.target_ms / n, s.host_ms / n, (long long)s.overruns, s.overruns == 1 ? "" : "s");
}

void hr_infer_edge_deinit(hr_infer_edge *ie)
{
    hr_edge_emu_destroy(ie->emu);
    ie->emu = NULL;
}
