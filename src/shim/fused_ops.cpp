// The fused ops of `train.kernels = "fused"` as autograd functions: SwiGLU, residual add + RMSNorm,
// RoPE on q and k, and linear + cross-entropy over chunks of tokens (the logits of all tokens never
// exist at once). Each function's kernel steps are the steps of Liger-Kernel 0.8.5's kernels: on
// CUDA each is a launch of its compiled Triton kernel through the launcher lmeff registers (Rust:
// the launch planned as Liger's launcher plans it, cudarc, torch's current stream); on the CPU
// ATen computes the same step, so the CPU tests hold the wiring, the chunking and the hand-written
// gradients to ATen's autograd. Every entry point returns null or an error message.
#include <ATen/ATen.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/autograd/custom_function.h>

#include <string>
#include <vector>

#include "guarded.h"

namespace {
using lmeff_shim::guarded;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The kernel steps, as the launcher (src/model/fused.rs) numbers them. Tensors go in the order
// each comment lists; `dims` likewise.
enum Step : int {
  SWIGLU_FORWARD = 0,   // dims rows, cols; gate, up, out
  SWIGLU_BACKWARD = 1,  // dims rows, cols; grad_out, gate, up (overwritten by their gradients)
  ADD_RMS_FORWARD = 2,  // dims rows, cols; scalar eps; x, residual, weight, out, sum, rstd
  ADD_RMS_BACKWARD = 3, // dims rows, cols; grad_out, grad_sum, grad_x, sum, weight, rstd, grad_weight_rows
  ROPE = 4,             // dims tokens, heads, head_dim, backward; q, k (in place), cos, sin
  CROSS_ENTROPY = 5,    // dims rows, vocab, tokens of the whole loss; logits (→ gradient), target, loss
};

typedef const char *(*Launcher)(int step, const int64_t *dims, size_t ndims, double scalar,
                                void *const *ptrs, size_t nptrs, int device, void *stream);
Launcher launcher = nullptr;

// Rows per program of the RMSNorm backward kernel (RMS_NORM_ROWS_PER_PROGRAM in Rust).
constexpr int64_t RMS_ROWS_PER_PROGRAM = 64;

void launch(Step step, std::vector<int64_t> dims, double scalar, std::vector<at::Tensor> ts) {
  if (!launcher) throw std::runtime_error("no fused kernels are loaded for CUDA (train.kernels_dir)");
  std::vector<void *> ptrs;
  for (auto &t : ts) {
    TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "fused kernel step ", int(step),
                ": a tensor is not a contiguous CUDA tensor");
    ptrs.push_back(t.data_ptr());
  }
  auto device = ts[0].device();
  auto stream = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(device);
  const char *err = launcher(step, dims.data(), dims.size(), scalar, ptrs.data(), ptrs.size(),
                             device.index(), stream.native_handle());
  if (err) throw std::runtime_error(err);
}

// Autocast stays outside: each function casts what it computes itself.
struct NoAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{c10::autocast_dispatch_keyset};
};

// `t` as `[rows, last dim]`, contiguous (a view when `t` already is).
at::Tensor rows_of(const at::Tensor &t) { return t.contiguous().view({-1, t.size(-1)}); }

struct SwiGlu : torch::autograd::Function<SwiGlu> {
  static at::Tensor forward(AutogradContext *ctx, at::Tensor gate, at::Tensor up) {
    NoAutocast no_autocast;
    auto g = gate.contiguous(), u = up.contiguous();
    at::Tensor out;
    if (g.is_cuda()) {
      out = at::empty_like(g);
      launch(SWIGLU_FORWARD, {rows_of(g).size(0), g.size(-1)}, 0.0, {g, u, out});
    } else {
      out = at::silu(g.to(at::kFloat)).to(u.scalar_type()) * u;
    }
    ctx->save_for_backward({g, u});
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    NoAutocast no_autocast;
    auto saved = ctx->get_saved_variables();
    auto dc = grads[0].contiguous();
    auto g = saved[0].clone(), u = saved[1].clone();
    if (g.is_cuda()) {
      launch(SWIGLU_BACKWARD, {rows_of(g).size(0), g.size(-1)}, 0.0, {dc, g, u});
    } else {
      auto a = g.to(at::kFloat), d = dc.to(at::kFloat);
      auto sig = at::sigmoid(a), silu = a * sig;
      auto dg = d * (silu * (1 - sig) + sig) * u.to(at::kFloat);
      u.copy_(d * silu);
      g.copy_(dg);
    }
    return {g, u};
  }
};

struct AddRmsNorm : torch::autograd::Function<AddRmsNorm> {
  // (rmsnorm(x + residual) · weight, x + residual), the RMS in fp32 (transformers' LlamaRMSNorm).
  static variable_list forward(AutogradContext *ctx, at::Tensor x, at::Tensor residual,
                               at::Tensor weight, double eps) {
    NoAutocast no_autocast;
    auto xc = x.contiguous(), rc = residual.contiguous();
    auto w = weight.to(x.scalar_type()).contiguous();
    auto rows = rows_of(xc).size(0);
    at::Tensor y, s, rstd;
    if (xc.is_cuda()) {
      y = at::empty_like(xc), s = at::empty_like(xc);
      rstd = at::empty({rows}, xc.options().dtype(at::kFloat));
      launch(ADD_RMS_FORWARD, {rows, xc.size(-1)}, eps, {xc, rc, w, y, s, rstd});
    } else {
      s = xc + rc;
      auto s32 = s.to(at::kFloat);
      auto r = at::rsqrt(s32.pow(2).mean(-1, true) + eps);
      y = (s32 * r).to(s.scalar_type()) * w;
      rstd = r.reshape({rows});
    }
    ctx->save_for_backward({s, w, rstd});
    ctx->saved_data["weight_dtype"] = int64_t(weight.scalar_type());
    return {y, s};
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    NoAutocast no_autocast;
    auto saved = ctx->get_saved_variables();
    auto shape = saved[0].sizes();
    auto s = rows_of(saved[0]), w = saved[1], rstd = saved[2];
    auto dy = rows_of(grads[0]).to(s.scalar_type());
    auto ds = grads[1].defined() ? rows_of(grads[1]).to(s.scalar_type()) : at::zeros_like(s);
    auto rows = s.size(0), cols = s.size(1);
    at::Tensor dx, dw;
    if (s.is_cuda()) {
      auto programs = (rows + RMS_ROWS_PER_PROGRAM - 1) / RMS_ROWS_PER_PROGRAM;
      dx = at::empty_like(s);
      auto dw_rows = at::empty({programs, cols}, s.options().dtype(at::kFloat));
      launch(ADD_RMS_BACKWARD, {rows, cols}, 0.0, {dy, ds, dx, s, w, rstd, dw_rows});
      dw = dw_rows.sum(0);
    } else {
      auto s32 = s.to(at::kFloat), r = rstd.unsqueeze(1);
      auto m = (dy * w).to(at::kFloat);
      auto dx32 = r * m - (r * r * r / cols) * (m * s32).sum(-1, true) * s32;
      dx = (dx32 + ds.to(at::kFloat)).to(s.scalar_type());
      dw = (dy * (s32 * r).to(s.scalar_type())).to(at::kFloat).sum(0);
    }
    auto weight_dtype = at::ScalarType(ctx->saved_data["weight_dtype"].toInt());
    dx = dx.view(shape);
    return {dx, dx, dw.to(weight_dtype), at::Tensor()};
  }
};

// The rotate-half rotation of q and k `[batch, time, heads, head_dim]` by cos/sin `[time, head_dim]`
// (fp32 tables), turned by -sin for the backward.
void rotate(at::Tensor &q, at::Tensor &k, const at::Tensor &cos, const at::Tensor &sin, bool backward) {
  if (q.is_cuda()) {
    auto tokens = q.size(0) * q.size(1);
    launch(ROPE, {tokens, q.size(2), q.size(3), backward}, 0.0, {q, k, cos, sin});
    return;
  }
  auto half = q.size(-1) / 2;
  auto c = cos.view({q.size(0), q.size(1), 1, -1}), s = sin.view({q.size(0), q.size(1), 1, -1});
  for (auto *t : {&q, &k}) {
    auto x1 = t->narrow(-1, 0, half), x2 = t->narrow(-1, half, half);
    auto turned = backward ? at::cat({x2, -x1}, -1) : at::cat({-x2, x1}, -1);
    *t = *t * c + turned * s;
  }
}

struct Rope : torch::autograd::Function<Rope> {
  static variable_list forward(AutogradContext *ctx, at::Tensor q, at::Tensor k, at::Tensor cos,
                               at::Tensor sin) {
    NoAutocast no_autocast;
    auto batch = q.size(0), time = q.size(1);
    // One row of cos/sin per token (the kernel sees the batch as one sequence).
    auto per_token = [&](const at::Tensor &t) {
      return t.narrow(0, 0, time).repeat({batch, 1}).to(q.scalar_type()).contiguous();
    };
    auto c = per_token(cos), s = per_token(sin);
    auto qr = q.clone(at::MemoryFormat::Contiguous), kr = k.clone(at::MemoryFormat::Contiguous);
    rotate(qr, kr, c, s, false);
    ctx->save_for_backward({c, s});
    return {qr, kr};
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    NoAutocast no_autocast;
    auto saved = ctx->get_saved_variables();
    auto dq = grads[0].clone(at::MemoryFormat::Contiguous);
    auto dk = grads[1].clone(at::MemoryFormat::Contiguous);
    rotate(dq, dk, saved[0], saved[1], true);
    return {dq, dk, at::Tensor(), at::Tensor()};
  }
};

// One chunk's cross-entropy step: each row's loss ÷ `tokens` into `loss`, and `logits` turned into
// the mean loss's gradient, (softmax − onehot) ÷ `tokens`, in place.
void cross_entropy_step(at::Tensor &logits, const at::Tensor &target, at::Tensor loss, int64_t tokens) {
  if (logits.is_cuda()) {
    launch(CROSS_ENTROPY, {logits.size(0), logits.size(1), tokens}, 0.0, {logits, target, loss});
    return;
  }
  auto l = logits.to(at::kFloat);
  auto lse = at::logsumexp(l, 1);
  loss.copy_((lse - l.gather(1, target.unsqueeze(1)).squeeze(1)) / double(tokens));
  auto grad = at::softmax(l, 1);
  grad.scatter_add_(1, target.unsqueeze(1), at::full({l.size(0), 1}, -1.0, l.options()));
  logits.copy_(grad / double(tokens));
}

struct LinearCrossEntropy : torch::autograd::Function<LinearCrossEntropy> {
  // The mean cross-entropy of `hidden` `[tokens, hidden]` · `weight`ᵀ against `target`, `chunk`
  // tokens at a time; the gradients are computed here, the backward only scales them.
  static at::Tensor forward(AutogradContext *ctx, at::Tensor hidden, at::Tensor weight,
                            at::Tensor target, int64_t chunk) {
    NoAutocast no_autocast;
    auto h = hidden.contiguous();
    auto w = weight.to(h.scalar_type()).contiguous();
    auto t = target.contiguous();
    auto tokens = h.size(0);
    auto grad_hidden = at::empty_like(h);
    auto grad_weight = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    auto loss = at::empty({tokens}, h.options().dtype(at::kFloat));
    for (int64_t start = 0; start < tokens; start += chunk) {
      auto rows = std::min(chunk, tokens - start);
      auto x = h.narrow(0, start, rows);
      auto logits = at::mm(x, w.t());
      cross_entropy_step(logits, t.narrow(0, start, rows), loss.narrow(0, start, rows), tokens);
      auto grad_rows = grad_hidden.narrow(0, start, rows);
      at::mm_out(grad_rows, logits, w);
      grad_weight.add_(at::mm(logits.t(), x).to(at::kFloat));
    }
    ctx->saved_data["grad_hidden"] = grad_hidden;
    ctx->saved_data["grad_weight"] = grad_weight.to(weight.scalar_type());
    return loss.sum();
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    NoAutocast no_autocast;
    auto g = grads[0].to(at::kFloat);
    auto gh = ctx->saved_data["grad_hidden"].toTensor();
    auto gw = ctx->saved_data["grad_weight"].toTensor();
    return {(gh * g).to(gh.scalar_type()), (gw * g).to(gw.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

extern "C" {

// Registers the CUDA launcher (null: none, CUDA steps fail with an error).
void lmeff_fused_set_launcher(Launcher l) { launcher = l; }

const char *lmeff_fused_swiglu(at::Tensor *gate, at::Tensor *up, at::Tensor **out) {
  return guarded([&] { *out = new at::Tensor(SwiGlu::apply(*gate, *up)); });
}

const char *lmeff_fused_add_rms_norm(at::Tensor *x, at::Tensor *residual, at::Tensor *weight,
                                     double eps, at::Tensor **out, at::Tensor **sum) {
  return guarded([&] {
    auto r = AddRmsNorm::apply(*x, *residual, *weight, eps);
    *out = new at::Tensor(r[0]);
    *sum = new at::Tensor(r[1]);
  });
}

const char *lmeff_fused_rope(at::Tensor *q, at::Tensor *k, at::Tensor *cos, at::Tensor *sin,
                             at::Tensor **q_out, at::Tensor **k_out) {
  return guarded([&] {
    auto r = Rope::apply(*q, *k, *cos, *sin);
    *q_out = new at::Tensor(r[0]);
    *k_out = new at::Tensor(r[1]);
  });
}

const char *lmeff_fused_linear_cross_entropy(at::Tensor *hidden, at::Tensor *weight,
                                             at::Tensor *target, int64_t chunk, at::Tensor **loss) {
  return guarded([&] {
    if (chunk < 1) throw std::runtime_error("linear cross-entropy: a chunk of no tokens");
    *loss = new at::Tensor(LinearCrossEntropy::apply(*hidden, *weight, *target, chunk));
  });
}
}
