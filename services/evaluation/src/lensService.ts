/**
 * The LensService: Predict (per position, the top-k tokens and trajectory statistics of
 * every asked lens at every asked layer, plus the model's own output row), Compare
 * (KL / JS / TV between two inputs' distributions) and ListLenses.
 *
 * A call: admission (RESOURCE_EXHAUSTED beyond the budget) -> the model (checked
 * against the activation service) -> validation (clear INVALID_ARGUMENT messages) ->
 * tokens (tokenizer service) -> metadata frame -> hidden states of the needed layers
 * (activation service, one Extract) -> frames as LensPredictor finishes each slice of
 * positions -> done. Lens math runs on this process's engine; onnxruntime's run is
 * synchronous, so a long prediction holds the event loop between frames (acceptable
 * for now; a worker thread like the activation service's is the way out).
 */
import type { ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';

/** What admission needs of a call: whether and when its client cancelled. */
type CancellableCall = Pick<ServerWritableStream<unknown, unknown>, 'cancelled' | 'once' | 'removeListener'>;
import { lensV1 } from '@tuned-lens/proto';
import { errorText, failedPrecondition, invalidArgument, writeMessage, RpcError, type Logger } from '@tuned-lens/grpc-kit';
import { grpcCodeName } from '@tuned-lens/metrics';
import type { CellResult, LensToApply, PositionComparison, SequenceStates } from '@tuned-lens/lens';
import type { Admission } from './admission';
import type { EvaluationLimits } from './limits';
import type { LensStore, LoadedLens, ModelIdentity } from './lensStore';
import type { EvaluationMetrics } from './metrics';
import type { ModelLink, ModelState } from './upstream';

const { LensKind } = lensV1;
const DEFAULT_TOP_K = 10;
const DEFAULT_COMPARE_TOP_K = 5;

export interface LensServiceDeps {
  link: ModelLink | undefined;
  lenses: LensStore;
  admission: Admission;
  limits: EvaluationLimits;
  metrics: EvaluationMetrics;
  log: Logger;
}

/** The served model's identity for lens checks. */
export function identityOf(s: ModelState): ModelIdentity {
  return { modelName: s.info.modelName, numLayers: s.info.numLayers, dModel: s.info.dModel, unembedHash: s.info.unembedHash };
}

async function modelOf(deps: LensServiceDeps): Promise<ModelState> {
  if (!deps.link) throw failedPrecondition('this server serves no model: start it with an activation endpoint and a tokenizer endpoint to answer lens requests');
  return deps.link.get();
}

interface ResolvedInput {
  ids: Int32Array;
  truncatedTokens: number;
}

/** Token ids of an input: validated, BOS-prefixed when asked, truncated when asked. */
async function resolveInput(s: ModelState, input: lensV1.PredictInput | undefined, opts: { truncate: boolean; prependBos: boolean; what: string }): Promise<ResolvedInput> {
  const kind = input?.kind;
  if (!kind) throw invalidArgument(`${opts.what}: no input: give text or token_ids`);
  let ids: number[];
  if (kind.$case === 'text') {
    if (kind.text.length === 0) throw invalidArgument(`${opts.what}: empty text`);
    const [enc] = await s.tokenizer.encode([kind.text], { addSpecialTokens: true });
    ids = enc.ids;
    if (ids.length === 0) throw invalidArgument(`${opts.what}: the text has no tokens`);
  } else {
    ids = kind.tokenIds.ids;
    if (ids.length === 0) throw invalidArgument(`${opts.what}: empty token_ids`);
    const V = s.info.vocabSize;
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= V);
    if (bad >= 0) throw invalidArgument(`${opts.what}: token_ids[${bad}] = ${ids[bad]} is outside the vocabulary 0..${V - 1}`);
  }
  if (opts.prependBos) {
    const bos = s.tokenizerInfo.bosTokenId >= 0 ? s.tokenizerInfo.bosTokenId : s.tokenizerInfo.eosTokenId;
    if (bos < 0) throw invalidArgument(`${opts.what}: prepend_bos: the tokenizer has neither a BOS nor an EOS token`);
    if (ids[0] !== bos) ids = [bos, ...ids];
  }
  const ctx = s.info.contextLength;
  let truncatedTokens = 0;
  if (ctx > 0 && ids.length > ctx) {
    if (!opts.truncate) {
      throw invalidArgument(`${opts.what}: ${ids.length} tokens, more than the model's context of ${ctx}; shorten the input or set truncate to keep the last ${ctx} tokens`);
    }
    truncatedTokens = ids.length - ctx;
    ids = ids.slice(truncatedTokens);
  }
  return { ids: Int32Array.from(ids), truncatedTokens };
}

/** Lensed layers asked for (all when none), checked, in ascending order. */
function layersOf(asked: number[], L: number): number[] {
  if (asked.length === 0) return Array.from({ length: L }, (_, i) => i);
  for (const l of asked) {
    if (!Number.isInteger(l) || l < 0 || l >= L) {
      throw invalidArgument(`layer ${l} is out of range: lensed layers are 0..${L - 1} (the model output, layer ${L}, is always included)`);
    }
  }
  return [...new Set(asked)].sort((a, b) => a - b);
}

function topKOf(asked: number, fallback: number, max: number, vocab: number): number {
  const k = asked === 0 ? fallback : asked;
  if (!Number.isInteger(k) || k < 1 || k > max) throw invalidArgument(`top_k must be 1..${max} (0 = ${fallback}), got ${asked}`);
  return Math.min(k, vocab);
}

function kindName(k: number): 'logit' | 'tuned' {
  if (k === LensKind.LENS_KIND_LOGIT) return 'logit';
  if (k === LensKind.LENS_KIND_TUNED) return 'tuned';
  throw invalidArgument(`unknown lens kind ${k}: ask for LENS_KIND_LOGIT (${LensKind.LENS_KIND_LOGIT}) or LENS_KIND_TUNED (${LensKind.LENS_KIND_TUNED})`);
}

const kindOf = (name: CellResult['lens']): lensV1.LensKind =>
  name === 'logit' ? LensKind.LENS_KIND_LOGIT : name === 'tuned' ? LensKind.LENS_KIND_TUNED : LensKind.LENS_KIND_MODEL;

/** The tuned lens for a request, if it asks for one (loaded, checked against the model). */
function tunedFor(deps: LensServiceDeps, s: ModelState, names: Array<'logit' | 'tuned'>, lensPath: string): LoadedLens | undefined {
  if (!names.includes('tuned')) return undefined;
  return deps.lenses.load(lensPath, identityOf(s));
}

function lensesToApply(names: Array<'logit' | 'tuned'>, tuned: LoadedLens | undefined): LensToApply[] {
  return names.map((n) => (n === 'tuned' ? { kind: 'tuned' as const, weights: tuned!.weights } : { kind: 'logit' as const }));
}

/** Hidden states of each input for `layers` (one Extract call, one batch per input). */
async function hiddenStates(s: ModelState, inputs: Int32Array[], layers: number[], signal: AbortSignal): Promise<SequenceStates[]> {
  const out: SequenceStates[] = [];
  const batches = inputs.map((ids, i) => ({ batchId: i, inputIds: ids, batch: 1, seq: ids.length }));
  for await (const b of s.activation.extract(batches, { layers, timeoutMs: 300_000, signal })) {
    out.push({ inputIds: inputs[b.batchId], hiddenStates: b.hiddenStates });
  }
  if (out.length !== inputs.length) throw new Error(`Extract returned ${out.length} of ${inputs.length} batches`);
  return out;
}

function metadata(s: ModelState, input: ResolvedInput, extra: Partial<lensV1.PredictMetadata>): lensV1.PredictMetadata {
  return lensV1.PredictMetadata.fromPartial({
    tokenIds: Array.from(input.ids),
    tokens: Array.from(input.ids, (id) => s.vocab[id]),
    numLayers: s.info.numLayers,
    modelName: s.info.modelName,
    truncated: input.truncatedTokens > 0,
    truncatedTokens: input.truncatedTokens,
    vocabSize: s.info.vocabSize,
    ...extra,
  });
}

/**
 * Runs `fn` under admission, with the outcome and duration recorded. A client's cancel
 * frees the slot at once and aborts `signal`, which stops the upstream Extract: the
 * slot must not stay taken for a forward pass nobody will read (or one that hangs).
 */
async function admitted<T>(deps: LensServiceDeps, rpc: string, call: CancellableCall, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  let release: () => void;
  try {
    release = deps.admission.acquire();
  } catch (err) {
    deps.metrics.predictions.inc({ rpc, outcome: 'ResourceExhausted' });
    throw err;
  }
  const aborted = new AbortController();
  const onCancel = () => {
    aborted.abort();
    release();
  };
  if (call.cancelled) onCancel();
  else call.once('cancelled', onCancel);
  const timer = deps.metrics.predictionSeconds.startTimer({ rpc });
  try {
    const out = await fn(aborted.signal);
    deps.metrics.predictions.inc({ rpc, outcome: call.cancelled ? 'Canceled' : 'OK' });
    return out;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    deps.metrics.predictions.inc({ rpc, outcome: call.cancelled ? 'Canceled' : typeof code === 'number' ? grpcCodeName(code) : 'Internal' });
    throw err;
  } finally {
    call.removeListener('cancelled', onCancel);
    timer();
    release();
  }
}

export async function handlePredict(call: ServerWritableStream<lensV1.PredictRequest, lensV1.PredictResponse>, deps: LensServiceDeps): Promise<void> {
  const t0 = performance.now();
  await admitted(deps, 'Predict', call, async (signal) => {
    const req = call.request;
    const s = await modelOf(deps);
    const L = s.info.numLayers;
    const layers = layersOf(req.layers, L);
    const topK = topKOf(req.topK, DEFAULT_TOP_K, deps.limits.maxTopK, s.info.vocabSize);
    const asked = req.lenses.length ? [...new Set(req.lenses.map(kindName))] : [req.lensPath || deps.lenses.defaultLens ? 'tuned' as const : 'logit' as const];
    const tuned = tunedFor(deps, s, asked, req.lensPath);
    const input = await resolveInput(s, req.input, { truncate: req.truncate, prependBos: req.prependBos, what: 'input' });
    const T = input.ids.length;
    if (req.fullDistributionCells.length > deps.limits.maxFullDistributionCells) {
      throw invalidArgument(`${req.fullDistributionCells.length} full-distribution cells asked for, at most ${deps.limits.maxFullDistributionCells}`);
    }
    for (const c of req.fullDistributionCells) {
      if (!(layers.includes(c.layer) || c.layer === L) || c.position < 0 || c.position >= T) {
        throw invalidArgument(`full-distribution cell (layer ${c.layer}, position ${c.position}) is not predicted: layers ${layers.join(',')} and ${L} (output), positions 0..${T - 1}`);
      }
    }
    const warnings = tuned?.warnings ?? [];
    await writeMessage(call, { frame: { $case: 'metadata', metadata: metadata(s, input, {
      layers: [...layers, L], lenses: asked.map((n) => kindOf(n)), warnings, topK, lensName: tuned?.name ?? '',
    }) } });
    const [seq] = await hiddenStates(s, [input.ids], [...layers, L], signal);
    const cells = req.fullDistributionCells.map((c) => ({ layer: c.layer, position: c.position }));
    for await (const pos of s.predictor.predict(seq, { layers, lenses: lensesToApply(asked, tuned), topK, fullCells: cells })) {
      if (call.cancelled) return;
      await writeMessage(call, { frame: { $case: 'position', position: {
        position: pos.position,
        tokenId: pos.tokenId,
        cells: pos.cells.map((c) => ({
          lens: kindOf(c.lens), layer: c.layer,
          top: c.top.map((x) => ({ id: x.id, text: s.vocab[x.id], prob: x.prob })),
          entropy: c.entropy, crossEntropy: c.crossEntropy, targetRank: c.targetRank, klToModel: c.klToModel, maxProb: c.maxProb,
          fullLogProbs: c.fullLogProbs ? Array.from(c.fullLogProbs) : [],
        })),
      } } });
      deps.metrics.positions.inc({ rpc: 'Predict' });
    }
    await writeMessage(call, { frame: { $case: 'done', done: { seconds: (performance.now() - t0) / 1000 } } });
  });
}

export async function handleCompare(call: ServerWritableStream<lensV1.CompareRequest, lensV1.CompareResponse>, deps: LensServiceDeps): Promise<void> {
  const t0 = performance.now();
  await admitted(deps, 'Compare', call, async (signal) => {
    const req = call.request;
    const s = await modelOf(deps);
    const L = s.info.numLayers;
    const layers = layersOf(req.layers, L);
    const topK = topKOf(req.topK, DEFAULT_COMPARE_TOP_K, deps.limits.maxTopK, s.info.vocabSize);
    const name = req.lens === LensKind.LENS_KIND_UNSPECIFIED ? (req.lensPath || deps.lenses.defaultLens ? 'tuned' : 'logit') : kindName(req.lens);
    const tuned = tunedFor(deps, s, [name], req.lensPath);
    const opts = { truncate: req.truncate, prependBos: req.prependBos };
    const first = await resolveInput(s, req.first, { ...opts, what: 'first' });
    const second = await resolveInput(s, req.second, { ...opts, what: 'second' });
    const extra = { layers: [...layers, L], lenses: [kindOf(name)], warnings: tuned?.warnings ?? [], topK, lensName: tuned?.name ?? '' };
    await writeMessage(call, { frame: { $case: 'metadata', metadata: {
      first: metadata(s, first, extra), second: metadata(s, second, extra), positions: Math.min(first.ids.length, second.ids.length),
    } } });
    const [a, b] = await hiddenStates(s, [first.ids, second.ids], [...layers, L], signal);
    const [lens] = lensesToApply([name], tuned);
    for await (const pos of s.predictor.compare(a, b, { layers, lens, topK }) as AsyncGenerator<PositionComparison>) {
      if (call.cancelled) return;
      await writeMessage(call, { frame: { $case: 'position', position: {
        position: pos.position,
        cells: pos.cells.map((c) => ({
          layer: c.layer, kl: c.kl, js: c.js, totalVariation: c.tv,
          largestDeltas: c.largestDeltas.map((x) => ({ id: x.id, text: s.vocab[x.id], delta: x.delta })),
        })),
      } } });
      deps.metrics.positions.inc({ rpc: 'Compare' });
    }
    await writeMessage(call, { frame: { $case: 'done', done: { seconds: (performance.now() - t0) / 1000 } } });
  });
}

export async function handleListLenses(_call: ServerUnaryCall<lensV1.ListLensesRequest, lensV1.ListLensesResponse>, deps: LensServiceDeps): Promise<lensV1.ListLensesResponse> {
  let s: ModelState | undefined;
  let why = '';
  try {
    s = await modelOf(deps);
  } catch (err) {
    if (!(err instanceof RpcError) && typeof (err as { code?: unknown }).code !== 'number') throw err;
    why = errorText(err);
  }
  const model = s ? identityOf(s) : undefined;
  const lenses: lensV1.LensInfo[] = [{
    kind: LensKind.LENS_KIND_LOGIT, name: 'logit', numLayers: model?.numLayers ?? 0, dModel: model?.dModel ?? 0,
    unembedHash: model?.unembedHash ?? '', compatible: Boolean(model), reason: model ? '' : why, baseModel: model?.modelName ?? '',
  }];
  for (const l of deps.lenses.list(model)) {
    lenses.push({
      kind: LensKind.LENS_KIND_TUNED, name: l.name, numLayers: l.config?.numHiddenLayers ?? 0, dModel: l.config?.dModel ?? 0,
      unembedHash: l.config?.unembedSha256 ?? '', compatible: l.compatible, reason: l.reason, baseModel: l.config?.baseModelNameOrPath ?? '',
    });
  }
  return { lenses };
}
