#include "hyperrep/gamma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define D HR_BR_DENSE
#define O HR_BR_1X1
#define I HR_BR_IDENTITY
#define K3 HR_KERNEL_K3
#define K1 HR_KERNEL_K1
#define ID HR_KERNEL_ID
#define HR__UNPAREN(...) __VA_ARGS__

static const hr_gamma_info table[HR_GAMMA_COUNT] = {
#define HR_GAMMA(id, e, name, br, streams, kernels, layout) \
    {id, name, br, streams, {HR__UNPAREN kernels}, {HR__UNPAREN layout}},
#include "hyperrep/gamma.def"
#undef HR_GAMMA
};

const hr_gamma_info *hr_gamma_get(int gamma)
{
    if (gamma < 0 || gamma >= HR_GAMMA_COUNT)
        return NULL;
    return &table[gamma];
}

int hr_gamma_parse(const char *s)
{
    char *end;
    long v;
    if (!s || !*s)
        return -1;
    v = strtol(s, &end, 10);
    if (*end == '\0')
        return v >= 0 && v < HR_GAMMA_COUNT ? (int)v : -1;
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        if (strcasecmp(s, table[g].name) == 0)
            return g;
    return -1;
}

const char *hr_branch_name(hr_branch b)
{
    static const char *names[HR_BRANCH_COUNT] = {"dense", "1x1", "identity"};
    return (unsigned)b < HR_BRANCH_COUNT ? names[b] : "?";
}

int hr_gamma_valid(int gamma, unsigned live, hr_mask_kind mask)
{
    const hr_gamma_info *g = hr_gamma_get(gamma);
    if (!g)
        return 0;
    if (mask == HR_MASK_SUBSET)
        return (g->branches & ~live) == 0;
    return g->branches == live;
}

int hr_gamma_deploy(unsigned live)
{
    switch (live & HR_BR_ALL) {
    case D | O | I: return HR_GAMMA_FUSED_ALL;
    case D | O: return HR_GAMMA_FUSED_3_1;
    case D | I: return HR_GAMMA_FUSED_3_I;
    case O | I: return HR_GAMMA_FUSED_1_I;
    case D: return HR_GAMMA_SOLO_K3;
    case O: return HR_GAMMA_SOLO_K1;
    case I: return HR_GAMMA_SOLO_ID;
    default: return -1;
    }
}

char *hr_branch_mask_str(unsigned mask, char *buf, unsigned long size)
{
    size_t off = 0;
    if (!size)
        return buf;
    buf[0] = '\0';
    for (int b = 0; b < HR_BRANCH_COUNT; b++)
        if (mask & (1u << b)) {
            int n = snprintf(buf + off, size - off, "%s%s", off ? "+" : "", hr_branch_name((hr_branch)b));
            if (n < 0 || (size_t)n >= size - off)
                break;
            off += (size_t)n;
        }
    if (!off)
        snprintf(buf, size, "none");
    return buf;
}

int hr_branch_is_virtual(unsigned existing, hr_branch branch)
{
    return branch == HR_BRANCH_IDENTITY && !(existing & HR_BR_IDENTITY);
}

void hr_virtual_ids_add(hr_virtual_ids *v, const char *block)
{
    size_t len = strlen(v->blocks), room = sizeof v->blocks - len;
    v->count++;
    if (v->cut)
        return;
    /* a name goes in only while room for ", …" (5 bytes and the NUL) stays after it */
    if (strlen(block) + 2 + 6 <= room) {
        snprintf(v->blocks + len, room, "%s%s", len ? ", " : "", block);
    } else {
        snprintf(v->blocks + len, room, "%s…", len ? ", " : "");
        v->cut = 1;
    }
}

const char *hr_virtual_ids_note(const hr_virtual_ids *v, const char *what, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = '\0';
    if (v->count > 0)
        snprintf(buf, size,
                 "%s: ignored %d hyper_identity entr%s of blocks without an identity branch (the original tool's "
                 "virtual identity, never a branch here): %s",
                 what, v->count, v->count == 1 ? "y" : "ies", v->blocks);
    return buf;
}
