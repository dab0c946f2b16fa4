"""Liger-Kernel's Triton kernels for lmeff: checked under Triton's interpreter, every launch recorded,
and compiled ahead of time for sm_80 and sm_90 with the torch wheel's Triton (no GPU needed).

usage:
  liger.py check OUT.json [SHAPES]
      under TRITON_INTERPRET=1, on CPU tensors: the four fused ops lmeff uses (SwiGLU, residual add +
      RMSNorm, RoPE on q and k, fused linear + cross-entropy), forward and backward, against the ATen
      computation lmeff runs without them (bf16 tolerance); prints one line per op and writes every
      kernel launch Liger made (kernel, grid, num_warps, each argument: a tensor's role, dtype, shape
      and strides, or a scalar's value) to OUT.json. SHAPES: "small" (the check, default) or
      "presets" (widths of configs/models/*.yaml and vocabularies 1000..32000, two rows each: the
      specialisations `compile` needs).
  liger.py compile LAUNCHES.json OUT_DIR
      each distinct kernel specialisation of LAUNCHES.json compiled for sm_80 and sm_90 into
      OUT_DIR/sm_<cc>/<kernel>-<hash>.cubin, with OUT_DIR/manifest.json (name, parameters and their
      types, constexprs, num_warps, shared memory, cubin per target).
"""
import hashlib
import json
import os
import sys

# The interpreter is chosen when triton is imported.
if __name__ == "__main__" and sys.argv[1:2] == ["check"]:
    os.environ["TRITON_INTERPRET"] = "1"
import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def interpreted_rsqrt(x):
    """libdevice's rsqrt, which the interpreter lacks, as tl.math's (the same function)."""
    return tl.rsqrt(x)

LIGER_VERSION = "0.8.5"
TARGETS = (80, 90)


def to_triton_type(value):
    import torch
    kinds = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32", torch.int64: "i64",
             torch.int32: "i32", torch.bool: "i1"}
    if isinstance(value, dict) and "tensor" in value:
        return "*" + kinds[getattr(torch, value["dtype"])]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -2**31 <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise ValueError(f"no Triton type for {value!r}")


# --- recording ------------------------------------------------------------------------------------

class Recorder:
    """Wraps the interpreter's launch: records each kernel call, with tensors named by role."""

    def __init__(self):
        self.launches, self.roles, self.op, self.shape = [], {}, None, {}

    def begin(self, op):
        """A new op: earlier roles go (their memory may be reused by this op's buffers)."""
        self.op, self.roles = op, {}

    def name(self, tensor, role):
        self.roles[tensor.data_ptr()] = role
        return tensor

    def install(self):
        import torch
        from triton.runtime import interpreter
        recorder = self
        run = interpreter.InterpretedFunction.run

        def recorded(fn, *args, grid, warmup, **kwargs):
            names = fn.arg_names
            bound = dict(zip(names, args)) | kwargs
            params = {}
            for n in names:
                v = bound.get(n, inspect_default(fn, n))
                if isinstance(v, torch.Tensor):
                    params[n] = {"tensor": recorder.roles.get(v.data_ptr(), "scratch"),
                                 "dtype": str(v.dtype).removeprefix("torch."),
                                 "shape": list(v.shape), "stride": list(v.stride())}
                elif isinstance(v, tl.dtype):
                    params[n] = {"triton_dtype": v.name}
                else:
                    params[n] = v
            g = grid(bound) if callable(grid) else grid
            recorder.launches.append({"op": recorder.op, "shape": recorder.shape, "kernel": fn.fn.__name__, "module": fn.fn.__module__,
                                      "grid": list(g) + [1] * (3 - len(g)), "num_warps": kwargs.get("num_warps", 4),
                                      "order": names, "params": params})
            return run(fn, *args, grid=grid, warmup=warmup, **kwargs)

        interpreter.InterpretedFunction.run = recorded
        # Compiled kernels receive Python floats as fp32 scalars; the interpreter passes them raw,
        # which Liger's `x.to(tl.float32)` on a scalar argument cannot take.
        cvt = interpreter._implicit_cvt

        def implicit_cvt(arg):
            if isinstance(arg, float):
                import numpy as np
                return tl.tensor(interpreter.TensorHandle(np.array([arg], dtype=np.float32), tl.float32), tl.float32)
            return cvt(arg)

        interpreter._implicit_cvt = implicit_cvt
        from liger_kernel.ops import fused_add_rms_norm
        fused_add_rms_norm.rsqrt = interpreted_rsqrt
        # numpy 2.4 no longer takes int() of a one-element array, as the interpreter's
        # tensor.__index__ does (Liger's `range(row_start, row_end)`).
        patch_tensor = interpreter._patch_lang_tensor

        def patch_lang_tensor(tensor, scope):
            patch_tensor(tensor, scope)
            scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

        interpreter._patch_lang_tensor = patch_lang_tensor


def inspect_default(fn, name):
    import inspect
    p = inspect.signature(fn.fn).parameters[name]
    return None if p.default is inspect.Parameter.empty else p.default


# --- the ops and their ATen references ------------------------------------------------------------

def rms_norm_ref(s, w, eps):
    import torch
    x = s.float()
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).to(s.dtype) * w


def rope_ref(q, k, cos, sin):
    import torch

    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def leaves(*ts):
    return [t.detach().clone().requires_grad_() for t in ts]


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def check_ops(rec, shape, bf, ops):
    """Runs `ops` (of swiglu, add_rms_norm, rope, linear_cross_entropy) at `shape` in dtype `bf`;
    returns [(op, max forward diff, max grad diff, tolerance)]."""
    import torch
    import torch.nn.functional as F
    from liger_kernel.ops.fused_add_rms_norm import LigerFusedAddRMSNormFunction
    from liger_kernel.ops.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyFunction
    from liger_kernel.ops.rope import LigerRopeFunction
    from liger_kernel.ops.swiglu import LigerSiLUMulFunction
    g = torch.Generator().manual_seed(0)
    out = []
    rec.shape = shape
    rows, hidden, inter = shape["rows"], shape["hidden"], shape["intermediate"]
    heads, head_dim, vocab, seq = shape["heads"], shape["head_dim"], shape["vocab"], shape["seq"]

    if "swiglu" in ops:
        rec.begin("swiglu")
        a, b = (torch.randn(rows, inter, generator=g).to(bf) for _ in range(2))
        (a1, b1), (a2, b2) = leaves(a, b), leaves(a, b)
        for t, role in [(a1, "gate"), (b1, "up")]:
            rec.name(t, role)
        c1 = LigerSiLUMulFunction.apply(a1, b1)
        c2 = F.silu(a2.float()).to(bf) * b2
        dc = torch.randn(rows, inter, generator=g).to(bf)
        c1.backward(rec.name(dc.clone(), "grad_out"))
        c2.backward(dc)
        out.append(("swiglu", max_diff(c1, c2), max(max_diff(a1.grad, a2.grad), max_diff(b1.grad, b2.grad)), 0.01))

    if "add_rms_norm" in ops:
        rec.begin("add_rms_norm")
        x, r = (torch.randn(rows, hidden, generator=g).to(bf) for _ in range(2))
        w = (1 + 0.1 * torch.randn(hidden, generator=g)).to(bf)
        (x1, r1, w1), (x2, r2, w2) = leaves(x, r, w), leaves(x, r, w)
        for t, role in [(x1, "x"), (r1, "residual"), (w1, "weight")]:
            rec.name(t, role)
        y1, s1 = LigerFusedAddRMSNormFunction.apply(x1, r1, w1, 1e-6, 0.0, "llama", False)
        s2 = x2 + r2
        y2 = rms_norm_ref(s2, w2, 1e-6)
        dy = torch.randn(rows, hidden, generator=g).to(bf)
        (y1 * dy).float().sum().backward()
        (y2 * dy).float().sum().backward()
        fwd = max(max_diff(y1, y2), max_diff(s1, s2))
        grads = max(max_diff(x1.grad, x2.grad), max_diff(w1.grad, w2.grad) / max(1.0, w2.grad.abs().max().item()))
        out.append(("add_rms_norm", fwd, grads, 0.01))

    if "rope" in ops:
        rec.begin("rope")
        batch = max(1, rows // seq)
        q = torch.randn(batch, heads, seq, head_dim, generator=g).to(bf)
        k = torch.randn(batch, heads, seq, head_dim, generator=g).to(bf)
        inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        ang = torch.outer(torch.arange(seq).float(), inv)
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos()[None].to(bf), emb.sin()[None].to(bf)
        (q1, k1), (q2, k2) = leaves(q, k), leaves(q, k)
        for t, role in [(q1, "q"), (k1, "k"), (cos, "cos"), (sin, "sin")]:
            rec.name(t, role)
        oq1, ok1 = LigerRopeFunction.apply(q1, k1, cos, sin)
        oq2, ok2 = rope_ref(q2, k2, cos, sin)
        dq, dk = torch.randn_like(q, dtype=torch.float32).to(bf), torch.randn_like(k, dtype=torch.float32).to(bf)
        ((oq1 * dq).float().sum() + (ok1 * dk).float().sum()).backward()
        ((oq2 * dq).float().sum() + (ok2 * dk).float().sum()).backward()
        out.append(("rope", max(max_diff(oq1, oq2), max_diff(ok1, ok2)),
                    max(max_diff(q1.grad, q2.grad), max_diff(k1.grad, k2.grad)), 0.01))

    if "linear_cross_entropy" in ops:
        rec.begin("linear_cross_entropy")
        h = torch.randn(rows, hidden, generator=g).to(bf)
        wv = (0.02 * torch.randn(vocab, hidden, generator=g)).to(bf)
        target = torch.randint(0, vocab, (rows,), generator=g)
        (h1, w1), (h2, w2) = leaves(h, wv), leaves(h, wv)
        for t, role in [(h1, "hidden"), (w1, "lm_head"), (target, "target")]:
            rec.name(t, role)
        l1 = LigerFusedLinearCrossEntropyFunction.apply(h1, w1, target)[0]
        l2 = F.cross_entropy((h2 @ w2.T).float(), target)
        l1.backward()
        l2.backward()
        rel = max(max_diff(h1.grad, h2.grad) / h2.grad.abs().max().item(),
                  max_diff(w1.grad, w2.grad) / w2.grad.abs().max().item())
        out.append(("linear_cross_entropy", abs(l1.item() - l2.item()) / abs(l2.item()), rel, 0.01))
    return out


def preset_shapes():
    """(name, hidden, intermediate, heads) of configs/models/*.yaml (the few keys, read by hand)."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "models")
    shapes = []
    for f in sorted(os.listdir(root)):
        if f.endswith(".yaml"):
            keys = {}
            for line in open(os.path.join(root, f)):
                k, _, v = line.strip().partition(":")
                if k in ("hidden_size", "intermediate_size", "num_attention_heads"):
                    keys[k] = int(v)
            shapes.append((f[:-5], keys["hidden_size"], keys["intermediate_size"], keys["num_attention_heads"]))
    return shapes


def check(out_path, which="small"):
    assert os.environ.get("TRITON_INTERPRET") == "1", "run as `liger.py check`"
    rec = Recorder()
    rec.install()
    import torch
    failed = []
    # The interpreter computes in numpy, which has no bf16 (it would do bf16 arithmetic on the raw
    # bits): the check runs the kernels in fp32 and holds them to bf16's tolerance; the presets'
    # launches, recorded for compilation only, are bf16 as training runs them.
    all_ops = ("swiglu", "add_rms_norm", "rope", "linear_cross_entropy")
    shape = lambda rows, h, i, n, v, seq: {"rows": rows, "hidden": h, "intermediate": i, "heads": n,
                                           "head_dim": h // n, "vocab": v, "seq": seq}
    if which == "small":
        cases = [("small", shape(8, 64, 128, 4, 300, 4), all_ops)]
        dtype, judged = torch.float32, True
    else:
        # Only what decides a specialisation varies: the widths per preset, the vocabulary for
        # the cross-entropy. RMSNorm runs 64 rows, which its backward, on one "multiprocessor"
        # here, takes as the 64 rows per program lmeff launches it with (RMS_NORM_ROWS_PER_PROGRAM);
        # RoPE a batch of one sequence, as lmeff launches it for any batch (rope_tokens).
        cases = []
        for name, h, i, n in preset_shapes():
            cases.append((name, shape(2, h, i, n, 1000, 2), ("swiglu", "rope")))
            cases.append((name, shape(64, h, i, n, 1000, 64), ("add_rms_norm",)))
            for v in (1000, 8000, 16000, 32000):
                cases.append((name, shape(2, h, i, n, v, 2), ("linear_cross_entropy",)))
        dtype, judged = torch.bfloat16, False
        # numpy doing bf16 arithmetic on raw bits overflows; those numbers are not looked at.
        import warnings
        warnings.simplefilter("ignore")
    for name, case, ops in cases:
        for op, fwd, grad, tol in check_ops(rec, case, dtype, ops):
            if not judged:
                continue
            ok = fwd <= tol and grad <= tol
            print(f"{name:6} {op:22} forward {fwd:.2e} backward {grad:.2e} (tolerance {tol}) {'ok' if ok else 'FAILED'}")
            if not ok:
                failed.append(op)
    with open(out_path, "w") as f:
        json.dump({"liger_kernel": LIGER_VERSION, "launches": rec.launches}, f, indent=1)
    if failed:
        sys.exit(f"outside tolerance: {', '.join(failed)}")


# --- ahead-of-time compilation --------------------------------------------------------------------

def specialisation(launch):
    """The compile key of a recorded launch: its parameter types and constexpr values."""
    import importlib
    module = importlib.import_module(launch["module"])
    fn = getattr(module, launch["kernel"])
    constexprs = {n for n, p in fn.params_by_name.items() if p.is_constexpr} if hasattr(fn, "params_by_name") \
        else {p.name for p in fn.params if p.is_constexpr}
    signature, values = {}, {}
    for n, v in launch["params"].items():
        if n in constexprs or v is None:
            signature[n], values[n] = "constexpr", v
        else:
            signature[n] = to_triton_type(v)
    return fn, signature, values


def compile_values(values):
    """Constexpr values as Triton takes them (a recorded Triton dtype back to one)."""
    return {n: tl.dtype(v["triton_dtype"]) if isinstance(v, dict) else v for n, v in values.items()}


def compile_all(launches_path, out_dir):
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    launches = json.load(open(launches_path))["launches"]
    manifest, seen = {"liger_kernel": LIGER_VERSION, "triton": triton.__version__, "kernels": []}, set()
    for launch in launches:
        fn, signature, constexprs = specialisation(launch)
        key = json.dumps([launch["kernel"], signature, constexprs, launch["num_warps"]], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        entry = {"op": launch["op"], "kernel": launch["kernel"], "id": f"{launch['kernel']}-{digest}",
                 "params": [{"name": n, "type": t} for n, t in signature.items()],
                 "constexprs": constexprs, "num_warps": launch["num_warps"], "targets": {}}
        for cc in TARGETS:
            k = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=compile_values(constexprs)),
                               target=GPUTarget("cuda", cc, 32), options={"num_warps": launch["num_warps"]})
            path = os.path.join(f"sm_{cc}", entry["id"] + ".cubin")
            os.makedirs(os.path.join(out_dir, f"sm_{cc}"), exist_ok=True)
            with open(os.path.join(out_dir, path), "wb") as f:
                f.write(k.asm["cubin"])
            # Triton's launcher passes two more pointers, global and profile scratch (null when 0):
            # the PTX entry's parameter count says how many the kernel takes in all.
            ptx = k.asm["ptx"]
            head = ptx[ptx.index(".entry"):]
            n_params = head[:head.index(")")].count(".param ")
            entry["targets"][f"sm_{cc}"] = {"cubin": path, "function": k.metadata.name, "shared": k.metadata.shared,
                                            "kernel_params": n_params,
                                            "num_warps": k.metadata.num_warps,
                                            "global_scratch_size": k.metadata.global_scratch_size,
                                            "profile_scratch_size": getattr(k.metadata, "profile_scratch_size", 0)}
        manifest["kernels"].append(entry)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest['kernels'])} kernels x {len(TARGETS)} targets into {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "small")
    elif len(sys.argv) == 4 and sys.argv[1] == "compile":
        compile_all(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
