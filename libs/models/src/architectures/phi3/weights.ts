/**
 * Phi-3 checkpoint tensors -> our params: the Llama layout, with the fused projections
 * qkv_proj (q | k | v, fewer k/v rows under grouped-query attention) and gate_up_proj
 * (gate | up) read as the layout's separate q/k/v and gate/up params.
 */
import type { HostArray } from '@tuned-lens/engine';
import type { ArchConfig, WeightSource } from '../common/types';
import type { ParamReader } from '../common/params';
import { llamaPrefix, readLlamaLayout, type LlamaProjections } from '../common/llama';

/**
 * A torch Linear weight [sum of outs, in] whose rows are consecutive blocks: each block
 * becomes its own [in, out_j] param under prefix + name (a view of the stored rows, in
 * place on the onnx engine), so the forward runs separate products and never slices
 * [B, T, sum of outs] (as gpt2's c_attn is split).
 */
export function takeFusedRows(r: ParamReader, prefix: string, parts: ReadonlyArray<readonly [string, number]>, name: string, inDim: number): void {
  const outDim = parts.reduce((s, [, n]) => s + n, 0);
  let row = 0;
  for (const [as, n] of parts) {
    r.takeLinearRows(prefix + as, name, inDim, outDim, row, n);
    row += n;
  }
}

const fusedProjections: LlamaProjections = {
  qkv: (r, l, h, c) => takeFusedRows(r, l, [['q.w', c.numHeads * c.headDim], ['k.w', c.numKvHeads * c.headDim], ['v.w', c.numKvHeads * c.headDim]], `${h}self_attn.qkv_proj.weight`, c.dModel),
  gateUp: (r, l, h, c) => takeFusedRows(r, l, [['gate.w', c.intermediateSize], ['up.w', c.intermediateSize]], `${h}mlp.gate_up_proj.weight`, c.dModel),
};

export const loadParams = (weights: WeightSource, c: ArchConfig): Map<string, HostArray> => readLlamaLayout(weights, c, llamaPrefix(weights), fusedProjections).params;
