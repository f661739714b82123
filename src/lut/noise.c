/* Noise of a LUT measurement (SPEC §13.1): quartiles and the spread of an
 * entry's runs, the choice of entries to re-measure, and how much CPU time
 * other processes took from ours while we measured. */
#include "lut/lut_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hyperrep/clock.h"

double hr_lut_quantile(const double *sorted, int n, double q)
{
    double h, f;
    int i;
    if (!sorted || n < 1 || !(q >= 0 && q <= 1))
        return NAN;
    h = (n - 1) * q;
    f = floor(h);
    i = (int)f;
    if (i >= n - 1)
        return sorted[n - 1];
    return sorted[i] + (h - f) * (sorted[i + 1] - sorted[i]);
}

double hr_lut_spread(const double *sorted, int n)
{
    double med;
    if (!sorted || n < 1)
        return -1;
    if (n == 1)
        return 0;
    med = hr_lut_quantile(sorted, n, 0.5);
    if (!(med > 0))
        return -1;
    return (hr_lut_quantile(sorted, n, 0.75) - hr_lut_quantile(sorted, n, 0.25)) / med;
}

int hr__lut_select_noisy(const double *spread, int n, double threshold, int *idx)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (spread[i] >= 0 && spread[i] > threshold)
            idx[k++] = i;
    return k;
}

double hr__lut_median_spread(const double *spread, int n)
{
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)), m;
    int k = 0;
    if (!v)
        return -1;
    for (int i = 0; i < n; i++)
        if (spread[i] >= 0)
            v[k++] = spread[i];
    for (int i = 1; i < k; i++) /* insertion sort: a few hundred entries at most */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    m = k ? hr_lut_quantile(v, k, 0.5) : -1;
    free(v);
    return m;
}

/* ---- stolen CPU ---- */

static double mono_ms(void)
{
    return hr_clock_now_ms();
}

/* Reads "run_ns wait_ns slices" of one task; 1 on success. */
static int read_schedstat(const char *path, double *run_ns, double *wait_ns)
{
    FILE *f = fopen(path, "r");
    unsigned long long run, wait;
    int ok;
    if (!f)
        return 0;
    ok = fscanf(f, "%llu %llu", &run, &wait) == 2;
    fclose(f);
    if (ok) {
        *run_ns = (double)run;
        *wait_ns = (double)wait;
    }
    return ok;
}

void hr__cpu_sample_take(hr__cpu_sample *s)
{
    struct rusage ru;
    DIR *d;
    memset(s, 0, sizeof *s);
    s->wall_ms = mono_ms();
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        s->cpu_ms = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec * 1e-3 +
                    (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec * 1e-3;
        s->have_rusage = 1;
    }
    /* Every thread of the process: the pool's workers run our kernels too. */
    d = opendir("/proc/self/task");
    if (!d)
        return;
    s->have_schedstat = 1;
    for (struct dirent *e; (e = readdir(d));) {
        char path[64], *end;
        long tid = strtol(e->d_name, &end, 10);
        hr__task_stat *t;
        if (end == e->d_name || *end || tid <= 0)
            continue;
        if (s->ntasks == HR__CPU_MAX_TASKS) {
            s->have_schedstat = 0; /* too many threads to account for: fall back */
            break;
        }
        t = &s->task[s->ntasks];
        snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
        if (!read_schedstat(path, &t->run_ns, &t->wait_ns))
            continue;
        t->tid = tid;
        s->ntasks++;
    }
    closedir(d);
    if (s->ntasks == 0)
        s->have_schedstat = 0;
}

double hr__cpu_stolen_pct(const hr__cpu_sample *a, const hr__cpu_sample *b, int threads, const char **method)
{
    if (a->have_schedstat && b->have_schedstat) {
        double run = 0, wait = 0;
        /* Threads started in between count from zero; threads that ended
         * in between are lost (the pool's threads live throughout). */
        for (int i = 0; i < b->ntasks; i++) {
            double r0 = 0, w0 = 0;
            for (int j = 0; j < a->ntasks; j++)
                if (a->task[j].tid == b->task[i].tid) {
                    r0 = a->task[j].run_ns;
                    w0 = a->task[j].wait_ns;
                    break;
                }
            if (b->task[i].run_ns >= r0 && b->task[i].wait_ns >= w0) {
                run += b->task[i].run_ns - r0;
                wait += b->task[i].wait_ns - w0;
            }
        }
        if (run + wait > 0) {
            *method = "schedstat";
            return 100.0 * wait / (run + wait);
        }
    }
    if (a->have_rusage && b->have_rusage && b->wall_ms > a->wall_ms && threads > 0) {
        double avail = (b->wall_ms - a->wall_ms) * threads, used = b->cpu_ms - a->cpu_ms;
        *method = "getrusage";
        return used >= avail ? 0 : 100.0 * (1 - used / avail);
    }
    *method = "";
    return -1;
}
