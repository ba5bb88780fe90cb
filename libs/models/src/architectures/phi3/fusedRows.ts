/** Phi-3's fused projections, split at load into the separate weights of the Llama layout. */
import { ParamReader, transpose } from '../common/params';

/**
 * A torch Linear weight [sum of outs, in] whose rows are consecutive blocks (qkv_proj =
 * q | k | v, with fewer k/v rows under grouped-query attention; gate_up_proj = gate | up):
 * each block becomes its own [in, out_j] param under prefix + name, so the forward runs
 * separate products and never slices [B, T, sum of outs] (as gpt2's c_attn is split).
 * The blocks are f32 copies: ParamReader has no row-block view of a stored tensor.
 */
export function takeFusedRows(r: ParamReader, prefix: string, parts: ReadonlyArray<readonly [string, number]>, name: string, inDim: number): void {
  const outDim = parts.reduce((s, [, n]) => s + n, 0);
  // Read through `take` for its shape check (the message names the tensor and the config).
  const whole = `${prefix}${name}`;
  r.take(whole, name, [outDim, inDim]);
  const src = r.params.get(whole)!.data as Float32Array;
  r.params.delete(whole);
  let row = 0;
  for (const [as, n] of parts) {
    r.set(prefix + as, { shape: [inDim, n], data: transpose(src.subarray(row * inDim, (row + n) * inDim), n, inDim) });
    row += n;
  }
}
