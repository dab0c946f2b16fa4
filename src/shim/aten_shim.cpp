// ATen entry points tch does not bind: the fused multi-tensor AdamW, foreach grad-norm clipping,
// dropping gradients, the autocast dtype, TF32 and the Kineto profiler. Tensors arrive as tch's `C_tensor*`, which are
// `at::Tensor*`. Every function returns null on success or an error message (valid until the next
// call on this thread).
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "guarded.h"

namespace {
using lmeff_shim::guarded;

std::vector<at::Tensor> list(at::Tensor **ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

}  // namespace

extern "C" {

// One AdamW step over a group (decoupled weight decay), ATen's fused kernel; `lr` and the
// per-parameter `steps` are tensors on the parameters' device, so no host synchronisation.
const char *lmeff_fused_adamw(at::Tensor **params, at::Tensor **grads, at::Tensor **exp_avgs,
                              at::Tensor **exp_avg_sqs, at::Tensor **steps, size_t n,
                              at::Tensor *lr, double beta1, double beta2, double weight_decay,
                              double eps) {
  return guarded([&] {
    if (n == 0) return;
    at::NoGradGuard no_grad;
    auto state_steps = list(steps, n);
    at::_foreach_add_(state_steps, 1.0);  // the kernel reads the count of this step, as in torch.optim
    at::_fused_adamw_(list(params, n), list(grads, n), list(exp_avgs, n), list(exp_avg_sqs, n),
                      {}, state_steps, *lr, beta1, beta2, weight_decay, eps,
                      /*amsgrad=*/false, /*maximize=*/false);
  });
}

// Clips gradients in place to a global L2 norm of `max_norm` (torch's clip_grad_norm_ rule) and
// writes the norm before clipping, as a 0-dim device tensor, to `*norm_out`.
const char *lmeff_clip_grad_norm(at::Tensor **grads, size_t n, double max_norm,
                                 at::Tensor **norm_out) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    auto gs = list(grads, n);
    auto norms = at::_foreach_norm(gs, 2.0);
    auto total = at::linalg_vector_norm(at::stack(norms), 2.0);
    auto coef = at::clamp_max(max_norm / (total + 1e-6), 1.0);
    at::_foreach_mul_(gs, coef);
    *norm_out = new at::Tensor(total);
  });
}

// Drops the gradients of `params` (torch's `zero_grad(set_to_none=True)`): the next backward
// writes fresh ones instead of adding to a zeroed buffer.
const char *lmeff_clear_grads(at::Tensor **params, size_t n) {
  return guarded([&] {
    for (size_t i = 0; i < n; ++i) params[i]->mutable_grad().reset();
  });
}

// Enters (`enabled` = 1) or leaves (0) a bf16 autocast region on CUDA (`cuda` = 1) or the CPU.
const char *lmeff_autocast_bf16(int cuda, int enabled) {
  return guarded([&] {
    auto device = cuda ? at::kCUDA : at::kCPU;
    if (enabled) {
      at::autocast::set_autocast_dtype(device, at::kBFloat16);
      at::autocast::set_autocast_enabled(device, true);
      at::autocast::increment_nesting();
    } else {
      if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
      at::autocast::set_autocast_enabled(device, false);
    }
  });
}

// Allows (1) or forbids (0) TF32 tensor cores for fp32 matmuls and convolutions on CUDA.
const char *lmeff_set_tf32(int allowed) {
  return guarded([&] {
    auto p = allowed ? at::Float32Precision::TF32 : at::Float32Precision::IEEE;
    for (auto op : {at::Float32Op::MATMUL, at::Float32Op::CONV})
      at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, op, p);
  });
}

// Whether fp32 matmuls on CUDA may use TF32.
int lmeff_tf32(void) {
  return at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL) ==
         at::Float32Precision::TF32;
}

// Starts libtorch's Kineto profiler on this thread: CPU operators with their input shapes and
// memory, and CUDA kernels too when `cuda` = 1.
const char *lmeff_profiler_start(int cuda) {
  return guarded([&] {
    using namespace torch::profiler::impl;
    ProfilerConfig config(ProfilerState::KINETO, /*report_input_shapes=*/true,
                          /*profile_memory=*/true);
    std::set<ActivityType> activities{ActivityType::CPU};
    if (cuda) activities.insert(ActivityType::CUDA);
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
  });
}

// Stops the profiler and writes what it recorded as a Chrome trace (JSON) to `path`.
const char *lmeff_profiler_stop(const char *path) {
  return guarded([&] {
    auto result = torch::autograd::profiler::disableProfiler();
    if (!result) throw std::runtime_error("the profiler was not running");
    result->save(path);
  });
}

// The native handle (cudaStream_t) of torch's current stream on CUDA device `device`, through the
// device guard libtorch_cuda registers with c10 (an error when libtorch_cuda is not loaded).
const char *lmeff_cuda_current_stream(int device, void **out) {
  return guarded([&] {
    auto impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
    auto stream = impl->getStream(c10::Device(c10::DeviceType::CUDA, device));
    *out = stream.native_handle();
  });
}
}
