/**
 * `tuned-lens eval`: the original `tuned-lens eval` through the services. The tokenizer,
 * activation and evaluation services start in this process on loopback (or
 * `--endpoint` names a running evaluation service); the evaluation service runs the job
 * and writes OUTPUT/aggregate_metrics.json (bits per byte, the original's layout) and
 * aggregate_metrics_nats.json; this prints progress and the per-layer table.
 */
import { basename, dirname, resolve } from 'node:path';
import { clientTlsFromEnv, createLogger, type Logger } from '@tuned-lens/grpc-kit';
import { EvaluationClient } from '@tuned-lens/clients';
import { followJob } from '../followJob';
import { evaluationV1 } from '@tuned-lens/proto';
import { startEvaluationServer, type EvaluationServer } from '@tuned-lens/evaluation-service';
import type { EngineChoice } from '@tuned-lens/engine';
import { intOption, parse, UsageError, existingFile, existingModelDir, existingDir } from '../args';
import { engineOption, startBoth, startEmbeddedActivation, startEmbeddedTokenizer } from '../embedded';
import { Progress } from '../progress';

const help = `usage: tuned-lens eval --model DIR --data FILE.jsonl [--lens DIR] --output DIR [options]

Evaluates the logit lens (and the tuned lens with --lens) at every layer as the original
tuned-lens eval does: per token the next-token cross-entropy, the entropy of the lens
distribution and KL(model || lens); averaged per batch, then over batches. Writes
OUTPUT/aggregate_metrics.json (bits per byte, the original's layout) and
aggregate_metrics_nats.json (nats per token), and prints the per-layer table.

  --model DIR               Hugging Face checkpoint folder with its tokenizer (also --model.name)
  --data FILE               corpus, jsonl or jsonl.zst in the Pile layout (also --data.name)
  --lens DIR                tuned lens folder: config.json + params.pt / params.safetensors
                            (also --lens-name, -l); without it only the logit lens
  --output DIR              folder for the results (-o)
  --max-seq-len N           tokens per chunk (default 2048, capped by the model's context)
  --tokens N                tokens to evaluate: tokens // (batch x seq) batches (default all)
  --per-gpu-batch-size N    sequences per batch (default 1, as the original)
  --layer-transfer          also translator i on hidden state j (CE and KL matrices)
  --record-logit-stats      also logit_stats.json (each layer's mean distribution)
  --engine NAME             auto, onnx or tfjs for the embedded services (default auto)
  --endpoint HOST:PORT      a running evaluation service instead; paths are then that
                            server's (data on its tokenizer server, lens and output in its roots)
  --json                    print the final status as JSON

Flags also take the original's underscore spelling (--max_seq_len, --layer_transfer).`;

/** The evaluation service on a loopback port with its upstreams and roots. */
export async function startEmbeddedEvaluation(opts: {
  activation?: string; tokenizer?: string; lensRoots?: string[]; defaultLens?: string; outputRoots?: string[]; engine: EngineChoice; logger?: Logger;
}): Promise<EvaluationServer> {
  return startEvaluationServer({
    activationEndpoint: opts.activation, tokenizerEndpoint: opts.tokenizer, lensRoots: opts.lensRoots, defaultLens: opts.defaultLens,
    outputRoots: opts.outputRoots, engine: opts.engine,
    logger: opts.logger ?? createLogger('evaluation', { level: (process.env.TUNED_LENS_LOG_LEVEL as 'info') ?? 'warn' }),
  });
}

const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4)).padStart(9);
const center = (t: string, w: number) => t.padStart(Math.floor((w + t.length) / 2)).padEnd(w);

/**
 * The per-layer table in nats per token or bits per byte: layer, then KL / CE / entropy
 * of each lens, then the model's own CE and entropy (the baseline).
 */
export function formatEvalTable(s: evaluationV1.EvalStatus, unit: 'nats' | 'bpb'): string {
  const rows = s.layers;
  const lenses = [...new Set(rows.map((r) => r.lens))];
  const L = Math.max(-1, ...rows.map((r) => r.layer)) + 1;
  const scale = unit === 'bpb' ? s.natsToBpb : 1;
  const groupW = 3 * 9 + 2;
  const lines = [
    unit === 'nats' ? 'nats per token' : 'bits per byte',
    `${'layer'.padEnd(6)}${lenses.map((l) => center(`${l} lens`, groupW)).join(' | ')}`,
    `${''.padEnd(6)}${lenses.map(() => ['KL', 'CE', 'entropy'].map((h) => h.padStart(9)).join(' ')).join(' | ')}`,
  ];
  for (let l = 0; l < L; l++) {
    lines.push(`${String(l).padEnd(6)}${lenses.map((lens) => {
      const r = rows.find((x) => x.lens === lens && x.layer === l);
      const v = r ? (unit === 'nats' ? [r.klNats, r.ceNats, r.entropyNats] : [r.klBpb, r.ceBpb, r.entropyBpb]) : [];
      return [v[0], v[1], v[2]].map(num).join(' ');
    }).join(' | ')}`);
  }
  lines.push(`${'model'.padEnd(6)}${[undefined, s.baselineCeNats * scale, s.baselineEntropyNats * scale].map(num).join(' ')}`);
  return lines.map((l) => l.trimEnd()).join('\n');
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    'model.name': { type: 'string' },
    data: { type: 'string' },
    'data.name': { type: 'string' },
    lens: { type: 'string' },
    'lens-name': { type: 'string', short: 'l' },
    output: { type: 'string', short: 'o' },
    'max-seq-len': { type: 'string' },
    tokens: { type: 'string' },
    'per-gpu-batch-size': { type: 'string' },
    'layer-transfer': { type: 'boolean', default: false },
    'record-logit-stats': { type: 'boolean', default: false },
    engine: { type: 'string', default: 'auto' },
    endpoint: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  const model = values.model ?? values['model.name'];
  const data = values.data ?? values['data.name'];
  const lens = values.lens ?? values['lens-name'];
  if (!data || !values.output || (!model && !values.endpoint)) throw new UsageError('--model DIR, --data FILE and --output DIR are required (see --help)');
  const config = evaluationV1.EvalConfig.fromPartial({
    maxSeqLen: intOption(values['max-seq-len'], 'max-seq-len', 2048, 2),
    tokens: intOption(values.tokens, 'tokens', 0, 0),
    perGpuBatchSize: intOption(values['per-gpu-batch-size'], 'per-gpu-batch-size', 1),
    layerTransfer: values['layer-transfer'],
    recordLogitStats: values['record-logit-stats'],
  });
  const engine = engineOption(values.engine);
  const started: Array<{ shutdown(ms?: number): Promise<void> }> = [];
  let address = values.endpoint;
  let outputDir = values.output;
  try {
    if (address) {
      Object.assign(config, { dataPath: data, lensPath: lens ?? '', outputPath: values.output });
    } else {
      const modelDir = existingModelDir(model!), dataFile = existingFile(data, 'data'), out = resolve(values.output);
      const lensDir = lens ? existingDir(lens, 'lens') : undefined;
      const [tok, act] = await startBoth(startEmbeddedTokenizer(modelDir, [dirname(dataFile)]), startEmbeddedActivation(modelDir, engine));
      started.push(tok, act);
      const ev = await startEmbeddedEvaluation({
        lensRoots: lensDir ? [dirname(lensDir)] : [], outputRoots: [dirname(out)], engine,
      });
      started.push(ev);
      address = ev.address;
      outputDir = out;
      Object.assign(config, {
        activationEndpoints: [act.address], tokenizerEndpoint: tok.address,
        dataPath: basename(dataFile), lensPath: lensDir ? basename(lensDir) : '', outputPath: basename(out),
      });
    }
    const client = new EvaluationClient(address, { tls: values.endpoint ? clientTlsFromEnv() : undefined });
    try {
      const evalId = await client.start(config);
      const progress = new Progress('evaluating');
      const last = await followJob(client, evalId, {
        onStatus: (s) => {
          if (s.batchesDone === 0) return;
          const total = s.tokensTotal ? `/${s.tokensTotal}` : '';
          const tps = s.elapsedSeconds > 0 ? `, ${Math.round(s.tokensDone / s.elapsedSeconds)} tok/s` : '';
          progress.update(`${s.tokensDone}${total} tokens, ${s.batchesDone} batches${tps}`);
        },
      });
      if (last.state !== evaluationV1.EvalState.EVAL_STATE_SUCCEEDED) {
        progress.done('stopped');
        const what = last.state === evaluationV1.EvalState.EVAL_STATE_CANCELLED ? 'cancelled' : 'failed';
        throw new Error(`evaluation ${what}: ${last.message}`);
      }
      progress.done(`${last.tokensDone} tokens`);
      if (values.json) {
        console.log(JSON.stringify(evaluationV1.EvalStatus.toJSON(last), null, 2));
        return 0;
      }
      console.log(`model:  ${last.modelName}`);
      console.log(`data:   ${data}: ${last.tokensDone} tokens in ${last.batchesDone} batches (${last.elapsedSeconds.toFixed(1)} s), nats_to_bpb ${last.natsToBpb.toFixed(5)}`);
      console.log(`lenses: logit${lens ? `, tuned (${lens})` : ''}`);
      if (last.message) console.log(`note:   ${last.message}`);
      console.log('');
      console.log(formatEvalTable(last, 'nats'));
      console.log('');
      console.log(formatEvalTable(last, 'bpb'));
      console.log('');
      console.log(`wrote ${last.outputFiles.map((f) => (values.endpoint ? f : f.replace(resolve(outputDir) + '/', `${outputDir.replace(/\/$/, '')}/`))).join(', ')}`);
      return 0;
    } finally {
      client.close();
    }
  } finally {
    await Promise.all(started.reverse().map((s) => s.shutdown(1000)));
  }
}
