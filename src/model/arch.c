/* The architecture table: the RepVGG family as published (SPEC §2) plus the
 * small models of the embedded default and of the tests. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "hyperrep/model.h"

#define IMAGENET 3, 224, 1000

static const hr_arch archs[] = {
    {"repvgg-a0", "RepVGG-A0 (ImageNet)", {2, 4, 14, 1}, {48, 96, 192, 1280}, 48, 2, 1, IMAGENET},
    {"repvgg-a1", "RepVGG-A1 (ImageNet)", {2, 4, 14, 1}, {64, 128, 256, 1280}, 64, 2, 1, IMAGENET},
    {"repvgg-a2", "RepVGG-A2 (ImageNet)", {2, 4, 14, 1}, {96, 192, 384, 1408}, 64, 2, 1, IMAGENET},
    {"repvgg-b0", "RepVGG-B0 (ImageNet)", {4, 6, 16, 1}, {64, 128, 256, 1280}, 64, 2, 1, IMAGENET},
    {"repvgg-b1", "RepVGG-B1 (ImageNet)", {4, 6, 16, 1}, {128, 256, 512, 2048}, 64, 2, 1, IMAGENET},
    {"repvgg-b1g2", "RepVGG-B1g2 (ImageNet)", {4, 6, 16, 1}, {128, 256, 512, 2048}, 64, 2, 2, IMAGENET},
    {"repvgg-b1g4", "RepVGG-B1g4 (ImageNet)", {4, 6, 16, 1}, {128, 256, 512, 2048}, 64, 2, 4, IMAGENET},
    {"repvgg-b2", "RepVGG-B2 (ImageNet)", {4, 6, 16, 1}, {160, 320, 640, 2560}, 64, 2, 1, IMAGENET},
    {"repvgg-b2g2", "RepVGG-B2g2 (ImageNet)", {4, 6, 16, 1}, {160, 320, 640, 2560}, 64, 2, 2, IMAGENET},
    {"repvgg-b2g4", "RepVGG-B2g4 (ImageNet)", {4, 6, 16, 1}, {160, 320, 640, 2560}, 64, 2, 4, IMAGENET},
    {"repvgg-b3", "RepVGG-B3 (ImageNet)", {4, 6, 16, 1}, {192, 384, 768, 2560}, 64, 2, 1, IMAGENET},
    {"repvgg-b3g2", "RepVGG-B3g2 (ImageNet)", {4, 6, 16, 1}, {192, 384, 768, 2560}, 64, 2, 2, IMAGENET},
    {"repvgg-b3g4", "RepVGG-B3g4 (ImageNet)", {4, 6, 16, 1}, {192, 384, 768, 2560}, 64, 2, 4, IMAGENET},
    /* The embedded default: Fashion-MNIST, 1x28x28, 10 classes. Stage 0 keeps
     * the full 28x28 resolution (stride 1) because the images are small; the
     * four stages then halve it to 14, 7, 4, 2. About 6 MFLOP per image. */
    {"repvgg-fmnist", "thin A0-like RepVGG for Fashion-MNIST (1x28x28, 10 classes)", {2, 2, 2, 1},
     {16, 32, 64, 128}, 16, 1, 1, 1, 28, 10},
    /* Test models matching tests/fixtures/make_fixtures.py. */
    {"repvgg-tiny", "tiny RepVGG for tests (3x48x48, 10 classes)", {2, 2, 2, 1}, {8, 16, 16, 32}, 8, 2, 1, 3, 48, 10},
    {"repvgg-tiny-g2", "tiny grouped RepVGG for tests (groups 2 on layers 2, 4, 6)", {2, 2, 2, 1}, {8, 16, 16, 32}, 8,
     2, 2, 3, 48, 10},
};

int hr_arch_count(void) { return (int)(sizeof archs / sizeof archs[0]); }

const hr_arch *hr_arch_at(int i)
{
    return i >= 0 && i < hr_arch_count() ? &archs[i] : NULL;
}

const hr_arch *hr_arch_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < hr_arch_count(); i++) {
        const char *n = archs[i].name;
        if (strcasecmp(name, n) == 0 || strcasecmp(name, n + strlen("repvgg-")) == 0)
            return &archs[i];
    }
    /* "RepVGG_B3" style */
    if (strncasecmp(name, "repvgg_", 7) == 0)
        return hr_arch_find(name + 7);
    return NULL;
}
