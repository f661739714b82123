/* Private pieces of src/remote/: reading and writing message metadata. */
#ifndef HR_REMOTE_INTERNAL_H
#define HR_REMOTE_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "hyperrep/net.h"
#include "hyperrep/remote.h"

/* The wire limit on the size of one LINK_PROBE / LINK_ECHO payload: a
 * probe must fit one frame with room for the header fields. */
#define HR__LINK_MAX_BYTES ((size_t)60 * 1000 * 1000)

/* Parses a message's metadata into a JSON object (an empty object when the
 * message has none). The codec has already checked that it is a JSON
 * object; HR_ERR_FORMAT naming the message type otherwise. */
hr_status hr__meta_parse(const hr_msg *m, json_t **out, hr_error *err);

/* Reads an integer field into *out, within [lo, hi]. A missing field takes
 * def when `required` is 0. HR_ERR_FORMAT "<what>: field 'key' = v is not
 * an integer in lo..hi" (or "is missing"). */
hr_status hr__meta_int(const json_t *o, const char *what, const char *key, int required, int64_t def, int64_t lo,
                       int64_t hi, int64_t *out, hr_error *err);
/* The same for a finite number in [lo, hi]. */
hr_status hr__meta_num(const json_t *o, const char *what, const char *key, int required, double def, double lo,
                       double hi, double *out, hr_error *err);
/* A string field (NULL when missing and not required); the pointer stays
 * valid while o lives. At most maxlen bytes. */
hr_status hr__meta_str(const json_t *o, const char *what, const char *key, int required, size_t maxlen,
                       const char **out, hr_error *err);

/* Sends a message whose metadata is the JSON object `meta` (stolen; NULL:
 * none). HR_ERR_NOMEM when it cannot be serialised. */
hr_status hr__send_json(hr_chan *c, hr_msg_type type, uint32_t id, json_t *meta, const hr_wire_tensor *t, int n,
                        hr_error *err);

/* One line to a driver's log callback (nothing when log is NULL), formatted
 * into at most 640 bytes. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void hr__rlog(hr_remote_log_fn log, void *user, const char *fmt, ...);

/* The worker's side of SERVE_PROBE (serve_probe.c): dials params->server
 * again as an edge, deploys, streams the passes and reports each on c. */
hr_status hr__worker_serve_probe(hr_chan *c, const hr_worker_params *params, const hr_msg *msg, hr_error *err);

/* Monotonic clock in milliseconds. */
double hr__remote_now_ms(void);

/* α of a model [N·3] by HR_BRANCH_* (0 for missing branches) as a JSON
 * array of [dense, 1x1, identity] triples, and back: the inverse checks
 * the block count, finiteness and that the model has every non-zero
 * branch. */
json_t *hr__alpha_to_json(const float *alpha, int nblocks);
hr_status hr__alpha_from_json(const json_t *v, const char *what, int nblocks, float *alpha, hr_error *err);

/* Sets a model's α to alpha [N·3]: non-zero values first, so that no block
 * is ever left without a live branch on the way; pruned branches (α = 0)
 * that are already pruned are left alone. HR_ERR_INVALID_ARG naming the
 * block (a block left without a live branch, a branch the model lacks). */
hr_status hr__model_set_alpha_all(hr_model *m, const float *alpha, hr_error *err);
/* The model's α [N·3] (0 for missing branches). */
void hr__model_get_alpha(const hr_model *m, float *alpha);

/* Writes a model's weights as safetensors bytes (through a temporary file:
 * the weights module writes files only). *data malloc'd. */
hr_status hr__model_to_blob(const hr_model *m, void **data, size_t *n, hr_error *err);
/* Loads safetensors bytes into a model (through a temporary file, which is
 * removed before returning). */
hr_status hr__model_from_blob(hr_model *m, const void *data, size_t n, hr_error *err);

/* Reads a whole (small) file into a malloc'd NUL-terminated buffer, at most
 * limit bytes. HR_ERR_IO, HR_ERR_LIMIT, HR_ERR_NOMEM. */
hr_status hr__read_small_file(const char *path, size_t limit, char **out, size_t *n, hr_error *err);

/* A temporary file name under $TMPDIR (or /tmp), created empty (mkstemp);
 * buf receives the path. */
hr_status hr__tmp_file(const char *tag, char *buf, size_t size, hr_error *err);

#endif
