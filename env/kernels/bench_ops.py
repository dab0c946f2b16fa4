"""Liger-Kernel's fused ops against the ATen computation lmeff runs today, on one CUDA device:
forward + backward time of each at a preset's training shape, bf16. One JSON line per op.

usage: bench_ops.py SIZE HIDDEN INTERMEDIATE HEADS VOCAB TOKENS
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from liger_kernel.ops.fused_add_rms_norm import LigerFusedAddRMSNormFunction
from liger_kernel.ops.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyFunction
from liger_kernel.ops.rope import LigerRopeFunction
from liger_kernel.ops.swiglu import LigerSiLUMulFunction


def timed(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e3, torch.cuda.max_memory_allocated() / 2**30


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def main(size, hidden, inter, heads, vocab, tokens):
    dev, bf = "cuda", torch.bfloat16
    seq = 256
    batch = tokens // seq
    hd = hidden // heads
    r = lambda *s: torch.randn(*s, device=dev, dtype=bf, requires_grad=True)
    a, b = r(tokens, inter), r(tokens, inter)
    x, res, w = r(tokens, hidden), r(tokens, hidden), r(hidden)
    q, k = r(batch, heads, seq, hd), r(batch, heads, seq, hd)
    ang = torch.outer(torch.arange(seq, device=dev).float(), 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=dev).float() / hd)))
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos()[None].to(bf), emb.sin()[None].to(bf)
    h, lm = r(tokens, hidden), (0.02 * torch.randn(vocab, hidden, device=dev, dtype=bf)).requires_grad_()
    target = torch.randint(0, vocab, (tokens,), device=dev)

    def rms(s):
        v = s.float()
        return (v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + 1e-6)).to(bf) * w

    ops = {
        "swiglu": (lambda: LigerSiLUMulFunction.apply(a, b).sum().backward(),
                   lambda: (F.silu(a.float()).to(bf) * b).sum().backward()),
        "add_rms_norm": (lambda: sum(t.float().sum() for t in LigerFusedAddRMSNormFunction.apply(x, res, w, 1e-6, 0.0, "llama", False)).backward(),
                         lambda: (lambda s: (rms(s).float().sum() + s.float().sum()))(x + res).backward()),
        "rope": (lambda: sum(t.float().sum() for t in LigerRopeFunction.apply(q, k, cos, sin)).backward(),
                 lambda: ((q * cos[:, None] + rotate_half(q) * sin[:, None]).float().sum()
                          + (k * cos[:, None] + rotate_half(k) * sin[:, None]).float().sum()).backward()),
        "linear_cross_entropy": (lambda: LigerFusedLinearCrossEntropyFunction.apply(h, lm, target)[0].backward(),
                                 lambda: F.cross_entropy((h @ lm.T).float(), target).backward()),
    }
    for name, (fused, aten) in ops.items():
        fused_ms, fused_gib = timed(fused)
        aten_ms, aten_gib = timed(aten)
        print(json.dumps({"bench": "fused_op", "size": size, "op": name, "tokens": tokens, "vocab": vocab,
                          "fused_ms": round(fused_ms, 3), "aten_ms": round(aten_ms, 3),
                          "speedup": round(aten_ms / fused_ms, 2), "fused_peak_gib": round(fused_gib, 2),
                          "aten_peak_gib": round(aten_gib, 2)}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(sys.argv[1], *map(int, sys.argv[2:]))
