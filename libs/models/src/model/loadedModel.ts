/**
 * A model read from a checkpoint folder: its architecture, normalised config, prepared
 * f32 params and the unembedding (final norm + LM head) as its own reusable piece.
 */
import { createHash } from 'node:crypto';
import { StoredParam, type HostArray, type RuntimeInputs, type TensorProgram } from '@tuned-lens/engine';
import type { ArchConfig, Architecture, ModelDims, UnembeddingSpec } from '../architectures/common/types';
import { transpose } from '../architectures/common/params';
import { decoderForward, forwardOutputs } from '../architectures/common/decoder';

export interface UnembeddingTensors {
  spec: UnembeddingSpec;
  /** [dModel] */
  normWeight: Float32Array;
  /** [dModel], LayerNorm only. */
  normBias?: Float32Array;
  /** W_U as [vocab, dModel] (the HF / nn.Linear layout). */
  lmHead: Float32Array;
  /** [vocab], when the head has a bias. */
  lmHeadBias?: Float32Array;
}

export class LoadedModel {
  readonly dims: ModelDims;
  private hash: string | undefined;

  constructor(
    readonly name: string,
    readonly arch: Architecture<ArchConfig>,
    readonly config: ArchConfig,
    readonly params: Map<string, HostArray>,
    /** Storage dtype of the checkpoint ('F32' | 'F16' | 'BF16'). */
    readonly weightsDtype: string,
  ) {
    this.dims = config;
  }

  runtimeInputs(batch: number, seq: number): RuntimeInputs {
    return this.arch.runtimeInputs(this.config, batch, seq);
  }

  /** The forward pass as an engine-neutral program (with or without the logits). */
  program(opts: { logits: boolean }): TensorProgram {
    const outputs = forwardOutputs(this.dims.numLayers, opts.logits);
    const inputs: TensorProgram['inputs'] = { input_ids: { dtype: 'i32', rank: 2 } };
    for (const [name, t] of Object.entries(this.runtimeInputs(1, 2))) {
      inputs[name] = { dtype: t.data instanceof Int32Array ? 'i32' : 'f32', rank: t.shape.length };
    }
    const { arch, config } = this;
    return {
      name: `${this.name}${opts.logits ? '+logits' : ''}`,
      params: this.params,
      inputs,
      outputs,
      fn: (ops) => decoderForward(ops, arch, config, opts),
    };
  }

  unembedding(): UnembeddingTensors {
    const spec = this.arch.unembedding(this.config);
    const get = (n: string | null) => (n ? (this.params.get(n)!.data as Float32Array) : undefined);
    const { dModel, vocabSize } = this.dims;
    return {
      spec,
      normWeight: get(spec.normWeight)!,
      normBias: get(spec.normBias),
      // params hold the head as [d, vocab] for Ops.linear; the wire and lens files use [vocab, d],
      // which is how a checkpoint stores it: read that directly when the head is in place.
      lmHead: this.headAsStored(spec.lmHead) ?? transpose(get(spec.lmHead)!, dModel, vocabSize),
      lmHeadBias: get(spec.lmHeadBias),
    };
  }

  /** W_U [vocab, dModel] straight from the checkpoint when the head param is its stored [vocab, d] read transposed. */
  private headAsStored(name: string): Float32Array | undefined {
    const p = this.params.get(name);
    return p instanceof StoredParam && p.layout.kind === 'transpose' ? p.storedF32() : undefined;
  }

  /**
   * Our unembedding hash: sha256 over the exact little-endian f32 bytes of W_U
   * [vocab, dModel]. Lens files record it, so a lens for another model is refused.
   */
  unembedHash(): string {
    if (!this.hash) {
      const w = this.unembedding().lmHead;
      this.hash = createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
    }
    return this.hash;
  }
}
