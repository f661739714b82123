/* Named links (SPEC §13.3): the edge's uplink to the server in a scenario,
 * with the figures of a real technology instead of a round 100 Mbit/s.
 * Each figure is a typical application-level goodput and a one-transfer
 * fixed cost, not the PHY rate on the box; docs/LINK_PROFILES.md gives the
 * sources and the reasoning. */
#include "lut/lut_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const hr_link_profile profiles[] = {
    {"wifi-n",
     "802.11n Wi-Fi, one spatial stream, 20 MHz channel (a typical camera or single-board computer radio)",
     40.0, 2.0,
     "PHY 72.2 Mbit/s at MCS 7 with the short guard interval; a 1x1 20 MHz link reaches about 50 Mbit/s of "
     "goodput at best and about 37 Mbit/s with interference or other stations (Tanaza / Wirevolution, "
     "'Wi-Fi real max speed / bandwidth / throughput / bitrate', 2014): 40 Mbit/s. The fixed cost per transfer "
     "(2 ms: channel access, the acknowledgement's return) is our assumption for a lightly loaded WLAN."},
    {"wifi-n-2x2",
     "802.11n Wi-Fi, two spatial streams, 40 MHz channel (a good access point and client)",
     150.0, 2.0,
     "PHY 300 Mbit/s; about 200 Mbit/s of one-way UDP at best with both streams and 40 MHz (Duxtel, 'Maximum "
     "throughput on 802.11 links'); TCP in an ordinary room about three quarters of that: 150 Mbit/s. 2 ms per "
     "transfer as for wifi-n (assumption)."},
    {"ethernet-1g",
     "Gigabit Ethernet on one switch (an edge box wired to a server in the same rack or building)",
     941.0, 0.2,
     "1000 Mbit/s line rate times the TCP payload share of a full 1538-byte frame on the wire (1448 / 1538, "
     "with timestamps): 941 Mbit/s. 0.2 ms per transfer (switch, interrupt moderation, acknowledgement) is our "
     "assumption."},
};

int hr_link_profile_count(void)
{
    return (int)(sizeof profiles / sizeof profiles[0]);
}

const hr_link_profile *hr_link_profile_get(int i)
{
    return i >= 0 && i < hr_link_profile_count() ? &profiles[i] : NULL;
}

hr_status hr_link_profile_find(const char *name, const hr_link_profile **out, hr_error *err)
{
    char known[256] = "";
    size_t len = 0;
    for (int i = 0; i < hr_link_profile_count(); i++) {
        if (name && strcasecmp(name, profiles[i].name) == 0) {
            *out = &profiles[i];
            return HR_OK;
        }
        len += (size_t)snprintf(known + len, len < sizeof known ? sizeof known - len : 0, "%s%s", i ? ", " : "",
                                profiles[i].name);
    }
    return hr_error_set(err, HR_ERR_INVALID_ARG, "link profile '%s' is not known (known: %s)", name ? name : "(null)",
                        known);
}

hr_link hr_link_from_profile(const hr_link_profile *prof)
{
    hr_link l = hr_link_default();
    l.bandwidth_mbit_s = prof->bandwidth_mbit_s;
    l.latency_ms = prof->latency_ms;
    l.source = HR_BW_MBIT;
    snprintf(l.profile, sizeof l.profile, "%s", prof->name);
    return l;
}
