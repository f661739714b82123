/* Sets of domains as text (data.h, hr_domains_parse). */
#include "hyperrep/data.h"

/* Reads a domain number at *p (digits only) and moves past it; -1 when
 * there is none or it is out of range. */
static int domain_at(const char **p)
{
    int v = 0, digits = 0;
    while (**p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        if (++digits > 3)
            return -1;
    }
    return digits && v < HR_NUM_DOMAINS ? v : -1;
}

hr_status hr_domains_parse(const char *text, unsigned *mask, hr_error *err)
{
    const char *p = text;
    unsigned m = 0;
    if (!text || !mask)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "domains: no text");
    for (;;) {
        int lo = domain_at(&p), hi = lo;
        if (lo >= 0 && *p == '-') {
            p++;
            hi = domain_at(&p);
        }
        if (lo < 0 || hi < lo)
            break;
        for (int k = lo; k <= hi; k++)
            m |= 1u << k;
        if (*p == '\0') {
            *mask = m;
            return HR_OK;
        }
        if (*p++ != ',')
            break;
    }
    return hr_error_set(err, HR_ERR_INVALID_ARG,
                        "domains '%s' is not a list of domains and ranges in 0-%d (\"0-9\", \"3\", \"1,3,5\")", text,
                        HR_NUM_DOMAINS - 1);
}
