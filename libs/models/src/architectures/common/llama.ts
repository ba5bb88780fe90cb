/**
 * The Llama layout, shared by every family whose config.json and checkpoint follow
 * `LlamaForCausalLM` (llama, mistral, qwen2, gemma, gemma2, qwen3, phi3):
 * - config: the field names (hidden_size, num_key_value_heads, rms_norm_eps, ...) with a
 *   family's own defaults, and rotary over whole heads at rope_theta;
 * - weights: HF names under a prefix (usually "model."): embeddings, per layer
 *   input/post-attention norms, q/k/v/o projections with the optional biases, the
 *   gate/up/down MLP, the final norm and the head (separate or tied). Norm weights are
 *   returned as stored; a family that applies (1 + w) does so in its forward.
 */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from './types';
import { ParamReader } from './params';
import type { ConfigFields } from './configFields';
import type { RopeConfig, RopeScaling } from './configTypes';
import type { FieldTable } from './readConfig';
import { parseRopeScaling, ropeTheta } from './ropeConfig';

/**
 * The field table of a Llama-like config.json: `contextLength` is the family's default
 * max_position_embeddings; `overrides` replace the Llama defaults (rms_norm_eps 1e-6,
 * silu, untied, no biases, head_dim = hidden / heads unless the config says).
 */
export function llamaFields(contextLength: number, overrides: Partial<FieldTable> = {}): FieldTable {
  return {
    numLayers: 'num_hidden_layers',
    dModel: 'hidden_size',
    numHeads: 'num_attention_heads',
    numKvHeads: 'num_key_value_heads',
    // head_dim is explicit in gemma and newer mistral configs; otherwise hidden / heads.
    headDim: { field: 'head_dim' },
    contextLength: ['max_position_embeddings', contextLength],
    intermediateSize: 'intermediate_size',
    normType: 'rmsnorm',
    normEps: ['rms_norm_eps', 1e-6],
    activation: ['hidden_act', 'silu'],
    tieWordEmbeddings: false,
    biases: [false, false, false],
    ...overrides,
  };
}

/** Rotary over whole heads at rope_theta; `scaling` reads the rope scaling (default: the types every family shares, see ropeConfig.ts). */
export function llamaRope(f: ConfigFields, headDim: number, scaling: (f: ConfigFields) => RopeScaling | null = parseRopeScaling): RopeConfig {
  return { theta: ropeTheta(f), rotaryDim: headDim, scaling: scaling(f) };
}

export function loadLlamaLayout(weights: WeightSource, c: ArchConfig, p: string): Map<string, HostArray> {
  const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim;
  const r = new ParamReader(weights, `hidden_size ${D}, heads ${H}, kv heads ${Hkv}, head_dim ${Dh}, intermediate_size ${I}, vocab ${c.vocabSize}`);
  r.take('embed', `${p}embed_tokens.weight`, [c.vocabSize, D]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}layers.${i}.`;
    r.take(`l${i}.ln1`, `${h}input_layernorm.weight`, [D]);
    r.take(`l${i}.ln2`, `${h}post_attention_layernorm.weight`, [D]);
    r.takeLinear(`l${i}.q.w`, `${h}self_attn.q_proj.weight`, D, H * Dh);
    r.takeLinear(`l${i}.k.w`, `${h}self_attn.k_proj.weight`, D, Hkv * Dh);
    r.takeLinear(`l${i}.v.w`, `${h}self_attn.v_proj.weight`, D, Hkv * Dh);
    r.takeLinear(`l${i}.o.w`, `${h}self_attn.o_proj.weight`, H * Dh, D);
    if (c.qkvBias) {
      r.take(`l${i}.q.b`, `${h}self_attn.q_proj.bias`, [H * Dh]);
      r.take(`l${i}.k.b`, `${h}self_attn.k_proj.bias`, [Hkv * Dh]);
      r.take(`l${i}.v.b`, `${h}self_attn.v_proj.bias`, [Hkv * Dh]);
    }
    if (c.outputBias) r.take(`l${i}.o.b`, `${h}self_attn.o_proj.bias`, [D]);
    r.takeLinear(`l${i}.gate.w`, `${h}mlp.gate_proj.weight`, D, I);
    r.takeLinear(`l${i}.up.w`, `${h}mlp.up_proj.weight`, D, I);
    r.takeLinear(`l${i}.down.w`, `${h}mlp.down_proj.weight`, I, D);
    if (c.mlpBias) {
      r.take(`l${i}.gate.b`, `${h}mlp.gate_proj.bias`, [I]);
      r.take(`l${i}.up.b`, `${h}mlp.up_proj.bias`, [I]);
      r.take(`l${i}.down.b`, `${h}mlp.down_proj.bias`, [D]);
    }
  }
  r.take('norm', `${p}norm.weight`, [D]);
  if (!c.tieWordEmbeddings && r.has('lm_head.weight')) r.takeLinear('lm_head', 'lm_head.weight', D, c.vocabSize);
  else if (!c.tieWordEmbeddings) throw new Error(`${weights.describe()}: lm_head.weight is missing and tie_word_embeddings is false`);
  else r.tieHead('lm_head', 'embed');
  return r.params;
}
