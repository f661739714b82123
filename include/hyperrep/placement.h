/* Where a deployment splits the model (SPEC §1): one type, its names and its
 * parser, shared by the optimizers (optim.h), deployment (serve.h), the
 * edge runtime and the files they write.
 *
 * A placement is an int: a split s = 0..N (blocks 0..s-1 on the edge, the
 * rest on the server), HR_PLACEMENT_RAW (the edge sends the 8-bit image and
 * the server runs everything) or HR_PLACEMENT_LOCAL (the edge runs
 * everything and sends nothing back). Text forms: "raw", "local", "0".."N". */
#ifndef HYPERREP_PLACEMENT_H
#define HYPERREP_PLACEMENT_H

#include <stddef.h>

#include "hyperrep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_PLACEMENT_RAW (-1)
#define HR_PLACEMENT_LOCAL (-2)

/* Writes placement's text form ("raw", "local", "3") into buf (size n,
 * NUL-terminated when n > 0) and returns buf. */
const char *hr_placement_format(int placement, char *buf, size_t n);

/* Reads "raw", "local" or a decimal split 0..nblocks (nothing else, no
 * sign, no spaces) into *out. HR_ERR_INVALID_ARG naming the text and the
 * range otherwise; *out is then untouched. */
hr_status hr_placement_parse(const char *text, int nblocks, int *out, hr_error *err);

#ifdef __cplusplus
}
#endif

#endif
