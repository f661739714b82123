/* Pieces shared by the edge (edge.c) and the load generator (edge_load.c):
 * the clock they time with and the deployment exchange with a server
 * (edge_sync.c). */
#ifndef HR_SERVE_EDGE_INTERNAL_H
#define HR_SERVE_EDGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/edge.h"

/* Milliseconds on CLOCK_MONOTONIC (hr_clock_now_ns). */
double hr__edge_now_ms(void);

/* The bytes of a safetensors file holding `map` (path itself when it is a
 * .safetensors file, else map serialised; path NULL: serialised). */
hr_status hr__edge_weights_bytes(const char *path, const hr_tensor_map *map, void **bytes, size_t *len,
                                 hr_error *err);

/* Sends the deployment (MODEL_SYNC: random weights from seed when bytes is
 * NULL, else the bytes in chunks of at most 16 MiB) and waits up to
 * timeout_ms for the server's ACK; *ack (NULL allowed) receives its
 * metadata (malloc'd). Errors of the transport, or the server's ERROR. */
hr_status hr__edge_sync(hr_chan *c, const hr_deploy_config *cfg, const void *bytes, size_t len, uint64_t seed,
                        int want_logits, int timeout_ms, char **ack, hr_error *err);

/* Sends SHUTDOWN and waits for the ACK (bounded); errors are ignored. */
void hr__edge_shutdown(hr_chan *c, uint32_t id);

#endif
