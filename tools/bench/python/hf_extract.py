#!/usr/bin/env python3
"""transformers baseline of the scale bench (tools/bench, `npm run bench:scale`).

Runs in the venv with the real `transformers` + torch (/opt/torchvenv by default), as a
user who wants every hidden state of a Hugging Face checkpoint would:

    model = AutoModelForCausalLM.from_pretrained(dir, dtype=torch.float32)
    out = model(ids, output_hidden_states=True)

(`dtype` is transformers 5's name for the deprecated `torch_dtype`; 5.x otherwise loads in
the checkpoint's dtype, BF16 here.)

Modes:
  hf_extract.py MODEL_DIR --ids IDS.json --out FILE.safetensors [--dtype float32|bfloat16] [--threads N]
      cold start: import, load, one forward of the ids (batch 1), write hidden_states.{i}
      [T, d] F32 (i = 0..L, L after the final norm, as output_hidden_states gives them) and
      logits [T, vocab] F32 with safetensors.torch.save_file (the same names as
      `tuned-lens extract`). Prints one line `@@phases {...}` with the seconds of each step.
  hf_extract.py MODEL_DIR --ids-file IDS.i32 --batch B --seq T --serve [--dtype ...] [--threads N] [--warmup N]
      throughput, paired with our engine (tools/bench/src/paired.ts protocol): load, warm
      up, print `@@ready {...}`, one timed forward per `run` line on stdin (`@@result
      {"seconds"}`), `@@done {...}` on `finish`. The forward is the base model
      (`model.model`, no LM head: our side computes no logits either) with
      output_hidden_states=True, use_cache=False, under torch.inference_mode().

  hf_extract.py --gemm-probe [--threads N]
      context: FP32 GEMM GFLOP/s of torch.nn.functional.linear at [1024, 2048] x [2048, 5632]
      (the 1.1B MLP shape), `@@gemm {...}`. Run with MKL_VERBOSE=1 the first stdout line
      names the MKL code path (on AMD CPUs oneMKL takes its generic path).

Threads: the bench sets OMP_NUM_THREADS / MKL_NUM_THREADS before starting; --threads also
calls torch.set_num_threads.
"""
import time

T_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402

from bench_child import emit, serve  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("--gemm-probe", action="store_true")
    ap.add_argument("--ids", help="JSON array of token ids (cold mode)")
    ap.add_argument("--out", help="output safetensors file (cold mode)")
    ap.add_argument("--ids-file", help="raw little-endian int32 [batch, seq] ids (serve mode)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=0)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()

    if a.gemm_probe:
        gemm_probe(a.threads)
        return

    t0 = time.time()
    import torch
    from transformers import AutoModelForCausalLM
    phases = {"import": time.time() - t0}
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "float32" else torch.bfloat16

    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=dtype)
    model.eval()
    phases["load"] = time.time() - t0
    info = {
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "threads": torch.get_num_threads(), "dtype": a.dtype,
        "param_dtype": str(next(model.parameters()).dtype),
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
    }

    if a.serve:
        serve_forwards(a, model, torch, phases, info)
        return

    with open(a.ids) as f:
        ids = json.load(f)
    x = torch.tensor([ids], dtype=torch.long)
    t0 = time.time()
    with torch.inference_mode():
        out = model(input_ids=x, output_hidden_states=True, use_cache=False)
    phases["forward"] = time.time() - t0
    t0 = time.time()
    tensors = {f"hidden_states.{i}": h[0].float().contiguous() for i, h in enumerate(out.hidden_states)}
    tensors["logits"] = out.logits[0].float().contiguous()
    try:
        from safetensors.torch import save_file
        save_file(tensors, a.out, metadata={"model": a.model_dir, "engine": f"transformers {info['transformers']} ({a.dtype})"})
        info["writer"] = "safetensors.torch.save_file"
    except ImportError:
        torch.save(tensors, a.out)
        info["writer"] = "torch.save"
    phases["write"] = time.time() - t0
    phases["script_total"] = time.time() - T_START
    emit("phases", {**phases, **info, "hidden_states": len(out.hidden_states)})


def serve_forwards(a, model, torch, phases, info):
    import numpy as np
    ids = np.fromfile(a.ids_file, dtype="<i4")
    if ids.size != a.batch * a.seq:
        raise SystemExit(f"{a.ids_file}: {ids.size} ids, expected {a.batch} x {a.seq}")
    x = torch.from_numpy(ids.astype(np.int64).reshape(a.batch, a.seq))
    base = model.model

    def forward():
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = base(input_ids=x, output_hidden_states=True, use_cache=False)
        hs = out.hidden_states
        dt = time.perf_counter() - t0
        return dt, len(hs)

    count = 0
    for _ in range(a.warmup):
        _, count = forward()
    times = []

    def timed_forward():
        nonlocal count
        dt, count = forward()
        times.append(dt)
        return dt

    serve({"load_seconds": phases["load"], **info}, timed_forward)
    tokens = a.batch * a.seq
    med = statistics.median(times) if times else float("nan")
    emit("done", {**info, "load_seconds": phases["load"], "times": times, "median_seconds": med,
                  "tokens": tokens, "tokens_per_second": tokens / med if times else None, "hidden_states": count})


def gemm_probe(threads):
    import torch
    if threads > 0:
        torch.set_num_threads(threads)
    m, k, n = 1024, 2048, 5632
    x, w = torch.randn(m, k), torch.randn(n, k)
    lin = torch.nn.functional.linear
    for _ in range(2):
        lin(x, w)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        lin(x, w)
        times.append(time.perf_counter() - t0)
    best = statistics.median(times)
    emit("gemm", {"shape": [m, k, n], "median_seconds": best, "gflops": 2 * m * k * n / best / 1e9,
                  "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "capability": torch.backends.cpu.get_cpu_capability()})


if __name__ == "__main__":
    main()
