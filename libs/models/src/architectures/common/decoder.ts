/**
 * The forward pass every family runs, and the hidden-state contract it emits, in one
 * place (HF `output_hidden_states`, which the tuned lens indexes):
 * - `hidden_states.0`: the embedding output;
 * - `hidden_states.{i+1}`: block i's output, for every block but the last;
 * - `residual.{L}`: the last block's raw output (before the final norm);
 * - `hidden_states.{L}`: the last block's output after the final norm;
 * - `logits` [B, T, vocab]: the head on hidden_states.L, only when asked.
 * Hidden states are [B, T, dModel] (but for OPT with project_out, hidden_states.L is
 * [B, T, word_embed_proj_dim], as HF's). A family provides the pieces of {@link Decoder}
 * (Architecture.decoder); {@link decoderForward} runs them, and every output is emitted here.
 */
import type { Ops } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ForwardOptions, NormKind, UnembeddingSpec } from './types';
import { applyNorm, tokenEmbedding } from './blocks';
import { softcap } from './softcap';

/** Output i of the hidden states (0..L). */
export const hiddenStateOutput = (i: number): string => `hidden_states.${i}`;
/** The last block's output before the final norm. */
export const residualOutput = (numLayers: number): string => `residual.${numLayers}`;
export const LOGITS_OUTPUT = 'logits';

/** Every output of a forward pass, in order: hidden_states.0..L, residual.L, then logits when asked. */
export function forwardOutputs(numLayers: number, logits: boolean): string[] {
  const names = [...Array.from({ length: numLayers + 1 }, (_, i) => hiddenStateOutput(i)), residualOutput(numLayers)];
  return logits ? [...names, LOGITS_OUTPUT] : names;
}

/**
 * What a family's forward pass is made of: its blocks, and what differs from the defaults.
 * `finalNorm` and `head` come together or not at all: without them the forward ends with
 * the family's unembedding (final norm, head).
 */
export interface Decoder<T> {
  /** input_ids -> [B, T, D] (hidden_states.0); default the token embeddings (blocks.ts `tokenEmbedding`). */
  embed?(): T;
  /** Block i: [B, T, D] -> [B, T, D]. */
  block(i: number, h: T): T;
  /** The last block's output -> hidden_states.L. */
  finalNorm?(h: T): T;
  /** hidden_states.L -> logits [B, T, vocab]. */
  head?(x: T): T;
}

/**
 * The forward pass of `arch` on `ops`: its decoder's embedding and blocks, then its final
 * norm and head (the decoder's, or else the unembedding's), emitting the hidden-state
 * contract (see the top of this file).
 */
export function decoderForward<T, C extends ArchConfig>(ops: Ops<T>, arch: Architecture<C>, c: C, opts: ForwardOptions): void {
  const d = arch.decoder(ops, c);
  const { finalNorm, head } = d.finalNorm && d.head ? { finalNorm: d.finalNorm, head: d.head } : unembedWith(ops, arch.unembedding(c));
  const L = c.numLayers;
  let h = d.embed ? d.embed() : tokenEmbedding(ops);
  ops.output(hiddenStateOutput(0), h);
  for (let i = 0; i < L; i++) {
    h = d.block(i, h);
    if (i < L - 1) ops.output(hiddenStateOutput(i + 1), h);
  }
  ops.output(residualOutput(L), h);
  const last = finalNorm(h);
  ops.output(hiddenStateOutput(L), last);
  if (opts.logits) ops.output(LOGITS_OUTPUT, head(last));
}

/**
 * The unembedding of a family whose params follow the shared names (blocks.ts): final
 * norm `ln_f` of `norm` kind, head `lm_head` (+ `lm_head.b` with `headBias`), and Gemma 2's
 * logit soft-cap when set.
 */
export function standardUnembedding(norm: NormKind, eps: number, opts: { headBias?: boolean; logitSoftcap?: number | null } = {}): UnembeddingSpec {
  return {
    norm, eps, normWeight: 'ln_f.w', normBias: norm === 'layer_norm' ? 'ln_f.b' : null, lmHead: 'lm_head', lmHeadBias: opts.headBias ? 'lm_head.b' : null,
    ...(opts.logitSoftcap !== undefined && opts.logitSoftcap !== null ? { logitSoftcap: opts.logitSoftcap } : {}),
  };
}

/**
 * The final norm and the head of the forward pass as the unembedding `spec` says: the
 * model's own readout and the lens's unembedding are the same thing.
 */
export function unembedWith<T>(ops: Ops<T>, spec: UnembeddingSpec): Required<Pick<Decoder<T>, 'finalNorm' | 'head'>> {
  return {
    finalNorm: (h) => applyNorm(ops, spec.norm, h, ops.param(spec.normWeight), spec.normBias === null ? null : ops.param(spec.normBias), spec.eps),
    head: (x) => {
      const logits = ops.linear(x, ops.param(spec.lmHead), spec.lmHeadBias === null ? null : ops.param(spec.lmHeadBias));
      return spec.logitSoftcap === undefined ? logits : softcap(ops, logits, spec.logitSoftcap);
    },
  };
}
