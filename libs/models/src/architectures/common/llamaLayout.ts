/**
 * The weights of the Llama layout (HF `LlamaForCausalLM` names under a prefix, usually
 * "model."), shared by every family that stores its checkpoints that way (llama, mistral,
 * qwen2, gemma): embeddings, per layer input/post-attention norms, q/k/v/o projections with
 * the optional biases, the gate/up/down MLP, the final norm and the head (separate or tied).
 * Norm weights are returned as stored; a family that applies (1 + w) does so in its forward.
 */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from './types';
import { ParamReader } from './params';

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
