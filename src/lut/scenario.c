/* The deployment scenario a merged LUT describes, in words: which machine
 * is the server, what the edge is (measured on the device, or emulated and
 * how), and the link. Every output that depends on an emulated device or
 * link declares it (SPEC 13.2-13.3); this is the one text they share. */
#include "lut/lut_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t size, len;
} out;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf && o->len < o->size ? o->buf + o->len : NULL, o->len < o->size ? o->size - o->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void device_line(out *o, const hr_lut *lut, hr_device d)
{
    const char *name = d == HR_DEVICE_CLIENT ? "edge (client)" : "server";
    char threads[32] = "";
    if (lut->threads[d] > 0)
        snprintf(threads, sizeof threads, ", %d thread%s", lut->threads[d], lut->threads[d] == 1 ? "" : "s");
    if (lut->emulated[d][0])
        put(o, "- **%s**: emulated: %s.", name, lut->emulated[d]);
    else
        put(o, "- **%s**: measured on %s%s%s.", name, lut->device[d][0] ? lut->device[d] : "an unnamed device", threads,
            d == HR_DEVICE_CLIENT && !lut->original_format && lut->slowdown[d] <= 1 &&
                    strcmp(lut->device[HR_DEVICE_CLIENT], lut->device[HR_DEVICE_SERVER]) == 0
                ? " (the server's own machine, not emulated: faster than any edge device)"
                : "");
    put(o, " Roofline: knee %.2f FLOP/byte", lut->i_knee[d]);
    if (lut->peak_gflops[d] > 0 && lut->bandwidth_gbs[d] > 0)
        put(o, ", %.1f GFLOP/s, %.1f GB/s", lut->peak_gflops[d], lut->bandwidth_gbs[d]);
    put(o, " (%s", hr_roofline_source_name(lut->roofline_source[d]));
    if (lut->edge_profile[d][0])
        put(o, ": edge profile %s, docs/EDGE_PROFILES.md", lut->edge_profile[d]);
    put(o, ").");
    if (lut->has_frame_times)
        put(o, " Per-frame overhead T_frame %.4f ms.", lut->t_frame_ms[d]);
    put(o, "\n");
}

size_t hr_lut_scenario_markdown(const hr_lut *lut, char *buf, size_t size)
{
    out o = {buf, size, 0};
    const hr_link *l = &lut->link;
    if (buf && size)
        buf[0] = 0;
    device_line(&o, lut, HR_DEVICE_SERVER);
    device_line(&o, lut, HR_DEVICE_CLIENT);
    put(&o, "- **link**: ");
    if (l->profile[0]) {
        const hr_link_profile *lp = NULL;
        hr_link_profile_find(l->profile, &lp, NULL);
        put(&o, "the %s profile%s%s%s: ", l->profile, lp ? " (" : "", lp ? lp->description : "", lp ? ")" : "");
    } else if (l->measured) {
        put(&o, "measured: ");
    } else {
        put(&o, "given: ");
    }
    put(&o, "%.3g Mbit/s, %.3g ms per transfer", l->bandwidth_mbit_s, l->latency_ms);
    if (l->per_message_ms > 0)
        put(&o, ", %.3g ms per message", l->per_message_ms);
    put(&o, " (%s).\n", hr_bandwidth_source_text(l->source));
    return o.len;
}
