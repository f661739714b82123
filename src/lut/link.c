/* The link model (SPEC §4): transfer time and occupancy, the least-squares
 * fit of measured round trips, and link.json / the original's
 * lut_comm_model.json. */
#include "lut/lut_internal.h"
#include "core/json_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *hr_bandwidth_source_text(hr_bandwidth_source s)
{
    switch (s) {
    case HR_BW_MBIT: return "bandwidth_mbit_s given in Mbit/s";
    case HR_BW_FIT:
        return "bandwidth_mbit_s = 8000 / k, k the fitted slope in ms per MB (1 MB = 1e6 bytes); latency_ms = the "
               "fixed cost of one transfer: the median round trip of an empty message where it was measured (lut "
               "measure --remote), else the fitted intercept b";
    case HR_BW_ORIGINAL_MBPS:
        return "the original merged LUT's bandwidth_mbps (a hard-coded 100), read as Mbit/s as the original's "
               "optimizer used it";
    default: return "the default 100 Mbit/s, not measured";
    }
}

double hr_link_time_ms(const hr_link *link, double bytes)
{
    return link->latency_ms + bytes * 8 / (link->bandwidth_mbit_s * 1000);
}

double hr_link_occupancy_ms(const hr_link *link, double bytes)
{
    return bytes * 8 / (link->bandwidth_mbit_s * 1000) + link->per_message_ms;
}

hr_link hr_link_default(void)
{
    hr_link l = {0};
    l.bandwidth_mbit_s = 100;
    l.source = HR_BW_DEFAULT;
    return l;
}

hr_status hr_link_fit(const double *mb, const double *ms, int n, hr_link *out, hr_error *err)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, mean_x, var_x, k, b;
    int distinct = 0;

    if (n < 2)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "link fit: %d samples, need at least 2", n);
    for (int i = 0; i < n; i++) {
        if (!isfinite(mb[i]) || !isfinite(ms[i]) || mb[i] < 0 || ms[i] < 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "link fit: sample %d (%g MB, %g ms) is not a finite "
                                "non-negative pair", i, mb[i], ms[i]);
        if (mb[i] != mb[0])
            distinct = 1;
        sx += mb[i];
        sy += ms[i];
    }
    if (!distinct)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "link fit: every sample has the same size (%g MB); need two "
                            "sizes at least", mb[0]);
    mean_x = sx / n;
    /* Centred sums: stable when the sizes are large and close together. */
    for (int i = 0; i < n; i++) {
        sxx += (mb[i] - mean_x) * (mb[i] - mean_x);
        sxy += (mb[i] - mean_x) * (ms[i] - sy / n);
    }
    var_x = sxx;
    k = sxy / var_x;
    b = sy / n - k * mean_x;
    if (!(k > 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "link fit: slope %g ms/MB is not positive (time does not grow "
                            "with size: too much noise, or sizes too small)", k);
    hr_link l = hr_link_default();
    l.k_ms_per_mb = k;
    l.latency_ms = b > 0 ? b : 0;
    l.bandwidth_mbit_s = 8000 / k;
    l.measured = 1;
    l.source = HR_BW_FIT;
    *out = l;
    return HR_OK;
}

hr_status hr_link_fit_bounded(const double *mb, const double *ms, int n, hr_link *out, int *bounded, hr_error *err)
{
    hr_link l;
    hr_status st = hr_link_fit(mb, ms, n, &l, err);
    *bounded = 0;
    if (st != HR_ERR_INVALID_ARG || n < 2)
        goto done;
    /* Only a non-positive slope is recoverable: the inputs themselves must be
     * what hr_link_fit accepts (finite, positive sizes, two distinct). */
    double best_k = INFINITY;
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        if (!(mb[i] > 0) || !(ms[i] >= 0) || !isfinite(mb[i]) || !isfinite(ms[i]))
            goto done;
        distinct |= mb[i] != mb[0];
        if (ms[i] > 0 && ms[i] / mb[i] < best_k)
            best_k = ms[i] / mb[i];
    }
    if (!distinct || !isfinite(best_k))
        goto done;
    hr_error_clear(err);
    l = hr_link_default();
    l.k_ms_per_mb = best_k;
    l.bandwidth_mbit_s = 8000.0 / best_k;
    l.latency_ms = 0;
    l.measured = 1;
    *bounded = 1;
    st = HR_OK;
done:
    if (st == HR_OK)
        *out = l;
    return st;
}

hr_status hr_link_measure(hr_link_transfer_fn transfer, void *user, const double *sizes_mb, int nsizes, int repeats,
                          hr_link *out, hr_error *err)
{
    static const double default_sizes[] = {0.1, 0.5, 1, 2, 5};
    double *x, *y;
    hr_status st = HR_OK;
    int n = 0;

    if (!sizes_mb) {
        sizes_mb = default_sizes;
        nsizes = 5;
    }
    if (repeats < 1)
        repeats = 5;
    if (nsizes < 2 || nsizes > 1000 || repeats > 1000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "link measure: %d sizes x %d repeats out of range", nsizes,
                            repeats);
    x = malloc(sizeof(double) * (size_t)(nsizes * repeats));
    y = malloc(sizeof(double) * (size_t)(nsizes * repeats));
    if (!x || !y) {
        free(x);
        free(y);
        return hr_error_set(err, HR_ERR_NOMEM, "link measure: out of memory");
    }
    /* Sizes interleaved so a drifting link affects them all alike. */
    for (int r = 0; r < repeats && !st; r++)
        for (int s = 0; s < nsizes && !st; s++) {
            double ms = 0;
            if (!(sizes_mb[s] > 0) || sizes_mb[s] > 4096) {
                st = hr_error_set(err, HR_ERR_INVALID_ARG, "link measure: size %g MB out of range", sizes_mb[s]);
                break;
            }
            st = transfer(user, (size_t)(sizes_mb[s] * 1e6 + 0.5), &ms, err);
            x[n] = sizes_mb[s];
            y[n++] = ms;
        }
    if (!st)
        st = hr_link_fit(x, y, n, out, err);
    free(x);
    free(y);
    return st;
}

hr_status hr_link_load(const char *path, hr_link *out, hr_error *err)
{
    json_t *root;
    hr_status st;
    hr_link l = hr_link_default();
    const json_t *v;
    double d;

    if ((st = hr__json_load(path, &root, err)))
        return st;
    if ((st = hr__format_check(root, path, HR_FORMAT_LINK, 1, err)))
        goto out;
    if ((v = json_object_get(root, "k")) || json_object_get(root, "k_ms_per_mb")) {
        /* A fitted slope: the original's k and b, or ours. */
        const char *kk = v ? "k" : "k_ms_per_mb", *bk = v ? "b" : "latency_ms";
        if ((st = hr__json_number(path, kk, json_object_get(root, kk), &l.k_ms_per_mb, err)))
            goto out;
        if (!(l.k_ms_per_mb > 0)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: slope %g ms/MB must be positive", path, kk, l.k_ms_per_mb);
            goto out;
        }
        if ((st = hr__json_number(path, bk, json_object_get(root, bk), &l.latency_ms, err)))
            goto out;
        l.bandwidth_mbit_s = 8000 / l.k_ms_per_mb;
        l.measured = 1;
        l.source = HR_BW_FIT;
    } else if ((v = json_object_get(root, "bandwidth_mbit_s"))) {
        if ((st = hr__json_number(path, "bandwidth_mbit_s", v, &l.bandwidth_mbit_s, err)))
            goto out;
        if ((st = hr__json_number(path, "latency_ms", json_object_get(root, "latency_ms"), &l.latency_ms, err)))
            goto out;
        l.source = HR_BW_MBIT;
        l.measured = json_is_true(json_object_get(root, "measured"));
    } else if (json_object_get(root, "bandwidth_mbps")) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth_mbps without k: ambiguous (the original wrote MB/s "
                          "there but read it as Mbit/s); give k and b, or bandwidth_mbit_s", path);
        goto out;
    } else {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: no link model: expected k and b (the original's "
                          "lut_comm_model.json) or bandwidth_mbit_s and latency_ms (link.json)", path);
        goto out;
    }
    if (!(l.bandwidth_mbit_s >= HR_LUT_MIN_BANDWIDTH_MBIT) || !isfinite(l.bandwidth_mbit_s)) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth %g Mbit/s is not in %g..inf", path, l.bandwidth_mbit_s,
                          HR_LUT_MIN_BANDWIDTH_MBIT);
        goto out;
    }
    if (!(l.latency_ms >= 0 && l.latency_ms <= HR_LUT_MAX_TIME_MS)) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: latency %g ms is not in 0..%g ms", path, l.latency_ms,
                          HR_LUT_MAX_TIME_MS);
        goto out;
    }
    if ((v = json_object_get(root, "per_message_ms"))) {
        if ((st = hr__json_number(path, "per_message_ms", v, &d, err)))
            goto out;
        if (!(d >= 0 && d <= HR_LUT_MAX_TIME_MS)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: per_message_ms %g is not in 0..%g ms", path, d,
                              HR_LUT_MAX_TIME_MS);
            goto out;
        }
        l.per_message_ms = d;
    }
    *out = l;
out:
    json_decref(root);
    return st;
}

hr_status hr_link_save(const char *path, const hr_link *l, hr_error *err)
{
    hr__jb b = {0};
    json_t *root;
    hr_status st;

    if (!(l->bandwidth_mbit_s > 0) || !isfinite(l->bandwidth_mbit_s) || !(l->latency_ms >= 0) ||
        !isfinite(l->latency_ms) || !(l->per_message_ms >= 0) || !isfinite(l->per_message_ms))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: link %g Mbit/s, %g ms, %g ms per message is not a valid "
                            "link", path, l->bandwidth_mbit_s, l->latency_ms, l->per_message_ms);
    root = json_object();
    hr__jset(&b, root, "format", hr__format_json(HR_FORMAT_LINK, 1, 0));
    hr__jset(&b, root, "bandwidth_mbit_s", json_real(l->bandwidth_mbit_s));
    hr__jset(&b, root, "latency_ms", json_real(l->latency_ms));
    hr__jset(&b, root, "per_message_ms", json_real(l->per_message_ms));
    hr__jset(&b, root, "k_ms_per_mb", json_real(l->k_ms_per_mb > 0 ? l->k_ms_per_mb : 8000 / l->bandwidth_mbit_s));
    hr__jset(&b, root, "measured", json_boolean(l->measured));
    hr__jset(&b, root, "interpretation", json_string(hr_bandwidth_source_text(l->source)));
    if (b.failed)
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    else
        st = hr__json_save(path, root, err);
    json_decref(root);
    return st;
}
