/** Phi-3's fused projections, read as the separate weights of the Llama layout. */
import type { ParamReader } from '../common/params';

/**
 * A torch Linear weight [sum of outs, in] whose rows are consecutive blocks (qkv_proj =
 * q | k | v, with fewer k/v rows under grouped-query attention; gate_up_proj = gate | up):
 * each block becomes its own [in, out_j] param under prefix + name (a view of the stored
 * rows, in place on the onnx engine), so the forward runs separate products and never
 * slices [B, T, sum of outs] (as gpt2's c_attn is split).
 */
export function takeFusedRows(r: ParamReader, prefix: string, parts: ReadonlyArray<readonly [string, number]>, name: string, inDim: number): void {
  const outDim = parts.reduce((s, [, n]) => s + n, 0);
  let row = 0;
  for (const [as, n] of parts) {
    r.takeLinearRows(prefix + as, name, inDim, outDim, row, n);
    row += n;
  }
}
