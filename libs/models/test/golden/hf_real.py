#!/usr/bin/env python3
"""Tiny checkpoints and goldens of qwen3, gemma2 and phi3 from the REAL `transformers`.

Unlike hf_port.py (an independent port, written when transformers was not installable),
this script imports transformers and runs its own modeling classes. For every variant in
VARIANTS it writes, into OUT_DIR (default: libs/fixtures/data):

  tiny-models/<name>/config.json + model.safetensors
      written by `save_pretrained` (transformers 5 layout: `rope_parameters`, `layer_types`,
      `dtype`), from a config built here with seeded random weights scaled so activations
      stay O(1); F32, or BF16 where the variant says so (16-bit loading);
  golden/<name>/<seq>.safetensors
      input_ids [1, T] I64, hidden_states.{i} [1, T, d] F32 for i = 0..L in
      `output_hidden_states` order (L = after the final norm), logits [1, T, vocab] F32;
  golden/hf-real-index.json
      the sequences (hf_port.py's), and per model its files and summary values.

Goldens: the checkpoint is loaded back with `from_pretrained(dtype=torch.float64,
attn_implementation="eager")`, so they come from the stored (rounded) weights and from the
config.json as written. Everything runs in float64 except what transformers itself does
in float32 whatever the model dtype (RMSNorm internals, the attention softmax, rotary
tables): the goldens are f32-accurate, which is what the TypeScript tests need (their
tolerance is 2e-5 x (1 + |golden|)).

Each variant also checks that the feature it is there for changes the result (softcaps
that clip, windows shorter than the sequence, longrope's long factors): a fixture whose
feature is inert would let a missing implementation pass.

Usage: /opt/torchvenv/bin/python hf_real.py [OUT_DIR]   (needs transformers 5 and torch;
deterministic: one thread, seeded generators, sorted parameter names)
"""
import copy
import json
import math
import os
import sys

import torch
import transformers
from transformers import (
    Gemma2Config, Gemma2ForCausalLM, Phi3Config, Phi3ForCausalLM, Qwen3Config, Qwen3ForCausalLM,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # importing hf_port must not leave a __pycache__ in the repo
from hf_port import SEQUENCES, write_safetensors  # noqa: E402  (the same sequences and golden layout)

F32, F64 = torch.float32, torch.float64


# ---------------------------------------------------------------- random weights

def init_weights(model, seed, *, norm_mean, emb_std, head_std=0.5):
    """Overwrites every parameter (sorted by name, so the draw order is fixed) with seeded
    normals. Linear weights [out, in] get std gain / sqrt(in) (gain 1.5 on q/k/qkv so the
    attention is not uniform), biases 0.1, norm weights norm_mean + 0.2 noise (0 for
    Gemma's (1 + w) norms, 1 otherwise), embeddings emb_std, an untied head head_std."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(*p.shape, generator=g, dtype=F32)
            if name.endswith("norm.weight"):
                v = norm_mean + 0.2 * r
            elif name.endswith("embed_tokens.weight"):
                v = emb_std * r
            elif name == "lm_head.weight":
                v = head_std * r
            elif name.endswith(".bias"):
                v = 0.1 * r
            else:
                gain = 1.5 if any(s in name for s in ("q_proj", "k_proj", "qkv_proj")) else 1.0
                v = gain / math.sqrt(p.shape[1]) * r
            p.copy_(v)


# ---------------------------------------------------------------- variants

def qwen3_base():
    """GQA (4 heads, 2 kv), head_dim 24 != 64 / 4 (explicit, as Qwen3-0.6B), untied head,
    rope_theta 1e6, BF16 storage."""
    cfg = Qwen3Config(
        vocab_size=151, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=24, max_position_embeddings=64,
        rms_norm_eps=1e-6, tie_word_embeddings=False, rope_theta=1_000_000.0,
        bos_token_id=1, eos_token_id=2,
    )
    return Qwen3ForCausalLM, cfg, dict(norm_mean=1.0, emb_std=0.5), torch.bfloat16


def qwen3_window_tied():
    """MQA (one kv head), q/k/v/o biases, tied head, and the sliding window switched on
    (use_sliding_window) for the layers from max_window_layers 1 on, window 5."""
    cfg = Qwen3Config(
        vocab_size=137, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
        rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=True,
        use_sliding_window=True, sliding_window=5, max_window_layers=1,
        bos_token_id=1, eos_token_id=2,
    )
    return Qwen3ForCausalLM, cfg, dict(norm_mean=1.0, emb_std=0.5), F32


def gemma2_base():
    """Gemma 2 as released: sliding / full / sliding layers (window 5 < the sequences),
    attention and final logit soft-capping set low enough to clip, query_pre_attn_scalar
    24 (not head_dim 16), GQA, tied head."""
    cfg = Gemma2Config(
        vocab_size=149, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
        rms_norm_eps=1e-6, query_pre_attn_scalar=24, sliding_window=5,
        attn_logit_softcapping=2.0, final_logit_softcapping=8.0,
    )
    return Gemma2ForCausalLM, cfg, dict(norm_mean=0.0, emb_std=0.3), F32


def gemma2_nocap():
    """No soft-capping (both null), explicit layer_types full / sliding / full (window 4),
    MQA, head_dim 24, attention biases, untied head."""
    cfg = Gemma2Config(
        vocab_size=139, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=1, head_dim=24, max_position_embeddings=64,
        rms_norm_eps=1e-6, query_pre_attn_scalar=24, sliding_window=4, attention_bias=True,
        layer_types=["full_attention", "sliding_attention", "full_attention"],
        attn_logit_softcapping=None, final_logit_softcapping=None, tie_word_embeddings=False,
    )
    return Gemma2ForCausalLM, cfg, dict(norm_mean=0.0, emb_std=0.3), F32


def phi3_base():
    """Phi-3-mini's shape, small: fused qkv_proj and gate_up_proj, ordinary rope on whole
    heads, no scaling, no window, untied head."""
    cfg = Phi3Config(
        vocab_size=131, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
        original_max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    return Phi3ForCausalLM, cfg, dict(norm_mean=1.0, emb_std=0.5), F32


def phi3_longrope():
    """Phi-3-128k / Phi-4-mini features: GQA, partial rotary (0.5 of head_dim 16), longrope
    with original_max_position_embeddings 16 (seq7 uses short_factor, seq23 long_factor,
    attention factor sqrt(1 + ln 4 / ln 16) from max_position_embeddings 64), and a sliding
    window of 9 on every layer."""
    cfg = Phi3Config(
        vocab_size=133, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        original_max_position_embeddings=16, rms_norm_eps=1e-5, tie_word_embeddings=False,
        partial_rotary_factor=0.5, sliding_window=9,
        rope_scaling={"type": "longrope", "short_factor": [1.0, 1.25, 1.75, 2.5], "long_factor": [1.5, 3.0, 7.0, 19.0]},
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    return Phi3ForCausalLM, cfg, dict(norm_mean=1.0, emb_std=0.5), F32


# name, seed, variant, features that must change the result: config edits that each
# switch one off (a window as long as the context is no window)
VARIANTS = [
    ("tiny-qwen3", 201, qwen3_base, []),
    ("tiny-qwen3-window-tied", 202, qwen3_window_tied, [{"sliding_window": 64}]),
    ("tiny-gemma2", 203, gemma2_base, [{"attn_logit_softcapping": None}, {"sliding_window": 64}]),
    ("tiny-gemma2-nocap", 204, gemma2_nocap, [{"sliding_window": 64}]),
    ("tiny-phi3", 205, phi3_base, []),
    ("tiny-phi3-longrope", 206, phi3_longrope, [
        {"sliding_window": 64},
        {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}},
    ]),
]


# ---------------------------------------------------------------- driver

def run(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    return [h[0] for h in out.hidden_states], out.logits[0]


def feature_checks(name, cls, model, offs):
    """Each feature must move the logits of the longer sequence by > 1e-2 when switched off."""
    ids = SEQUENCES["seq23"]
    _, logits = run(model, ids)
    checks = {"switched_off": []}
    for off in offs:
        cfg = copy.deepcopy(model.config)
        for k, v in off.items():
            setattr(cfg, k, v)
        plain = cls._from_config(cfg, attn_implementation="eager", dtype=F64)
        plain.load_state_dict(model.state_dict())
        _, other = run(plain.eval(), ids)
        change = round(float((logits - other).abs().max()), 6)
        assert change > 1e-2, f"{name}: switching off {off} changes the logits by only {change}"
        checks["switched_off"].append({"edit": off, "logits_change": change})
    c = model.config
    if getattr(c, "final_logit_softcapping", None):
        # pre-cap logits beyond the cap: tanh is far from linear there
        raw = torch.atanh((logits / c.final_logit_softcapping).clamp(-1 + 1e-12, 1 - 1e-12)) * c.final_logit_softcapping
        checks["final_cap_ratio_max"] = round(float(raw.abs().max() / c.final_logit_softcapping), 6)
        assert checks["final_cap_ratio_max"] > 1.0, f"{name}: final_logit_softcapping {c.final_logit_softcapping} does not clip"
    if c.model_type == "phi3" and c.rope_parameters.get("rope_type") == "longrope":
        assert len(ids) > c.original_max_position_embeddings >= len(SEQUENCES["seq7"]), f"{name}: sequences do not straddle original_max_position_embeddings"
    return checks


def main(out):
    torch.set_num_threads(1)
    index = {
        "description": "Golden forward outputs of tiny qwen3 / gemma2 / phi3 checkpoints computed by the real "
                       "transformers (hf_real.py): the checkpoint loaded back in float64 with eager attention, "
                       "output_hidden_states (0 = embedding output, L = after the final norm) and logits "
                       "(after final soft-capping for gemma2), saved as F32. Batch 1, positions 0..T-1.",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "sequences": SEQUENCES,
        "models": {},
    }
    for name, seed, variant, offs in VARIANTS:
        cls, cfg, init, storage = variant()
        model = cls(cfg)
        init_weights(model, seed, **init)
        model = model.to(storage)
        model_dir = os.path.join(out, "tiny-models", name)
        os.makedirs(model_dir, exist_ok=True)
        model.save_pretrained(model_dir)
        gen = os.path.join(model_dir, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)  # not read by anything here; the other fixtures have none either

        # The goldens come from what was written: config.json as saved, weights as stored.
        loaded = cls.from_pretrained(model_dir, dtype=F64, attn_implementation="eager").eval()
        for (n, a), (m, b) in zip(sorted(model.state_dict().items()), sorted(loaded.state_dict().items())):
            assert n == m and torch.equal(a.to(F64), b), f"{name}: {n} changed in the round trip"
        checks = feature_checks(name, cls, loaded, offs)

        gdir = os.path.join(out, "golden", name)
        os.makedirs(gdir, exist_ok=True)
        files = {}
        L = loaded.config.num_hidden_layers
        for seq_name, ids in SEQUENCES.items():
            hs, logits = run(loaded, ids)
            assert len(hs) == L + 1
            tensors = {"input_ids": torch.tensor([ids], dtype=torch.int64), "logits": logits[None].to(F32)}
            for i, x in enumerate(hs):
                tensors[f"hidden_states.{i}"] = x[None].to(F32)
            rel = f"golden/{name}/{seq_name}.safetensors"
            write_safetensors(os.path.join(out, rel), tensors)
            files[seq_name] = {
                "path": rel,
                "logits_abs_max": round(float(logits.abs().max()), 6),
                "last_token_top5": [int(i) for i in torch.topk(logits[-1], 5).indices],
                "hidden_state_rms": [round(float(x.pow(2).mean().sqrt()), 6) for x in hs],
            }
        index["models"][name] = {
            "model_dir": f"tiny-models/{name}", "model_type": loaded.config.model_type,
            "num_hidden_layers": L, "storage_dtype": {F32: "F32", torch.bfloat16: "BF16"}[storage],
            "feature_checks": checks, "files": files,
        }
        print(f"{name}: {json.dumps(checks)}")
    with open(os.path.join(out, "golden", "hf-real-index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "fixtures", "data"))
