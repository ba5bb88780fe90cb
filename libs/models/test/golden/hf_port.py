#!/usr/bin/env python3
"""Independent PyTorch port of the forward passes of several Hugging Face model families.

Writes, into OUT_DIR (default: libs/fixtures/data), for every variant in VARIANTS:
  tiny-models/<name>/config.json + model.safetensors   a random checkpoint in real HF
      format (the config field names and tensor names `transformers` uses), F32;
  golden/<name>/<seq>.safetensors   input_ids [1, T] I64, hidden_states.{i} [1, T, d] F32
      for i = 0..L in `output_hidden_states` order, logits [1, T, vocab] F32;
  golden/ported-index.json   the sequences, and per model its files and summary values.

The forward passes follow the semantics of the `transformers` modeling code (read, not
imported: transformers is not installable here) and run in float64 from the stored f32
weights. Constants that HF computes in the model dtype (rotary tables, ALiBi slopes,
Gemma's sqrt(d) embedding scale) are computed in float32 as HF does, then widened.

Usage: /usr/bin/python3 hf_port.py [OUT_DIR]   (needs only torch; deterministic)
"""
import json
import math
import os
import struct
import sys

import torch

F64 = torch.float64
F32 = torch.float32

# Token sequences shared by every variant (all ids < the smallest vocabulary, 128).
SEQUENCES = {
    "seq7": [3, 17, 101, 42, 7, 99, 64],
    "seq23": [5, 88, 12, 127, 0, 45, 45, 73, 19, 2, 110, 61, 33, 8, 97, 120, 14, 56, 77, 23, 91, 4, 66],
}


# ---------------------------------------------------------------- safetensors (no package)

def write_safetensors(path, tensors):
    """tensors: name -> torch tensor (F32 or I64), written in the safetensors layout."""
    dtypes = {F32: "F32", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- random weights

class Init:
    """Seeded random f32 weights; scales keep activations O(1) through a few blocks."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.sd = {}

    def normal(self, name, shape, std, mean=0.0):
        self.sd[name] = (torch.randn(*shape, generator=self.g, dtype=F32) * std + mean).to(F32)

    def linear(self, name, n_out, n_in, bias=True, gain=1.0):
        """torch Linear layout: weight [out, in]."""
        self.normal(name + ".weight", (n_out, n_in), gain / math.sqrt(n_in))
        if bias:
            self.normal(name + ".bias", (n_out,), 0.1)

    def layer_norm(self, name, d):
        self.normal(name + ".weight", (d,), 0.1, 1.0)
        self.normal(name + ".bias", (d,), 0.1)


# ---------------------------------------------------------------- shared math (float64)

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased, as torch
    y = (x - mu) / torch.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


ACTS = {
    "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "gelu": gelu_erf,
    "relu": torch.relu, "silu": lambda x: x * torch.sigmoid(x),
}


def lin(x, sd, name, bias=True):
    y = x @ sd[name + ".weight"].T
    if bias and (name + ".bias") in sd:
        y = y + sd[name + ".bias"]
    return y


def heads(x, n, dh):
    """[T, n*dh] -> [n, T, dh]."""
    return x.view(x.shape[0], n, dh).transpose(0, 1)


def merge(x):
    """[n, T, dh] -> [T, n*dh]."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def causal_mask(t, window=None):
    """Boolean [T, T]: True where query i may see key j."""
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    ok = j <= i
    if window is not None:
        ok = ok & (i - j < window)
    return ok


def attend(q, k, v, scale, mask, bias=None):
    """q [H, T, Dh], k/v [Hkv, T, Dh] (repeated for grouped-query attention)."""
    if k.shape[0] != q.shape[0]:
        rep = q.shape[0] // k.shape[0]
        k = k.repeat_interleave(rep, 0)
        v = v.repeat_interleave(rep, 0)
    s = (q @ k.transpose(-1, -2)) * scale
    if bias is not None:
        s = s + bias
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def rope_half_tables(t, dim, base):
    """Rotate-half tables [T, dim]: inv_freq and angles in f32 as HF, cos/sin of them."""
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(F32) / dim))
    ang = (torch.arange(t, dtype=torch.int64).to(F32)[:, None] * inv[None, :]).to(F32)
    emb = torch.cat([ang, ang], -1).to(F64)
    return torch.cos(emb), torch.sin(emb)


def rotate_half(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def partial_rotary(x, cos, sin, rd):
    return torch.cat([rotate_half(x[..., :rd], cos, sin), x[..., rd:]], -1)


# ---------------------------------------------------------------- gemma

def make_gemma(init, variant):
    if variant == "base":  # grouped-query attention, head_dim 16 != 48 / 4
        d, i_, h, kv, dh, vocab, bias = 48, 80, 4, 2, 16, 151, False
    else:  # multi-query attention (one kv head, as gemma-2b), head_dim 24 > 32 / 2, biases
        d, i_, h, kv, dh, vocab, bias = 32, 56, 2, 1, 24, 129, True
    cfg = {
        "architectures": ["GemmaForCausalLM"], "model_type": "gemma",
        "vocab_size": vocab, "hidden_size": d, "intermediate_size": i_, "num_hidden_layers": 3,
        "num_attention_heads": h, "num_key_value_heads": kv, "head_dim": dh,
        "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "attention_bias": bias, "attention_dropout": 0.0, "tie_word_embeddings": True,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "float32",
        "initializer_range": 0.02, "rope_scaling": None, "use_cache": True, "transformers_version": "4.40.0",
    }
    init.normal("model.embed_tokens.weight", (vocab, d), 0.3)
    for l in range(3):
        p = f"model.layers.{l}."
        init.normal(p + "input_layernorm.weight", (d,), 0.2)
        init.normal(p + "post_attention_layernorm.weight", (d,), 0.2)
        init.linear(p + "self_attn.q_proj", h * dh, d, bias=bias, gain=1.5)
        init.linear(p + "self_attn.k_proj", kv * dh, d, bias=bias, gain=1.5)
        init.linear(p + "self_attn.v_proj", kv * dh, d, bias=bias)
        init.linear(p + "self_attn.o_proj", d, h * dh, bias=bias)
        init.linear(p + "mlp.gate_proj", i_, d, bias=False)
        init.linear(p + "mlp.up_proj", i_, d, bias=False)
        init.linear(p + "mlp.down_proj", d, i_, bias=False)
    init.normal("model.norm.weight", (d,), 0.2)
    return cfg


def forward_gemma(cfg, sd, ids):
    d, h, kv, dh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    act = ACTS[cfg["hidden_activation"]]

    def rms(x, w):  # Gemma scales by (1 + w)
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)

    t = len(ids)
    cos, sin = rope_half_tables(t, dh, cfg["rope_theta"])
    mask = causal_mask(t)
    # The normaliser is a tensor in the hidden dtype (f32 here), so sqrt(d) rounded to f32.
    x = sd["model.embed_tokens.weight"][ids] * torch.tensor(d ** 0.5, dtype=F32).item()
    hs = [x]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        y = rms(x, sd[p + "input_layernorm.weight"])
        q = rotate_half(heads(lin(y, sd, p + "self_attn.q_proj"), h, dh), cos, sin)
        k = rotate_half(heads(lin(y, sd, p + "self_attn.k_proj"), kv, dh), cos, sin)
        v = heads(lin(y, sd, p + "self_attn.v_proj"), kv, dh)
        x = x + lin(merge(attend(q, k, v, dh ** -0.5, mask)), sd, p + "self_attn.o_proj")
        y = rms(x, sd[p + "post_attention_layernorm.weight"])
        x = x + lin(act(lin(y, sd, p + "mlp.gate_proj")) * lin(y, sd, p + "mlp.up_proj"), sd, p + "mlp.down_proj")
        hs.append(x)
    hs[-1] = rms(x, sd["model.norm.weight"])
    return hs, hs[-1] @ sd["model.embed_tokens.weight"].T


# ---------------------------------------------------------------- phi (Phi-1 / 1.5 / 2)

def make_phi(init, variant):
    if variant == "base":
        d, i_, h, kv, vocab, factor, theta, qk_ln = 40, 72, 5, 5, 173, 0.5, 10000.0, False
    else:  # qk layer norms, grouped-query attention, another rotary fraction and base
        d, i_, h, kv, vocab, factor, theta, qk_ln = 48, 88, 6, 3, 131, 0.75, 5000.0, True
    dh = d // h
    cfg = {
        "architectures": ["PhiForCausalLM"], "model_type": "phi",
        "vocab_size": vocab, "hidden_size": d, "intermediate_size": i_, "num_hidden_layers": 3,
        "num_attention_heads": h, "num_key_value_heads": kv, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
        "attention_dropout": 0.0, "hidden_act": "gelu_new", "max_position_embeddings": 64,
        "initializer_range": 0.02, "layer_norm_eps": 1e-5, "use_cache": True, "tie_word_embeddings": False,
        "rope_theta": theta, "rope_scaling": None, "partial_rotary_factor": factor, "qk_layernorm": qk_ln,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32", "transformers_version": "4.40.0",
    }
    init.normal("model.embed_tokens.weight", (vocab, d), 0.5)
    for l in range(3):
        p = f"model.layers.{l}."
        init.layer_norm(p + "input_layernorm", d)
        init.linear(p + "self_attn.q_proj", h * dh, d, gain=1.5)
        init.linear(p + "self_attn.k_proj", kv * dh, d, gain=1.5)
        init.linear(p + "self_attn.v_proj", kv * dh, d)
        init.linear(p + "self_attn.dense", d, h * dh)
        if qk_ln:
            init.layer_norm(p + "self_attn.q_layernorm", dh)
            init.layer_norm(p + "self_attn.k_layernorm", dh)
        init.linear(p + "mlp.fc1", i_, d)
        init.linear(p + "mlp.fc2", d, i_)
    init.layer_norm("model.final_layernorm", d)
    init.linear("lm_head", vocab, d)
    return cfg


def forward_phi(cfg, sd, ids):
    d, h, kv, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["layer_norm_eps"]
    dh = d // h
    rd = int(dh * cfg["partial_rotary_factor"])
    act = ACTS[cfg["hidden_act"]]
    t = len(ids)
    cos, sin = rope_half_tables(t, rd, cfg["rope_theta"])
    mask = causal_mask(t)
    ln = lambda x, n: layer_norm(x, sd[n + ".weight"], sd[n + ".bias"], eps)
    x = sd["model.embed_tokens.weight"][ids]
    hs = [x]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        y = ln(x, p + "input_layernorm")
        q = heads(lin(y, sd, p + "self_attn.q_proj"), h, dh)
        k = heads(lin(y, sd, p + "self_attn.k_proj"), kv, dh)
        v = heads(lin(y, sd, p + "self_attn.v_proj"), kv, dh)
        if cfg["qk_layernorm"]:  # per head, over head_dim
            q, k = ln(q, p + "self_attn.q_layernorm"), ln(k, p + "self_attn.k_layernorm")
        q, k = partial_rotary(q, cos, sin, rd), partial_rotary(k, cos, sin, rd)
        a = lin(merge(attend(q, k, v, dh ** -0.5, mask)), sd, p + "self_attn.dense")
        m = lin(act(lin(y, sd, p + "mlp.fc1")), sd, p + "mlp.fc2")
        x = a + m + x  # parallel block: attention and MLP read the same normed input
        hs.append(x)
    hs[-1] = ln(x, "model.final_layernorm")
    return hs, lin(hs[-1], sd, "lm_head")


# ---------------------------------------------------------------- opt

def make_opt(init, variant):
    if variant == "base":  # pre-LN (opt-125m and up): final LN, no projections
        d, ffn, h, vocab, proj, pre, bias, affine = 48, 96, 4, 139, 48, True, True, True
    else:  # opt-350m style: post-LN, project_in/out; plus no biases and no LN affine
        d, ffn, h, vocab, proj, pre, bias, affine = 48, 80, 6, 137, 32, False, False, False
    cfg = {
        "architectures": ["OPTForCausalLM"], "model_type": "opt",
        "vocab_size": vocab, "hidden_size": d, "num_hidden_layers": 3, "ffn_dim": ffn,
        "num_attention_heads": h, "max_position_embeddings": 64, "do_layer_norm_before": pre,
        "_remove_final_layer_norm": False, "word_embed_proj_dim": proj, "dropout": 0.0,
        "attention_dropout": 0.0, "activation_dropout": 0.0, "activation_function": "relu",
        "layerdrop": 0.0, "init_std": 0.02, "use_cache": True, "enable_bias": bias,
        "layer_norm_elementwise_affine": affine, "tie_word_embeddings": True,
        "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2, "torch_dtype": "float32",
        "transformers_version": "4.40.0",
    }
    p0 = "model.decoder."
    init.normal(p0 + "embed_tokens.weight", (vocab, proj), 0.5)
    init.normal(p0 + "embed_positions.weight", (64 + 2, d), 0.3)
    if proj != d:
        init.linear(p0 + "project_in", d, proj, bias=False)
        init.linear(p0 + "project_out", proj, d, bias=False)
    for l in range(3):
        p = f"{p0}layers.{l}."
        for n in ("q_proj", "k_proj", "v_proj"):
            init.linear(p + "self_attn." + n, d, d, bias=bias, gain=1.5 if n != "v_proj" else 1.0)
        init.linear(p + "self_attn.out_proj", d, d, bias=bias)
        init.linear(p + "fc1", ffn, d, bias=bias)
        init.linear(p + "fc2", d, ffn, bias=bias)
        if affine:
            init.layer_norm(p + "self_attn_layer_norm", d)
            init.layer_norm(p + "final_layer_norm", d)
    if pre and affine:
        init.layer_norm(p0 + "final_layer_norm", d)
    return cfg


def forward_opt(cfg, sd, ids):
    d, h = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = d // h
    pre = cfg["do_layer_norm_before"]
    act = ACTS[cfg["activation_function"]]
    t = len(ids)
    mask = causal_mask(t)
    p0 = "model.decoder."
    ln = lambda x, n: layer_norm(x, sd.get(n + ".weight"), sd.get(n + ".bias"), 1e-5)
    x = sd[p0 + "embed_tokens.weight"][ids]
    if cfg["word_embed_proj_dim"] != d:
        x = lin(x, sd, p0 + "project_in")
    # Positions come from the attention mask (all ones: 0..T-1), shifted by OPT's offset 2.
    x = x + sd[p0 + "embed_positions.weight"][torch.arange(t) + 2]
    hs = [x]
    for l in range(cfg["num_hidden_layers"]):
        p = f"{p0}layers.{l}."
        r = x
        y = ln(x, p + "self_attn_layer_norm") if pre else x
        q = heads(lin(y, sd, p + "self_attn.q_proj") * dh ** -0.5, h, dh)
        k = heads(lin(y, sd, p + "self_attn.k_proj"), h, dh)
        v = heads(lin(y, sd, p + "self_attn.v_proj"), h, dh)
        x = r + lin(merge(attend(q, k, v, 1.0, mask)), sd, p + "self_attn.out_proj")
        if not pre:
            x = ln(x, p + "self_attn_layer_norm")
        r = x
        y = ln(x, p + "final_layer_norm") if pre else x
        x = r + lin(act(lin(y, sd, p + "fc1")), sd, p + "fc2")
        if not pre:
            x = ln(x, p + "final_layer_norm")
        hs.append(x)
    if pre and not cfg["_remove_final_layer_norm"]:
        x = ln(x, p0 + "final_layer_norm")
    if cfg["word_embed_proj_dim"] != d:
        x = lin(x, sd, p0 + "project_out")  # the last hidden state is [T, word_embed_proj_dim] then
    hs[-1] = x
    return hs, x @ sd[p0 + "embed_tokens.weight"].T


# ---------------------------------------------------------------- gpt_neo

def make_gpt_neo(init):
    d, h, vocab = 40, 5, 157
    cfg = {
        "architectures": ["GPTNeoForCausalLM"], "model_type": "gpt_neo",
        "vocab_size": vocab, "max_position_embeddings": 64, "hidden_size": d, "num_layers": 3,
        "attention_types": [[["global", "local"], 1], [["global"], 1]],
        "attention_layers": ["global", "local", "global"], "num_heads": h, "intermediate_size": None,
        "window_size": 5, "activation_function": "gelu_new", "resid_dropout": 0.0, "embed_dropout": 0.0,
        "attention_dropout": 0.0, "classifier_dropout": 0.1, "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02, "use_cache": True, "bos_token_id": 50256, "eos_token_id": 50256,
        "torch_dtype": "float32", "transformers_version": "4.40.0",
    }
    init.normal("transformer.wte.weight", (vocab, d), 0.5)
    init.normal("transformer.wpe.weight", (64, d), 0.3)
    for l in range(3):
        p = f"transformer.h.{l}."
        init.layer_norm(p + "ln_1", d)
        # No 1/sqrt(Dh) in GPT-Neo's attention: smaller q/k weights keep the softmax soft.
        init.linear(p + "attn.attention.q_proj", d, d, bias=False, gain=0.5)
        init.linear(p + "attn.attention.k_proj", d, d, bias=False, gain=0.5)
        init.linear(p + "attn.attention.v_proj", d, d, bias=False)
        init.linear(p + "attn.attention.out_proj", d, d)
        init.layer_norm(p + "ln_2", d)
        init.linear(p + "mlp.c_fc", 4 * d, d)
        init.linear(p + "mlp.c_proj", d, 4 * d)
    init.layer_norm("transformer.ln_f", d)
    return cfg


def forward_gpt_neo(cfg, sd, ids):
    d, h, eps = cfg["hidden_size"], cfg["num_heads"], cfg["layer_norm_epsilon"]
    dh = d // h
    act = ACTS[cfg["activation_function"]]
    layers = [kind for kinds, n in cfg["attention_types"] for _ in range(n) for kind in kinds]
    t = len(ids)
    ln = lambda x, n: layer_norm(x, sd[n + ".weight"], sd[n + ".bias"], eps)
    x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][torch.arange(t)]
    hs = [x]
    for l in range(cfg["num_layers"]):
        p = f"transformer.h.{l}."
        mask = causal_mask(t, cfg["window_size"] if layers[l] == "local" else None)
        y = ln(x, p + "ln_1")
        q = heads(lin(y, sd, p + "attn.attention.q_proj"), h, dh)
        k = heads(lin(y, sd, p + "attn.attention.k_proj"), h, dh)
        v = heads(lin(y, sd, p + "attn.attention.v_proj"), h, dh)
        x = x + lin(merge(attend(q, k, v, 1.0, mask)), sd, p + "attn.attention.out_proj")  # unscaled scores
        x = x + lin(act(lin(ln(x, p + "ln_2"), sd, p + "mlp.c_fc")), sd, p + "mlp.c_proj")
        hs.append(x)
    hs[-1] = ln(x, "transformer.ln_f")
    return hs, hs[-1] @ sd["transformer.wte.weight"].T


# ---------------------------------------------------------------- gptj

def make_gptj(init):
    d, h, vocab, rd = 48, 4, 163, 8
    cfg = {
        "architectures": ["GPTJForCausalLM"], "model_type": "gptj",
        "vocab_size": vocab, "n_positions": 64, "n_embd": d, "n_layer": 3, "n_head": h,
        "rotary_dim": rd, "n_inner": None, "activation_function": "gelu_new", "resid_pdrop": 0.0,
        "embd_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
        "use_cache": True, "bos_token_id": 50256, "eos_token_id": 50256, "tie_word_embeddings": False,
        "torch_dtype": "float32", "transformers_version": "4.40.0",
    }
    init.normal("transformer.wte.weight", (vocab, d), 0.5)
    for l in range(3):
        p = f"transformer.h.{l}."
        init.layer_norm(p + "ln_1", d)
        init.linear(p + "attn.q_proj", d, d, bias=False, gain=1.5)
        init.linear(p + "attn.k_proj", d, d, bias=False, gain=1.5)
        init.linear(p + "attn.v_proj", d, d, bias=False)
        init.linear(p + "attn.out_proj", d, d, bias=False)
        init.linear(p + "mlp.fc_in", 4 * d, d)
        init.linear(p + "mlp.fc_out", d, 4 * d)
    init.layer_norm("transformer.ln_f", d)
    init.linear("lm_head", vocab, d)
    return cfg


def gptj_rotary(x, t, rd):
    """GPT-J rotary: sinusoids of int-exponent inv_freq (f32), applied to interleaved pairs
    (x[2i], x[2i+1]) of the first rd features of each head. x [H, T, Dh]."""
    inv = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=torch.int64) / rd))
    ang = torch.einsum("i,j->ij", torch.arange(t, dtype=torch.int64).float(), inv).float().to(F64)
    sin = torch.sin(ang).repeat_interleave(2, -1)
    cos = torch.cos(ang).repeat_interleave(2, -1)
    r = x[..., :rd]
    x1, x2 = r[..., ::2], r[..., 1::2]
    rot = torch.stack((-x2, x1), -1).flatten(-2)
    return torch.cat([r * cos + rot * sin, x[..., rd:]], -1)


def forward_gptj(cfg, sd, ids):
    d, h, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    dh = d // h
    rd = cfg["rotary_dim"] or dh
    act = ACTS[cfg["activation_function"]]
    t = len(ids)
    mask = causal_mask(t)
    ln = lambda x, n: layer_norm(x, sd[n + ".weight"], sd[n + ".bias"], eps)
    # HF divides the scores by sqrt(head_dim) held as an f32 tensor.
    inv_scale = 1.0 / torch.sqrt(torch.tensor(dh, dtype=F32)).item()
    x = sd["transformer.wte.weight"][ids]
    hs = [x]
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        y = ln(x, p + "ln_1")
        q = gptj_rotary(heads(lin(y, sd, p + "attn.q_proj"), h, dh), t, rd)
        k = gptj_rotary(heads(lin(y, sd, p + "attn.k_proj"), h, dh), t, rd)
        v = heads(lin(y, sd, p + "attn.v_proj"), h, dh)
        a = lin(merge(attend(q, k, v, inv_scale, mask)), sd, p + "attn.out_proj")
        m = lin(act(lin(y, sd, p + "mlp.fc_in")), sd, p + "mlp.fc_out")
        x = a + m + x
        hs.append(x)
    hs[-1] = ln(x, "transformer.ln_f")
    return hs, lin(hs[-1], sd, "lm_head")


# ---------------------------------------------------------------- bloom

def make_bloom(init, variant):
    if variant == "base":
        d, h, vocab, post = 48, 6, 149, False  # 6 heads: not a power of two (extra slopes)
    else:
        d, h, vocab, post = 48, 3, 141, True  # residual taken after the layer norms
    cfg = {
        "architectures": ["BloomForCausalLM"], "model_type": "bloom",
        "vocab_size": vocab, "hidden_size": d, "n_layer": 3, "n_head": h,
        "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "use_cache": True,
        "apply_residual_connection_post_layernorm": post, "hidden_dropout": 0.0, "attention_dropout": 0.0,
        "pretraining_tp": 1, "slow_but_exact": False, "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 3, "torch_dtype": "float32", "transformers_version": "4.40.0",
    }
    init.normal("transformer.word_embeddings.weight", (vocab, d), 0.5)
    init.layer_norm("transformer.word_embeddings_layernorm", d)
    for l in range(3):
        p = f"transformer.h.{l}."
        init.layer_norm(p + "input_layernorm", d)
        init.linear(p + "self_attention.query_key_value", 3 * d, d, gain=1.5)
        init.linear(p + "self_attention.dense", d, d)
        init.layer_norm(p + "post_attention_layernorm", d)
        init.linear(p + "mlp.dense_h_to_4h", 4 * d, d)
        init.linear(p + "mlp.dense_4h_to_h", d, 4 * d)
    init.layer_norm("transformer.ln_f", d)
    return cfg


def alibi_slopes(h):
    """BLOOM's per-head slopes, in f32 as HF builds them."""
    p2 = 2 ** math.floor(math.log2(h))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(p2) - 3))), dtype=F32)
    slopes = torch.pow(base, torch.arange(1, 1 + p2, dtype=torch.int32))
    if p2 != h:
        extra = torch.tensor(2 ** (-(2 ** -(math.log2(2 * p2) - 3))), dtype=F32)
        n = min(p2, h - p2)
        slopes = torch.cat([slopes, torch.pow(extra, torch.arange(1, 1 + 2 * n, 2, dtype=torch.int32))])
    return slopes


def forward_bloom(cfg, sd, ids):
    d, h, eps, post = cfg["hidden_size"], cfg["n_head"], cfg["layer_norm_epsilon"], cfg["apply_residual_connection_post_layernorm"]
    dh = d // h
    t = len(ids)
    mask = causal_mask(t)
    # ALiBi: slope_h * key position (f32 product), the same for every query row.
    alibi = (alibi_slopes(h)[:, None] * torch.arange(t, dtype=torch.int64)[None, :]).to(F32).to(F64)[:, None, :]
    ln = lambda x, n: layer_norm(x, sd[n + ".weight"], sd[n + ".bias"], eps)
    bloom_gelu = lambda x: x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))
    x = ln(sd["transformer.word_embeddings.weight"][ids], "transformer.word_embeddings_layernorm")
    hs = [x]
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        y = ln(x, p + "input_layernorm")
        r = y if post else x
        qkv = lin(y, sd, p + "self_attention.query_key_value").view(t, h, 3, dh)  # per head [q, k, v]
        q, k, v = (qkv[:, :, j].transpose(0, 1) for j in range(3))
        x = r + lin(merge(attend(q, k, v, 1 / math.sqrt(dh), mask, alibi)), sd, p + "self_attention.dense")
        y = ln(x, p + "post_attention_layernorm")
        r = y if post else x
        x = r + lin(bloom_gelu(lin(y, sd, p + "mlp.dense_h_to_4h")), sd, p + "mlp.dense_4h_to_h")
        hs.append(x)
    hs[-1] = ln(x, "transformer.ln_f")
    return hs, hs[-1] @ sd["transformer.word_embeddings.weight"].T


# ---------------------------------------------------------------- driver

VARIANTS = [
    # name, seed, make, forward
    ("tiny-gemma", 101, lambda i: make_gemma(i, "base"), forward_gemma),
    ("tiny-gemma-mqa-bias", 110, lambda i: make_gemma(i, "mqa_bias"), forward_gemma),
    ("tiny-phi", 102, lambda i: make_phi(i, "base"), forward_phi),
    ("tiny-phi-qk-norm", 103, lambda i: make_phi(i, "qk_norm"), forward_phi),
    ("tiny-opt", 104, lambda i: make_opt(i, "base"), forward_opt),
    ("tiny-opt-post-ln", 105, lambda i: make_opt(i, "post_ln"), forward_opt),
    ("tiny-gpt-neo", 106, make_gpt_neo, forward_gpt_neo),
    ("tiny-gptj", 107, make_gptj, forward_gptj),
    ("tiny-bloom", 108, lambda i: make_bloom(i, "base"), forward_bloom),
    ("tiny-bloom-post-ln-residual", 109, lambda i: make_bloom(i, "post_ln_residual"), forward_bloom),
]


def num_layers(cfg):
    for k in ("num_hidden_layers", "num_layers", "n_layer"):
        if k in cfg:
            return cfg[k]
    raise KeyError("layers")


def main(out):
    torch.set_num_threads(1)
    index = {
        "description": "Golden forward outputs of the ported families (hf_port.py): hidden_states.{i} in HF "
                       "output_hidden_states order (0 = embedding output, L = after the final norm, and for OPT "
                       "after project_out), logits; float64 from the stored F32 weights, saved as F32. Batch 1, "
                       "positions 0..T-1, causal mask only.",
        "sequences": SEQUENCES,
        "models": {},
    }
    for name, seed, make, forward in VARIANTS:
        init = Init(seed)
        cfg = make(init)
        model_dir = os.path.join(out, "tiny-models", name)
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        write_safetensors(os.path.join(model_dir, "model.safetensors"), init.sd)
        sd = {k: v.to(F64) for k, v in init.sd.items()}
        gdir = os.path.join(out, "golden", name)
        os.makedirs(gdir, exist_ok=True)
        files = {}
        for seq_name, ids in SEQUENCES.items():
            with torch.no_grad():
                hs, logits = forward(cfg, sd, torch.tensor(ids))
            assert len(hs) == num_layers(cfg) + 1
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
            "model_dir": f"tiny-models/{name}", "model_type": cfg["model_type"],
            "num_hidden_layers": num_layers(cfg), "files": files,
        }
    with open(os.path.join(out, "golden", "ported-index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "fixtures", "data"))
