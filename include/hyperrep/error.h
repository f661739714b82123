/* Status codes and error messages.
 *
 * Every fallible public function returns an hr_status (HR_OK == 0) and takes a
 * trailing nullable hr_error * that receives a human-readable message naming the
 * object and the offending value ("x.npy: shape[1] = -3 is negative"). Passing
 * NULL discards the message; the status is still returned. */
#ifndef HYPERREP_ERROR_H
#define HYPERREP_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hr_status {
#define HR_STATUS(e, v, s) e = v,
#include "hyperrep/status.def"
#undef HR_STATUS
    HR_STATUS_COUNT
} hr_status;

#define HR_ERROR_MSG_MAX 512

typedef struct hr_error {
    hr_status status;
    char msg[HR_ERROR_MSG_MAX];
} hr_error;

/* Short lower-case name of a status ("out of memory"); never NULL. */
const char *hr_status_name(hr_status st);

/* Records st and a printf-style message in err (when err is not NULL) and
 * returns st, so callers can write `return hr_error_set(err, HR_ERR_IO, ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
hr_status hr_error_set(hr_error *err, hr_status st, const char *fmt, ...);

/* Prefixes err->msg with "prefix: " (e.g. a file name) when err is not NULL and
 * holds an error; returns err->status (or HR_OK when err is NULL). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
hr_status hr_error_prefix(hr_error *err, const char *fmt, ...);

/* Resets err to HR_OK with an empty message. */
void hr_error_clear(hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
