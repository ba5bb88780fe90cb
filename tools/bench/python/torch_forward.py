#!/usr/bin/env python3
"""PyTorch baseline of the extraction benchmark (tools/bench).

A GPT-2 forward pass written directly in PyTorch, so the baseline needs only Debian's
python3-torch (1.13) and numpy, not `transformers`: this machine has no network beyond
the package registries. It mirrors HF `GPT2Model` in eager mode, operation for operation:

- embeddings: wte[ids] + wpe[positions]
- per block (pre-LN): LayerNorm -> Conv1D c_attn (torch.addmm on [in, out] weights, as
  HF's Conv1D does) -> split q|k|v -> heads -> q.kᵀ / sqrt(d_head) -> causal mask ->
  softmax -> .v -> merge heads -> c_proj; residual; LayerNorm -> c_fc -> gelu (tanh
  approximation, `gelu_new`) -> c_proj; residual
- hidden states as `output_hidden_states=True` returns them: index 0 the embeddings,
  i the output of block i-1, and the last one AFTER the final LayerNorm. No logits: the
  extraction service does not need them either.

Weights come from the very same model.safetensors our loader reads, parsed here with
json + numpy.frombuffer (F16/BF16 widened to f32), so both sides run identical numbers.

Modes:
  torch_forward.py MODEL_DIR --ids FILE --batch B --seq T [--threads N] [--repeats N]
                   [--warmup N] [--dump-last FILE] [--dump-all DIR]
      runs the forward, prints one JSON object (timings, versions, BLAS in use)
  torch_forward.py MODEL_DIR --ids FILE --batch B --seq T --serve [...]
      the same, but one timed forward per "run" line on stdin (paired with our engine)
  torch_forward.py --parse-report FILE.safetensors
      prints {name: {dtype, shape, sha256 of the f32 values}} (the parsing test)
  torch_forward.py --gemm-probe [--threads N]
      prints the FP32 GEMM GFLOP/s and the OpenBLAS kernel family in use (the bench runs
      it once per OPENBLAS_CORETYPE candidate and keeps the fastest)

Threads: set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in the environment BEFORE starting
(the bench does); --threads also calls torch.set_num_threads.
"""
import argparse
import hashlib
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np

from bench_child import loaded_blas, openblas_corename, print_summary, serve, torch_info

_NP_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
              "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}


def read_safetensors(path):
    """Parses a safetensors file: {name: (dtype, shape, float32 ndarray)}.

    Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
    data_offsets: [begin, end]}} (offsets relative to the end of the header), then the
    data. The file is read into a bytearray so the f32 views are writable (torch.from_numpy
    then shares memory instead of warning or copying); F16 is widened with astype, BF16 by
    shifting its 16 bits into the top of a u32.
    """
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = entry["dtype"], [int(s) for s in entry["shape"]]
        begin, end = entry["data_offsets"]
        if dtype not in _NP_DTYPES:
            raise ValueError(f"{path}: tensor {name}: dtype {dtype} is not supported")
        npd = _NP_DTYPES[dtype]
        count = (end - begin) // npd.itemsize
        expected = int(np.prod(shape)) if shape else 1
        if count != expected:
            raise ValueError(f"{path}: tensor {name}: {end - begin} bytes for shape {shape} {dtype}")
        offset = base + begin
        if dtype == "F32" and offset % 4 != 0:
            raw = np.frombuffer(bytes(buf[offset:offset + end - begin]), dtype=npd).copy()
        else:
            raw = np.frombuffer(buf, dtype=npd, count=count, offset=offset)
        if dtype == "F32":
            arr = raw
        elif dtype == "BF16":
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.astype(np.float32)
        out[name] = (dtype, shape, arr.reshape(shape))
    return out


def parse_report(path):
    """What the parsing test compares against our TypeScript reader."""
    report = {}
    for name, (dtype, shape, arr) in read_safetensors(path).items():
        f32 = np.ascontiguousarray(arr, dtype=np.float32)
        report[name] = {"dtype": dtype, "shape": shape, "sha256": hashlib.sha256(f32.tobytes()).hexdigest()}
    return report


def gemm_probe(threads):
    """FP32 GEMM speed of this torch + BLAS (2048x768 . 768x3072, the MLP shape of the
    benchmark), so the bench can pick OPENBLAS_CORETYPE by measurement."""
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 768), torch.randn(768, 3072)
    c = torch.empty(2048, 3072)
    torch.mm(a, b, out=c)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return {"corename": openblas_corename(), "gflops": 2 * 2048 * 768 * 3072 / min(times) / 1e9,
            "coretype_env": os.environ.get("OPENBLAS_CORETYPE"), "blas": loaded_blas()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("--parse-report")
    ap.add_argument("--gemm-probe", action="store_true", help="print the FP32 GEMM speed and OpenBLAS kernel family")
    ap.add_argument("--ids", help="raw little-endian int32 token ids, [batch, seq] row-major")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seq", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dump-last", help="write the last hidden state (f32 raw) here")
    ap.add_argument("--dump-all", help="write hidden_states.{i}.f32 files into this folder")
    ap.add_argument("--serve", action="store_true",
                    help="after the warm-up, print '@@ready', then run one timed forward per 'run' line on stdin "
                         "(answering '@@result {seconds}') until 'finish'; then print the summary as '@@done {json}'")
    args = ap.parse_args()

    if args.parse_report:
        json.dump(parse_report(args.parse_report), sys.stdout)
        print()
        return

    if args.gemm_probe:
        json.dump(gemm_probe(args.threads), sys.stdout)
        print()
        return

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    t_load = time.perf_counter()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "gpt2":
        raise SystemExit(f"only model_type gpt2 is implemented, got {cfg.get('model_type')}")
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        raise SystemExit(f"activation {act} not implemented (tanh-approximated GELU only)")
    L, D, H = cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
    Dh = D // H
    eps = float(cfg.get("layer_norm_epsilon", 1e-5))
    n_ctx = cfg["n_positions"]

    tensors = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    prefix = "transformer." if "transformer.wte.weight" in tensors else ""
    W = {name[len(prefix):] if name.startswith(prefix) else name: torch.from_numpy(arr) for name, (_, _, arr) in tensors.items()}
    load_seconds = time.perf_counter() - t_load

    B, T = args.batch, args.seq
    ids_np = np.fromfile(args.ids, dtype="<i4")
    if ids_np.size != B * T:
        raise SystemExit(f"{args.ids}: {ids_np.size} ids, need {B}x{T}")
    ids = torch.from_numpy(ids_np.astype(np.int64)).view(B, T)
    positions = torch.arange(T)
    # HF's causal mask: a lower-triangular bool buffer; masked scores get finfo.min.
    causal = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))[:T, :T]
    mask_value = torch.tensor(torch.finfo(torch.float32).min)
    blocks = [{k: W[f"h.{i}.{k}"] for k in (
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
        "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")} for i in range(L)]
    scale = 1.0 / math.sqrt(Dh)

    def conv1d(x, w, b):
        # HF Conv1D: x @ w + b with w stored [in, out], as one addmm over all tokens.
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[1])

    def heads(x):
        return x.view(B, T, H, Dh).permute(0, 2, 1, 3)

    def forward():
        h = W["wte.weight"][ids] + W["wpe.weight"][positions]
        hidden = [h]
        for i, p in enumerate(blocks):
            x = F.layer_norm(h, (D,), p["ln_1.weight"], p["ln_1.bias"], eps)
            q, k, v = conv1d(x, p["attn.c_attn.weight"], p["attn.c_attn.bias"]).split(D, dim=2)
            q, k, v = heads(q), heads(k), heads(v)
            scores = torch.matmul(q, k.transpose(-1, -2)) * scale
            scores = torch.where(causal, scores, mask_value)
            a = torch.matmul(torch.softmax(scores, dim=-1), v)
            a = a.permute(0, 2, 1, 3).reshape(B, T, D)
            h = h + conv1d(a, p["attn.c_proj.weight"], p["attn.c_proj.bias"])
            m = F.layer_norm(h, (D,), p["ln_2.weight"], p["ln_2.bias"], eps)
            m = F.gelu(conv1d(m, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"]), approximate="tanh")
            h = h + conv1d(m, p["mlp.c_proj.weight"], p["mlp.c_proj.bias"])
            if i < L - 1:
                hidden.append(h)
        hidden.append(F.layer_norm(h, (D,), W["ln_f.weight"], W["ln_f.bias"], eps))
        return hidden

    times = []
    hidden = None

    def timed():
        nonlocal hidden
        hidden = None  # drop the previous outputs first, as a caller consuming them would
        t0 = time.perf_counter()
        hidden = forward()
        times.append(time.perf_counter() - t0)
        return times[-1]

    with torch.inference_mode():
        for _ in range(args.warmup):
            hidden = forward()
        if args.serve:
            # Paired mode: the bench alternates single forwards of this process and of our
            # engine, so both see the same machine load (see tools/bench/src/paired.ts).
            serve({"load_seconds": load_seconds}, timed)
        else:
            for _ in range(args.repeats):
                timed()

    if args.dump_last:
        hidden[-1].contiguous().numpy().astype("<f4").tofile(args.dump_last)
    if args.dump_all:
        os.makedirs(args.dump_all, exist_ok=True)
        for i, hs in enumerate(hidden):
            hs.contiguous().numpy().astype("<f4").tofile(os.path.join(args.dump_all, f"hidden_states.{i}.f32"))

    median = statistics.median(times) if times else float("nan")
    summary = {
        **torch_info(torch),
        "load_seconds": load_seconds,
        "times": times,
        "median_seconds": median,
        "tokens": B * T,
        "tokens_per_second": (B * T) / median if times else None,
        "hidden_states": len(hidden) if hidden is not None else 0,
        "hidden_shape": list(hidden[-1].shape) if hidden is not None else None,
    }
    print_summary(summary, served=args.serve)


if __name__ == "__main__":
    main()
