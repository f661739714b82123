/* The 14 γ execution configurations and the branch sets they use (SPEC §3).
 * The table itself is include/hyperrep/gamma.def. */
#ifndef HYPERREP_GAMMA_H
#define HYPERREP_GAMMA_H

#include <stddef.h>

#include "hyperrep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Branches of a block; bit masks are (1u << branch). */
typedef enum hr_branch { HR_BRANCH_DENSE, HR_BRANCH_1X1, HR_BRANCH_IDENTITY, HR_BRANCH_COUNT } hr_branch;
#define HR_BR_DENSE (1u << HR_BRANCH_DENSE)
#define HR_BR_1X1 (1u << HR_BRANCH_1X1)
#define HR_BR_IDENTITY (1u << HR_BRANCH_IDENTITY)
#define HR_BR_ALL (HR_BR_DENSE | HR_BR_1X1 | HR_BR_IDENTITY)

typedef enum hr_gamma {
#define HR_GAMMA(id, e, name, br, streams, kernels, layout) HR_GAMMA_##e = id,
#include "hyperrep/gamma.def"
#undef HR_GAMMA
    HR_GAMMA_COUNT
} hr_gamma;

/* Kinds of work one stream of a γ does (cost model kernels). */
typedef enum hr_kernel_kind { HR_KERNEL_K3, HR_KERNEL_K1, HR_KERNEL_ID, HR_KERNEL_KIND_COUNT } hr_kernel_kind;

typedef struct hr_gamma_info {
    int id;
    const char *name;            /* "FUSED_ALL" */
    unsigned branches;           /* HR_BR_* mask the γ computes */
    int streams;                 /* 1..3 */
    hr_kernel_kind kernels[3];   /* per stream, in execution order */
    unsigned layout[3];          /* fused branch set per stream */
} hr_gamma_info;

typedef enum hr_mask_kind {
    HR_MASK_EXACT,   /* γ's branch set equals the live set (default) */
    HR_MASK_SUBSET,  /* γ's branches are all live (the original's step 2; changes the function) */
    HR_MASK_KIND_COUNT
} hr_mask_kind;

/* Table row of γ (0..13); NULL when out of range. */
const hr_gamma_info *hr_gamma_get(int gamma);
/* Parses "13", "FUSED_ALL" or "fused_all"; -1 when unknown. */
int hr_gamma_parse(const char *s);
/* Name of a branch: "dense", "1x1", "identity". */
const char *hr_branch_name(hr_branch b);
/* 1 when γ is valid for a block whose live branch set is `live` under mask. */
int hr_gamma_valid(int gamma, unsigned live, hr_mask_kind mask);
/* Deploy γ of a live set: the fully fused γ (13, 4, 6, 8, 0, 1, 2); -1 for an empty set. */
int hr_gamma_deploy(unsigned live);
/* Writes "dense+1x1" style text for a branch mask into buf; returns buf. */
char *hr_branch_mask_str(unsigned mask, char *buf, unsigned long size);

/* ---- the original tool's virtual identity (SPEC §13.7) ----
 *
 * The original HyperRepVGG gives every block a hyper_identity α, also the
 * blocks that have no identity branch (stride 2 or a change of width), where
 * it multiplies nothing: its files carry e.g. "stage1.0.hyper_identity": 1.0.
 * Every reader of α or of branch names (checkpoints, α files, pruned lists,
 * deployments) accepts such a value, ignores it and notes it once per file;
 * it never counts as a branch (pruned sets, FLOPs, rankings, the
 * last-live-branch rule). */

/* 1 when `branch` of a block whose branches are `existing` (HR_BR_*) is the
 * virtual identity: the identity of a block that has none. */
int hr_branch_is_virtual(unsigned existing, hr_branch branch);

/* The virtual identities one reader met, for its single note. Initialise
 * with {0}. */
typedef struct hr_virtual_ids {
    int count;
    int cut;            /* blocks holds only the first names, ending in "…" */
    char blocks[128];   /* the block names, ", "-separated */
} hr_virtual_ids;

/* Counts one more virtual identity, of block `block`. */
void hr_virtual_ids_add(hr_virtual_ids *v, const char *block);
/* The note "<what>: ignored N hyper_identity entries of blocks without an
 * identity branch (the original tool's virtual identity): stage1.0, …" in
 * buf; returns buf ("" when v->count is 0). */
const char *hr_virtual_ids_note(const hr_virtual_ids *v, const char *what, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
