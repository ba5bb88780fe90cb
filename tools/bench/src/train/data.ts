/**
 * The training bench's input: one micro-batch of real hidden states plus the model's
 * unembedding, in one safetensors file that both sides read (python/torch_train.py with
 * json + numpy, our worker with openCheckpoint), so PyTorch and our trainer start from
 * the very same f32 numbers.
 *
 * Tensors (all F32): hidden_states.0..L [N, d] (HF convention: L after the final norm),
 * final_norm.weight [d], final_norm.bias [d] (LayerNorm), lm_head.weight [V, d],
 * lm_head.bias [V] (when the model has one). Metadata: norm, eps, num_layers, batch, seq,
 * model (the folder the states came from).
 */
import { createEngine } from '@tuned-lens/engine';
import { loadModel, ModelRunner, type LoadedModel } from '@tuned-lens/models';
import { openCheckpoint, writeSafetensors, type TensorToWrite } from '@tuned-lens/formats';
import { randomTokenIds } from '../prng';
import type { MicroBatch, Unembedding } from '@tuned-lens/lens';

export interface TrainData {
  batch: number;
  seq: number;
  numLayers: number;
  dModel: number;
  vocabSize: number;
  norm: Unembedding['norm'];
  eps: number;
  /** 0..L -> [batch * seq * d] */
  hiddenStates: Map<number, Float32Array>;
  model: string;
}

/** The model's unembedding (final norm + LM head) in the lens library's terms. */
export function lensUnembedding(model: LoadedModel): Unembedding {
  const ue = model.unembedding();
  return {
    norm: ue.spec.norm, eps: ue.spec.eps,
    normWeight: ue.normWeight, normBias: ue.normBias, lmHead: ue.lmHead, lmHeadBias: ue.lmHeadBias,
    dModel: model.dims.dModel, vocabSize: model.dims.vocabSize,
  };
}

const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function writeTrainData(file: string, d: { batch: number; seq: number; hiddenStates: Map<number, Float32Array>; u: Unembedding; numLayers: number; model: string }): number {
  const { u, numLayers: L } = d;
  const n = d.batch * d.seq;
  const tensors: Record<string, TensorToWrite> = {};
  for (let i = 0; i <= L; i++) {
    const h = d.hiddenStates.get(i);
    if (!h || h.length !== n * u.dModel) throw new Error(`hidden state ${i} is missing or not [${n}, ${u.dModel}]`);
    tensors[`hidden_states.${i}`] = { dtype: 'F32', shape: [n, u.dModel], data: bytes(h) };
  }
  tensors['final_norm.weight'] = { dtype: 'F32', shape: [u.dModel], data: bytes(u.normWeight) };
  if (u.normBias) tensors['final_norm.bias'] = { dtype: 'F32', shape: [u.dModel], data: bytes(u.normBias) };
  tensors['lm_head.weight'] = { dtype: 'F32', shape: [u.vocabSize, u.dModel], data: bytes(u.lmHead) };
  if (u.lmHeadBias) tensors['lm_head.bias'] = { dtype: 'F32', shape: [u.vocabSize], data: bytes(u.lmHeadBias) };
  return writeSafetensors(file, tensors, {
    norm: u.norm, eps: String(u.eps), num_layers: String(L), batch: String(d.batch), seq: String(d.seq), model: d.model,
  });
}

/** The hidden states and shape of a data file (our side takes the unembedding from loadModel). */
export function readTrainData(file: string): TrainData {
  const ck = openCheckpoint(file);
  const m = ck.metadata;
  const numLayers = Number(m.num_layers), batch = Number(m.batch), seq = Number(m.seq);
  const hiddenStates = new Map<number, Float32Array>();
  // Copies: getF32 may return a view of the file's bytes, which must not be handed on as is.
  for (let i = 0; i <= numLayers; i++) hiddenStates.set(i, ck.getF32(`hidden_states.${i}`).slice());
  const head = ck.info('lm_head.weight').shape;
  return {
    batch, seq, numLayers, dModel: head[1], vocabSize: head[0], norm: m.norm as Unembedding['norm'], eps: Number(m.eps),
    hiddenStates, model: m.model,
  };
}

export function microBatch(d: TrainData): MicroBatch {
  return { batch: d.batch, seq: d.seq, inputIds: new Int32Array(d.batch * d.seq), hiddenStates: d.hiddenStates };
}

export interface PrepareResult {
  tokens: number;
  forwardSeconds: number;
  dataBytes: number;
  numLayers: number;
  dModel: number;
  vocabSize: number;
  engine: string;
}

/**
 * Real hidden states for the workload: `batch` x `seq` seeded random token ids through
 * ModelRunner.forward (onnx engine), written with the model's unembedding to `dataFile`.
 */
export async function prepareTrainData(modelDir: string, dataFile: string, o: { batch: number; seq: number; seed: number; threads: number }): Promise<PrepareResult> {
  const model = await loadModel(modelDir);
  const engine = await createEngine('onnx', { threads: o.threads });
  const runner = new ModelRunner(model, engine);
  try {
    const ids = randomTokenIds(model.dims.vocabSize, o.batch, o.seq, o.seed);
    const out = await runner.forward({ inputIds: ids, batch: o.batch, seq: o.seq });
    const L = model.dims.numLayers;
    const dataBytes = writeTrainData(dataFile, { batch: o.batch, seq: o.seq, hiddenStates: out.hiddenStates, u: lensUnembedding(model), numLayers: L, model: modelDir });
    return { tokens: o.batch * o.seq, forwardSeconds: out.seconds, dataBytes, numLayers: L, dModel: model.dims.dModel, vocabSize: model.dims.vocabSize, engine: engine.name };
  } finally {
    await runner.dispose();
    await engine.dispose?.();
  }
}
