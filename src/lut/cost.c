/* The cost model of SPEC §4: FLOPs, bytes, intensity and comm size of a
 * block under a γ. The original tool's counts (groups ignored, activations
 * only) are kept bit for bit so its reports can be reproduced; the grouped
 * FLOPs and the weight-inclusive bytes sit beside them. */
#include "hyperrep/lut.h"

#include <string.h>

const char *hr_device_name(hr_device d)
{
    switch (d) {
    case HR_DEVICE_SERVER: return "server";
    case HR_DEVICE_CLIENT: return "client";
    default: return "unknown";
    }
}

const char *hr_lut_stat_name(hr_lut_stat s)
{
    return s == HR_LUT_STAT_MEAN ? "mean" : s == HR_LUT_STAT_MIN ? "min" : "median";
}

int hr_lut_stat_parse(const char *s)
{
    for (int i = 0; s && i < HR_LUT_STAT_COUNT; i++)
        if (strcmp(s, hr_lut_stat_name((hr_lut_stat)i)) == 0)
            return i;
    return -1;
}

/* Doubles are exact for every product here (each below 2^53), so the
 * counts equal the original's Python integers. */
hr_block_cost hr_block_cost_eval(int gamma, const int64_t in_shape[4], const int64_t out_shape[4], int groups)
{
    hr_block_cost c = {0};
    const hr_gamma_info *g = hr_gamma_get(gamma);
    if (!g)
        return c;
    const double B = (double)in_shape[0], cin = (double)in_shape[1];
    const double in_px = (double)in_shape[2] * (double)in_shape[3];
    const double cout = (double)out_shape[1], out_px = (double)out_shape[2] * (double)out_shape[3];
    const double gr = groups > 1 ? (double)groups : 1.0;
    const double in_bytes = B * cin * in_px * 4, out_bytes = (double)out_shape[0] * cout * out_px * 4;
    double weights = 0;

    for (int s = 0; s < g->streams; s++) {
        switch (g->kernels[s]) {
        case HR_KERNEL_K3:
            c.flops += 2 * B * cout * out_px * cin * 9;
            c.flops_grouped += 2 * B * cout * out_px * (cin / gr) * 9;
            weights += cout * (cin / gr) * 9;
            break;
        case HR_KERNEL_K1:
            c.flops += 2 * B * cout * out_px * cin;
            c.flops_grouped += 2 * B * cout * out_px * (cin / gr);
            weights += cout * (cin / gr);
            break;
        default: /* identity: a per-channel affine, no FLOPs in the count */
            weights += 2 * cin;
            break;
        }
    }
    c.streams = g->streams;
    c.bytes = g->streams * in_bytes + out_bytes;
    c.bytes_w = c.bytes + 4 * weights;
    c.intensity = c.bytes > 0 ? c.flops / c.bytes : 0;
    c.intensity_w = c.bytes_w > 0 ? c.flops / c.bytes_w : 0;
    return c;
}

double hr_block_comm_mb(const int64_t out_shape[4], int n)
{
    if (n < 1 || n > 3)
        return 0;
    return n * (double)out_shape[0] * (double)out_shape[1] * (double)out_shape[2] * (double)out_shape[3] * 4 / 1e6;
}
