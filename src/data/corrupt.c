/* The 10 domains of SPEC §8 and their corruptions.
 *
 * Each corruption draws from its own stream, seeded by (seed, domain, pool,
 * sample index), so a sample's noise does not depend on which other samples
 * were produced before it, on which thread, or in which run. */
#include "data/data_internal.h"

#include <math.h>

static const hr_domain_info domains[HR_NUM_DOMAINS] = {
    {0, HR_NOISE_GAUSSIAN, 0.20, "Gaussian Noise (Weak)", "weak Gaussian noise (sigma 0.20)"},
    {1, HR_NOISE_GAUSSIAN, 0.22, "Gaussian Noise (Medium)", "medium Gaussian noise (sigma 0.22)"},
    {2, HR_NOISE_GAUSSIAN, 0.24, "Gaussian Noise (Strong)", "strong Gaussian noise (sigma 0.24)"},
    {3, HR_NOISE_SALT_PEPPER, 0.20, "Salt-and-Pepper Noise (Medium)", "medium salt-and-pepper noise (p 0.20)"},
    {4, HR_NOISE_SALT_PEPPER, 0.22, "Salt-and-Pepper Noise (Strong)", "strong salt-and-pepper noise (p 0.22)"},
    {5, HR_NOISE_SALT_PEPPER, 0.18, "Salt-and-Pepper Noise (Weak)", "weak salt-and-pepper noise (p 0.18)"},
    {6, HR_NOISE_GAUSSIAN, 0.50, "Gaussian Noise (Extreme)", "extreme Gaussian noise (sigma 0.50)"},
    {7, HR_NOISE_GAUSSIAN, 0.25, "Gaussian Noise (Heavy)", "heavy Gaussian noise (sigma 0.25)"},
    {8, HR_NOISE_GAUSSIAN, 0.35, "Gaussian Noise (Very Heavy)", "very heavy Gaussian noise (sigma 0.35)"},
    {9, HR_NOISE_GAUSSIAN, 0.40, "Gaussian Noise (Severe)", "severe Gaussian noise (sigma 0.40)"},
};

const hr_domain_info *hr_domain_get(int domain)
{
    if (domain < 0 || domain >= HR_NUM_DOMAINS)
        return NULL;
    return &domains[domain];
}

static float clip01(float v) { return v > 1.0f ? 1.0f : v >= 0.0f ? v : 0.0f; }

/* Adds N(0, sigma²) to every element. Marsaglia's polar method gives two
 * independent deviates per accepted pair of uniforms with one log and one
 * square root (no trigonometry: about twice as fast as Box–Muller here);
 * both are used, in element order. */
static void gaussian(hr__rng *r, double sigma, float *x, int64_t n)
{
    int64_t i = 0;
    while (i < n) {
        double u, v, s, m;
        do {
            u = 2.0 * hr__rng_uniform(r) - 1.0;
            v = 2.0 * hr__rng_uniform(r) - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        m = sigma * sqrt(-2.0 * log(s) / s);
        x[i] = clip01((float)(x[i] + u * m));
        i++;
        if (i < n) {
            x[i] = clip01((float)(x[i] + v * m));
            i++;
        }
    }
}

/* One uniform u per pixel position: u < p/2 → 0 (pepper), p/2 <= u < p → 1
 * (salt), on every channel. */
static void salt_pepper(hr__rng *r, double p, float *x, int64_t c, int64_t hw)
{
    for (int64_t j = 0; j < hw; j++) {
        double u = hr__rng_uniform(r);
        float v;
        if (u >= p)
            continue;
        v = u < 0.5 * p ? 0.0f : 1.0f;
        for (int64_t ch = 0; ch < c; ch++)
            x[ch * hw + j] = v;
    }
    for (int64_t j = 0; j < c * hw; j++)
        x[j] = clip01(x[j]);
}

void hr_domain_corrupt(int domain, uint64_t seed, hr_pool pool, int64_t index, float *pix, int64_t c,
                       int64_t h, int64_t w)
{
    const hr_domain_info *d = hr_domain_get(domain);
    hr__rng r;

    if (!d) {
        for (int64_t j = 0; j < c * h * w; j++)
            pix[j] = clip01(pix[j]);
        return;
    }
    hr__rng_seed(&r, seed, hr__stream(HR__STREAM_CORRUPT, (uint64_t)domain, (uint64_t)pool, (uint64_t)index));
    if (d->kind == HR_NOISE_GAUSSIAN)
        gaussian(&r, d->level, pix, c * h * w);
    else if (d->kind == HR_NOISE_SALT_PEPPER)
        salt_pepper(&r, d->level, pix, c, h * w);
}
