/* The accuracy guard's arithmetic (SPEC §13.6): the regularized incomplete
 * beta function and its inverse, the one-sided Clopper–Pearson bound, the
 * guard's bound on a cumulative paired drop and the paired 95 % interval
 * reported for the test part. */
#include <math.h>
#include <string.h>

#include "hyperrep/joint.h"

static const char *const guard_names[HR_GUARD_MODE_COUNT] = {"point", "bound"};

const char *hr_guard_mode_name(hr_guard_mode m)
{
    return (int)m >= 0 && m < HR_GUARD_MODE_COUNT ? guard_names[m] : NULL;
}

int hr_guard_mode_parse(const char *s)
{
    for (int i = 0; s && i < HR_GUARD_MODE_COUNT; i++)
        if (strcmp(s, guard_names[i]) == 0)
            return i;
    return -1;
}

/* The continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified
 * Lentz). It converges fast for x < (a + 1)/(a + b + 2); the caller uses the
 * symmetry I_x(a, b) = 1 − I_{1−x}(b, a) elsewhere. The iteration cap is
 * generous because the number of terms grows like sqrt(max(a, b)), and
 * guard halves reach thousands of discordant pairs. */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-16;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap, h;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 100000; m++) {
        double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

double hr_stat_beta_inc(double a, double b, double x)
{
    if (!(a > 0) || !(b > 0) || isnan(x) || isinf(a) || isinf(b))
        return NAN;
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    /* log of x^a (1−x)^b / B(a, b) */
    double lf = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lf) * beta_cf(a, b, x) / a;
    return 1 - exp(lf) * beta_cf(b, a, 1 - x) / b;
}

/* Bisection rather than Newton: I_x is monotone in x, so bisection cannot
 * diverge near the ends where the density vanishes or blows up, and 60
 * halvings already reach double precision. */
double hr_stat_beta_inv(double a, double b, double p)
{
    if (!(a > 0) || !(b > 0) || isnan(p) || isinf(a) || isinf(b))
        return NAN;
    if (p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
        double mid = 0.5 * (lo + hi);
        if (hr_stat_beta_inc(a, b, mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double hr_stat_cp_upper(int64_t k, int64_t m, double level)
{
    if (m <= 0 || k >= m)
        return 1;
    if (k < 0)
        k = 0;
    return hr_stat_beta_inv((double)k + 1, (double)(m - k), level);
}

double hr_joint_guard_bound(int64_t b, int64_t c, int64_t n, double alpha, int r)
{
    if (b + c <= 0 || n <= 0)
        return 0;
    if (r < 1)
        r = 1;
    double p = hr_stat_cp_upper(b, b + c, 1 - alpha / r);
    return 100.0 * (2 * p - 1) * (double)(b + c) / (double)n;
}

/* Wilson's score interval of x successes in n at z. */
static void wilson(double x, double n, double z, double *lo, double *hi)
{
    double p = x / n, z2 = z * z, den = 2 * (n + z2);
    double mid = (2 * x + z2) / den, half = z * sqrt(z2 + 4 * x * (1 - p)) / den;
    *lo = mid - half < 0 ? 0 : mid - half;
    *hi = mid + half > 1 ? 1 : mid + half;
}

void hr_joint_paired_ci95(int64_t n, int64_t right0, int64_t b, int64_t c, double *lo, double *hi)
{
    const double z = 1.959963984540054;
    int64_t a = right0 - b, d = n - right0 - c;
    *lo = *hi = NAN;
    if (n <= 0 || b < 0 || c < 0 || a < 0 || d < 0)
        return;
    double N = (double)n, p1 = (double)right0 / N, p2 = (double)(a + c) / N, l1, u1, l2, u2;
    wilson((double)right0, N, z, &l1, &u1);
    wilson((double)(a + c), N, z, &l2, &u2);
    /* phi of the 2x2 table: 0 when a margin is empty (no correlation to use) */
    double den = sqrt((double)(a + b) * (double)(c + d) * (double)(a + c) * (double)(b + d));
    double phi = den > 0 ? ((double)a * (double)d - (double)b * (double)c) / den : 0;
    double dl = (p1 - l1) * (p1 - l1) - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) * (u2 - p2);
    double du = (u1 - p1) * (u1 - p1) - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) * (p2 - l2);
    double diff = p1 - p2, L = diff - sqrt(dl > 0 ? dl : 0), U = diff + sqrt(du > 0 ? du : 0);
    *lo = 100.0 * (L < -1 ? -1 : L);
    *hi = 100.0 * (U > 1 ? 1 : U);
}
