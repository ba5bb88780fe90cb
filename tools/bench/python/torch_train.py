#!/usr/bin/env python3
"""PyTorch baseline of the lens-training benchmark (tools/bench, `npm run bench:train`).

The tuned-lens training recipe, written the way the original package writes it (nn.Linear
translators, autograd, one backward per layer, torch.optim), on hidden states handed over
in a safetensors file, so both sides train on the very same numbers:

  for each micro-batch (here: the same one every step):
      logp = log_softmax(h_L W_U^T + b_U)        (no grad; h_L is already final-normed)
      p = exp(logp)                               (once per micro-batch)
      for each layer l:
          z = h_l + translator_l(h_l)             (nn.Linear(d, d), zero-initialised)
          logq = log_softmax(final_norm(z) W_U^T + b_U)
          loss_l = mean_n sum_v p (logp - logq)
          loss_l.backward()                       (one backward per layer, as the original)
  clip_grad_norm_(all translator params, 1.0)
  SGD(lr 0.1, momentum 0.9, nesterov, weight_decay 1e-3).step(); zero_grad()
  LambdaLR: lr multiplier max(0, (S - k) / S) for step k (libs/lens schedule.ts, no warmup)

Input file (written by tools/bench/src/train/data.ts): F32 tensors hidden_states.0..L
[N, d], final_norm.weight [d], final_norm.bias [d] (LayerNorm), lm_head.weight [V, d],
lm_head.bias [V] (optional); __metadata__ {norm, eps, num_layers, batch, seq}. Parsed with
json + numpy (torch_forward.read_safetensors).

Modes:
  torch_train.py DATA --verify-steps K [--num-steps S] [--threads N] [--dump-weights FILE]
      runs K steps from zero init (printing one JSON object: per-step losses, grad norms,
      step seconds); --dump-weights writes every translator as raw little-endian f32,
      layer by layer, weight [d, d] (out x in) then bias [d]
  torch_train.py DATA --verify-steps K --profile N
      also profiles N steps (torch.profiler, op table on stderr)
  torch_train.py DATA --verify-steps K --serve [...]
      the same K steps as the warm-up (weights dumped after them), then '@@ready {json}',
      one timed step per 'run' line on stdin ('@@result {"seconds": s}') until 'finish',
      then '@@done {json}' (the protocol of tools/bench/src/paired.ts)

Threads: set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS before starting (the bench does);
--threads also calls torch.set_num_threads.
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_child import print_summary, serve, torch_info  # noqa: E402
from torch_forward import read_safetensors  # noqa: E402


def read_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    return header.get("__metadata__", {})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--verify-steps", type=int, default=2, help="steps from zero init before --dump-weights / @@ready")
    ap.add_argument("--num-steps", type=int, default=1000, help="length of the linear LR decay (the schedule's S)")
    ap.add_argument("--dump-weights", help="write the translators (raw f32) here after the verify steps")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="after the verify steps, profile N steps with torch.profiler and print the op table to stderr")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    t_load = time.perf_counter()
    meta = read_metadata(args.data)
    T = {name: torch.from_numpy(arr) for name, (_, _, arr) in read_safetensors(args.data).items()}
    L = int(meta["num_layers"])
    norm, eps = meta["norm"], float(meta["eps"])
    hs = [T[f"hidden_states.{i}"] for i in range(L + 1)]
    N, D = hs[0].shape
    W_U = T["lm_head.weight"]
    V = W_U.shape[0]
    b_U = T.get("lm_head.bias")
    norm_w, norm_b = T["final_norm.weight"], T.get("final_norm.bias")
    load_seconds = time.perf_counter() - t_load

    def final_norm(x):
        if norm == "layer_norm":
            return F.layer_norm(x, (D,), norm_w, norm_b, eps)
        w = norm_w + 1 if norm == "rms_norm_plus_one" else norm_w
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    translators = torch.nn.ModuleList([torch.nn.Linear(D, D) for _ in range(L)])
    for t in translators:
        torch.nn.init.zeros_(t.weight)
        torch.nn.init.zeros_(t.bias)
    params = list(translators.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    S = args.num_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, (S - k) / S))

    def train_step():
        with torch.no_grad():
            logp = F.log_softmax(F.linear(hs[L], W_U, b_U), dim=-1)
            p = logp.exp()
        losses = []
        for l in range(L):
            h = hs[l]
            z = h + translators[l](h)
            logq = F.log_softmax(F.linear(final_norm(z), W_U, b_U), dim=-1)
            loss = torch.sum(p * (logp - logq), dim=-1).mean()
            loss.backward()
            losses.append(loss.item())
        grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        sched.step()
        return losses, float(grad_norm)

    verify = []
    for _ in range(args.verify_steps):
        t0 = time.perf_counter()
        losses, gn = train_step()
        verify.append({"losses": losses, "grad_norm": gn, "seconds": time.perf_counter() - t0})

    if args.dump_weights:
        with open(args.dump_weights, "wb") as f:
            with torch.no_grad():
                for t in translators:
                    f.write(t.weight.detach().contiguous().numpy().astype("<f4").tobytes())
                    f.write(t.bias.detach().contiguous().numpy().astype("<f4").tobytes())

    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.profile):
                train_step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)

    times = []

    def timed():
        t0 = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - t0)
        return times[-1]

    if args.serve:
        serve({"load_seconds": load_seconds, "verify": verify}, timed)

    median = statistics.median(times) if times else None
    summary = {
        **torch_info(torch),
        "load_seconds": load_seconds,
        "shape": {"layers": L, "tokens": int(N), "d_model": int(D), "vocab": int(V), "norm": norm},
        "verify": verify,
        "times": times,
        "median_seconds": median,
        "tokens": int(N),
        "tokens_per_second": int(N) / median if times else None,
    }
    print_summary(summary, served=args.serve)


if __name__ == "__main__":
    main()
