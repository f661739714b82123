#include "hyperrep/error.h"

#include <stdio.h>
#include <string.h>

const char *hr_status_name(hr_status st)
{
    switch (st) {
#define HR_STATUS(e, v, s) case e: return s;
#include "hyperrep/status.def"
#undef HR_STATUS
    default: return "unknown status";
    }
}

hr_status hr_error_set(hr_error *err, hr_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = st;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

hr_status hr_error_prefix(hr_error *err, const char *fmt, ...)
{
    char old[HR_ERROR_MSG_MAX];
    int n;
    va_list ap;

    if (!err)
        return HR_OK;
    if (err->status == HR_OK)
        return HR_OK;
    memcpy(old, err->msg, sizeof old);
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof err->msg) {
        size_t off = (size_t)n;
        memcpy(err->msg + off, ": ", 2);
        off += 2;
        size_t room = sizeof err->msg - off - 1, len = strlen(old);
        if (len > room)
            len = room;
        memcpy(err->msg + off, old, len);
        err->msg[off + len] = '\0';
    }
    return err->status;
}

void hr_error_clear(hr_error *err)
{
    if (err) {
        err->status = HR_OK;
        err->msg[0] = '\0';
    }
}
