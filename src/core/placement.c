/* Placements: names and parsing (placement.h). */
#include <stdio.h>
#include <string.h>

#include "hyperrep/placement.h"

const char *hr_placement_format(int placement, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    if (placement == HR_PLACEMENT_RAW)
        snprintf(buf, n, "raw");
    else if (placement == HR_PLACEMENT_LOCAL)
        snprintf(buf, n, "local");
    else
        snprintf(buf, n, "%d", placement);
    return buf;
}

hr_status hr_placement_parse(const char *text, int nblocks, int *out, hr_error *err)
{
    long v = 0;
    const char *p;
    if (!text || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "placement: no text");
    if (strcmp(text, "raw") == 0) {
        *out = HR_PLACEMENT_RAW;
        return HR_OK;
    }
    if (strcmp(text, "local") == 0) {
        *out = HR_PLACEMENT_LOCAL;
        return HR_OK;
    }
    /* Digits only: strtol would take a sign, spaces and overflow quietly. */
    for (p = text; *p >= '0' && *p <= '9' && v <= nblocks; p++)
        v = v * 10 + (*p - '0');
    if (p == text || *p || nblocks < 0 || v > nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "placement '%s' is not raw, local or a split 0..%d", text,
                            nblocks < 0 ? 0 : nblocks);
    *out = (int)v;
    return HR_OK;
}
