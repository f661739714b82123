/* Deterministic pseudo-random numbers for initialisation and data (internal).
 * splitmix64 seeding + xoshiro256** generation; normal deviates by
 * Box-Muller. Streams are identified by (seed, stream id) so independent
 * parts of a run draw reproducibly regardless of order. */
#ifndef HR_CORE_RNG_H
#define HR_CORE_RNG_H

#include <stdint.h>

typedef struct hr__rng {
    uint64_t s[4];
} hr__rng;

void hr__rng_seed(hr__rng *r, uint64_t seed, uint64_t stream);
uint64_t hr__rng_u64(hr__rng *r);
/* Uniform in [0, 1). */
double hr__rng_uniform(hr__rng *r);
/* Standard normal. */
double hr__rng_normal(hr__rng *r);

#endif
