/* The monotonic clock and absolute-deadline waits (clock.h). */
#include "hyperrep/clock.h"

#include <errno.h>
#include <time.h>

int64_t hr_clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

double hr_clock_now_ms(void)
{
    return (double)hr_clock_now_ns() / 1e6;
}

int64_t hr_clock_sleep_target_ns(int64_t deadline_ns, int64_t now_ns, int64_t tail_ns)
{
    int64_t target = deadline_ns - (tail_ns > 0 ? tail_ns : 0);
    return target > now_ns ? target : now_ns;
}

/* The CPU's spin-wait hint: it lets a sibling hyper-thread run and saves
 * power while the loop polls the clock. */
static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

void hr_clock_sleep_until(int64_t deadline_ns)
{
    int64_t now = hr_clock_now_ns();
    int64_t target = hr_clock_sleep_target_ns(deadline_ns, now, HR_CLOCK_SPIN_TAIL_NS);
    if (target > now) {
        struct timespec ts;
        int rc;
        ts.tv_sec = (time_t)(target / INT64_C(1000000000));
        ts.tv_nsec = (long)(target % INT64_C(1000000000));
        /* clock_nanosleep returns the error number rather than setting
         * errno; an absolute deadline is simply retried after a signal. */
        while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
            ;
        if (rc != 0) {
            /* Not expected for a valid deadline on CLOCK_MONOTONIC; relative
             * sleeps still avoid a long spin. */
            while ((now = hr_clock_now_ns()) < target) {
                struct timespec rel;
                int64_t d = target - now;
                rel.tv_sec = (time_t)(d / INT64_C(1000000000));
                rel.tv_nsec = (long)(d % INT64_C(1000000000));
                if (nanosleep(&rel, NULL) != 0 && errno != EINTR)
                    break;
            }
        }
    }
    while (hr_clock_now_ns() < deadline_ns)
        cpu_relax();
}
