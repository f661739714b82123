/* hyperrep: HyperRepVGG runtime and edge–cloud co-design tools.
 *
 * One include for the whole public API. A worked example — load a PyTorch
 * RepVGG checkpoint, run it split between a head and a tail with a γ per
 * block, and time nothing in the hot path:
 *
 *   hr_error err = {0};
 *   hr_ctx_params cp = hr_ctx_params_default();
 *   cp.threads = 2;                                   // per context, never global
 *   hr_ctx *ctx;
 *   hr_tensor_map *weights;
 *   hr_model *model;
 *   if (hr_ctx_create(&cp, &ctx, &err) ||
 *       hr_pth_load("RepVGG-B3-train.pth", &weights, &err) ||   // no Python involved
 *       hr_model_create(ctx, "repvgg-b3", NULL, &model, &err) ||
 *       hr_model_load(model, weights, &err) ||
 *       hr_model_apply_deploy(model, &err) ||                      // γ 13/4/… per block
 *       hr_model_apply_gamma(model, 5, HR_GAMMA_PARA_ALL, HR_MASK_EXACT, NULL, &err) ||
 *       hr_model_plan(model, 1, &err)) {                           // allocate once
 *       fprintf(stderr, "%s\n", err.msg);
 *       ...
 *   }
 *   // head: stage 0 + blocks [0, 8); tail: blocks [8, N) + classifier
 *   hr_model_forward_stage0(model, &image, &s0, &err);
 *   hr_model_forward_range(model, 0, 8, &s0, &crossing, &err);
 *   hr_model_forward_range(model, 8, hr_model_num_blocks(model), &crossing, &features, &err);
 *   hr_model_forward_classifier(model, &features, &logits, &err);
 *
 * Every fallible function returns hr_status (HR_OK == 0) and fills the
 * trailing hr_error with a message naming the object and value at fault.
 * Headers: error.h (statuses), ctx.h (context, threads, allocator, arena),
 * tensor.h (views), ops.h (kernels), gamma.h (the 14 γ), model.h (models),
 * weights.h (safetensors, .pth, .npy), data.h (data sets, domains, batches),
 * train.h (α and full training), lut.h (cost model, LUTs, link, roofline),
 * optim.h (step 2: gradient method, grid search, exact solver), joint.h
 * (step 3), plot.h (step 4), proto.h (wire frames and messages), net.h
 * (TLS transport), remote.h (real mode: edge worker, remote LUT, split
 * training), serve.h (split-inference deployment), edge.h (the edge side
 * of split inference: frames, passes, the load generator), edge_emulate.h
 * (a slower edge played at run time), clock.h (monotonic clock, deadline
 * waits), version.h. */
#ifndef HYPERREP_HYPERREP_H
#define HYPERREP_HYPERREP_H

#include "hyperrep/clock.h"
#include "hyperrep/ctx.h"
#include "hyperrep/data.h"
#include "hyperrep/edge.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/model.h"
#include "hyperrep/net.h"
#include "hyperrep/ops.h"
#include "hyperrep/optim.h"
#include "hyperrep/placement.h"
#include "hyperrep/plot.h"
#include "hyperrep/proto.h"
#include "hyperrep/remote.h"
#include "hyperrep/serve.h"
#include "hyperrep/tensor.h"
#include "hyperrep/train.h"
#include "hyperrep/version.h"
#include "hyperrep/weights.h"

#endif
