/* The monotonic clock and waiting for an absolute deadline.
 *
 * Edge emulation (edge_emulate.h) ends every emulated block at a deadline:
 * its start plus the time the LUT gives it. hr_clock_sleep_until reaches
 * such a deadline precisely without burning a core: it sleeps with
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until HR_CLOCK_SPIN_TAIL_NS
 * before the deadline, then spins (with the CPU's pause hint) for the rest.
 * An absolute deadline does not drift when a sleep is interrupted or
 * resumed late, as a relative one would. The spin is short on purpose: on
 * an edge device the head's thread shares its core with the threads that
 * send and receive, and a long spin would steal their time. */
#ifndef HYPERREP_CLOCK_H
#define HYPERREP_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The spin tail, ns (80 µs; SPEC §13.2 allows at most 100 µs). Linux lets a
 * sleeping thread wake up to its timer slack late (50 µs by default) plus
 * the scheduler's wake-up latency (a few µs idle, more under load), so
 * sleeping until deadline − 80 µs wakes before the deadline in nearly every
 * case, and the spin removes the lateness a plain sleep would add to every
 * block. */
#define HR_CLOCK_SPIN_TAIL_NS INT64_C(80000)

/* Nanoseconds on CLOCK_MONOTONIC (arbitrary origin; never goes back). */
int64_t hr_clock_now_ns(void);
/* The same in milliseconds, as every timing in hyperrep reports it. */
double hr_clock_now_ms(void);

/* Returns at deadline_ns (CLOCK_MONOTONIC, ns) or at most a few µs after it
 * (on a loaded machine, when the scheduler runs the thread late); at once
 * when the deadline has passed. Sleeps until deadline_ns −
 * HR_CLOCK_SPIN_TAIL_NS, resuming after signals (EINTR), then spins for
 * the remainder, which is never more than HR_CLOCK_SPIN_TAIL_NS. Cannot
 * fail: should the sleep itself fail, it falls back to relative sleeps. */
void hr_clock_sleep_until(int64_t deadline_ns);

/* The instant the sleeping phase of hr_clock_sleep_until(deadline_ns) aims
 * for, seen at now_ns: deadline_ns − tail_ns, or now_ns (no sleep, spin
 * only) when that is not later than now. Pure arithmetic (for tests). */
int64_t hr_clock_sleep_target_ns(int64_t deadline_ns, int64_t now_ns, int64_t tail_ns);

#ifdef __cplusplus
}
#endif
#endif
