/**
 * Phi-3 (HF `Phi3ForCausalLM`; Phi-3, Phi-3.5, Phi-4-mini): Llama's math with fused
 * weights. qkv_proj holds q | k | v (H + 2 Hkv heads of rows) and gate_up_proj gate | up;
 * they are split at load into the Llama layout's q/k/v and gate/up params, after which the
 * forward pass IS Llama's (RMSNorm, rotate-half rotary on the first rotaryDim features,
 * GQA, SwiGLU, a sliding window on every layer when set, no biases). What Phi-3 adds is in
 * the rotary tables: LongRoPE (short or long factors by sequence length, scaled cos/sin).
 */
import type { HostArray, Ops, RuntimeInputs } from '@tuned-lens/engine';
import type { Architecture, ForwardOptions, UnembeddingSpec, WeightSource } from '../common/types';
import { ParamReader } from '../common/params';
import { causalBias, ropeTables } from '../common/runtimeInputs';
import { llama } from '../llama';
import { archConfig, readConfig, type Phi3ArchConfig, type Phi3Config } from './config';
import { longropeTables } from './longrope';
import { takeFusedRows } from './fusedRows';

export const phi3: Architecture<Phi3ArchConfig, Phi3Config> = {
  readConfig,
  archConfig,

  loadParams(weights: WeightSource, c: Phi3ArchConfig): Map<string, HostArray> {
    const D = c.dModel, I = c.intermediateSize, H = c.numHeads, Hkv = c.numKvHeads, Dh = c.headDim, V = c.vocabSize;
    const r = new ParamReader(weights, `hidden_size ${D}, heads ${H}, kv heads ${Hkv}, head_dim ${Dh}, intermediate_size ${I}, vocab ${V}`);
    // Checkpoints saved from Phi3Model (not ...ForCausalLM) have no "model." prefix.
    const p = weights.has('model.embed_tokens.weight') ? 'model.' : '';
    r.take('embed', `${p}embed_tokens.weight`, [V, D]);
    for (let i = 0; i < c.numLayers; i++) {
      const h = `${p}layers.${i}.`;
      r.take(`l${i}.ln1`, `${h}input_layernorm.weight`, [D]);
      r.take(`l${i}.ln2`, `${h}post_attention_layernorm.weight`, [D]);
      takeFusedRows(r, `l${i}.`, [['q.w', H * Dh], ['k.w', Hkv * Dh], ['v.w', Hkv * Dh]], `${h}self_attn.qkv_proj.weight`, D);
      r.takeLinear(`l${i}.o.w`, `${h}self_attn.o_proj.weight`, H * Dh, D);
      takeFusedRows(r, `l${i}.`, [['gate.w', I], ['up.w', I]], `${h}mlp.gate_up_proj.weight`, D);
      r.takeLinear(`l${i}.down.w`, `${h}mlp.down_proj.weight`, I, D);
    }
    r.take('norm', `${p}norm.weight`, [D]);
    if (!c.tieWordEmbeddings) r.takeLinear('lm_head', 'lm_head.weight', D, V);
    else r.tieHead('lm_head', 'embed');
    return r.params;
  },

  runtimeInputs(c: Phi3ArchConfig, _batch: number, seq: number): RuntimeInputs {
    const { cos, sin } = c.longrope ? longropeTables(seq, c.rotaryDim, c.rotaryBase, c.longrope) : ropeTables(seq, c.rotaryDim, c.rotaryBase);
    return { causal_bias: causalBias(seq, c.slidingWindow), rope_cos: cos, rope_sin: sin };
  },

  // The same params, inputs and config fields as Llama's forward reads (qkvBias, outputBias
  // and mlpBias are false for Phi-3; slidingWindow is inside causal_bias).
  forward<T>(ops: Ops<T>, c: Phi3ArchConfig, opts: ForwardOptions): void {
    llama.forward(ops, c, opts);
  },

  unembedding: (c): UnembeddingSpec => ({
    norm: 'rms_norm', eps: c.normEps, normWeight: 'norm', normBias: null, lmHead: 'lm_head', lmHeadBias: null,
  }),
};
