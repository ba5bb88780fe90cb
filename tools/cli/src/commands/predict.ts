/**
 * `tuned-lens predict`: what the model predicts at each layer for a text, through the
 * LensService (tokenizer, activation and evaluation services embedded on loopback, or
 * `--endpoint` of a running evaluation service). Prints per lens the table of top-1
 * tokens (rows = layers 0..L-1 and the output, columns = positions) and per-layer
 * means; with --plot writes the prediction-trajectory heatmap as a self-contained HTML
 * or SVG file.
 */
import { writeFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { clientTlsFromEnv, createClient } from '@tuned-lens/grpc-kit';
import { lensV1 } from '@tuned-lens/proto';
import {
  formatTrajectoryTable, isTrajectoryStat, renderTrajectoryHtml, renderTrajectorySvg, rowLabel, TRAJECTORY_STATS,
  type Trajectory, type TrajectoryStat,
} from '@tuned-lens/lens';
import { intOption, parse, UsageError, existingModelDir, existingDir } from '../args';
import { engineOption, startBoth, startEmbeddedActivation, startEmbeddedTokenizer } from '../embedded';
import { startEmbeddedEvaluation } from './eval';
import { parseInputIds } from './extract';

const help = `usage: tuned-lens predict --model DIR [--lens DIR] --text "..." [options]

Runs the text through the model and shows what each layer predicts: per lens a table
with a row per layer (0..L-1, then the model's output) and a column per input position,
each cell the most probable next token; then per layer the mean cross-entropy of the
actual next token, KL to the model and how often the top-1 token is the next token.

  --model DIR           Hugging Face checkpoint folder with its tokenizer
  --text TEXT           the input (tokenized with the model's tokenizer)
  --ids IDS             token ids instead of text (comma-separated, or a JSON array file)
  --lens DIR            tuned lens folder; without it the logit lens
  --lenses LIST         logit, tuned or logit,tuned (default: tuned with --lens, else logit)
  --layers LIST         lensed layers, e.g. 0,2,4 (default all; the output row is always shown)
  --top-k N             tokens per cell in the plot's hover and in --json (default 10, at most 100)
  --plot FILE           write the heatmap: FILE.html (interactive, self-contained) or FILE.svg;
                        with two lenses one file each (FILE-logit.html, FILE-tuned.html)
  --stat NAME           the heatmap's colour: ${Object.keys(TRAJECTORY_STATS).join(', ')} (default entropy)
  --truncate            keep the last context-length tokens of a longer input (else an error)
  --prepend-bos         put the BOS token (EOS for GPT-2 style tokenizers) first
  --engine NAME         auto, onnx or tfjs for the embedded services (default auto)
  --endpoint HOST:PORT  a running evaluation service (--model is then ignored; --lens is a
                        folder inside that server's lens roots)
  --json                print the frames as JSON lines instead of tables
  --width N             table width before columns wrap (default: the terminal's, or 100)`;

function listOption(value: string | undefined, flag: string): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${flag}: give a comma-separated list`);
  return items;
}

const kindNames: Record<string, lensV1.LensKind> = { logit: lensV1.LensKind.LENS_KIND_LOGIT, tuned: lensV1.LensKind.LENS_KIND_TUNED };
const nameOfKind = (k: lensV1.LensKind) => (k === lensV1.LensKind.LENS_KIND_TUNED ? 'tuned' : k === lensV1.LensKind.LENS_KIND_LOGIT ? 'logit' : 'model');

/** Trajectories (one per lens) from the Predict frames. */
export function trajectoriesFromFrames(meta: lensV1.PredictMetadata, positions: lensV1.PositionFrame[]): Trajectory[] {
  const L = meta.numLayers;
  return meta.lenses.map((kind) => ({
    lens: nameOfKind(kind),
    modelName: meta.modelName,
    tokens: meta.tokens,
    tokenIds: meta.tokenIds,
    rows: meta.layers,
    numLayers: L,
    vocabSize: meta.vocabSize,
    cells: meta.layers.map((layer) => positions.map((p) => {
      const c = p.cells.find((x) => x.layer === layer && (layer === L ? x.lens === lensV1.LensKind.LENS_KIND_MODEL : x.lens === kind));
      if (!c) throw new Error(`position ${p.position} has no cell for lens ${nameOfKind(kind)} layer ${layer}`);
      return {
        top: c.top.map((t) => ({ id: t.id, text: t.text, prob: t.prob })),
        entropy: c.entropy, crossEntropy: c.crossEntropy, targetRank: c.targetRank, klToModel: c.klToModel, maxProb: c.maxProb,
      };
    })),
  }));
}

/** Per row: mean CE of the next token, mean KL to the model, share of positions whose top-1 is the next token. */
export function formatLayerSummary(t: Trajectory): string {
  const lines = [`${'layer'.padEnd(7)}${'CE'.padStart(8)}${'KL'.padStart(8)}${'entropy'.padStart(9)}${'top-1 = next'.padStart(14)}`];
  t.rows.forEach((layer, r) => {
    const cells = t.cells[r];
    const scored = cells.slice(0, -1);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    const ce = mean(scored.map((c) => c.crossEntropy));
    const kl = mean(cells.map((c) => c.klToModel));
    const ent = mean(cells.map((c) => c.entropy));
    const hits = scored.filter((c, p) => c.top[0]?.id === t.tokenIds[p + 1]).length;
    const f = (x: number, w: number) => (Number.isFinite(x) ? x.toFixed(3) : '-').padStart(w);
    lines.push(`${rowLabel(t, layer).padEnd(7)}${f(ce, 8)}${f(kl, 8)}${f(ent, 9)}${`${hits}/${scored.length}`.padStart(14)}`);
  });
  return lines.join('\n');
}

export async function predictCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    'model.name': { type: 'string' },
    text: { type: 'string' },
    ids: { type: 'string' },
    lens: { type: 'string' },
    'lens-name': { type: 'string', short: 'l' },
    lenses: { type: 'string' },
    layers: { type: 'string' },
    'top-k': { type: 'string' },
    plot: { type: 'string' },
    stat: { type: 'string', default: 'entropy' },
    truncate: { type: 'boolean', default: false },
    'prepend-bos': { type: 'boolean', default: false },
    engine: { type: 'string', default: 'auto' },
    endpoint: { type: 'string' },
    json: { type: 'boolean', default: false },
    width: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  const model = values.model ?? values['model.name'];
  const lens = values.lens ?? values['lens-name'];
  if (!model && !values.endpoint) throw new UsageError('--model DIR is required (see --help)');
  if (!values.endpoint) {
    existingModelDir(model!);
    if (lens) existingDir(lens, 'lens');
  }
  if ((values.text === undefined) === (values.ids === undefined)) throw new UsageError('give exactly one of --text or --ids');
  if (!isTrajectoryStat(values.stat)) throw new UsageError(`--stat must be one of ${Object.keys(TRAJECTORY_STATS).join(', ')}, got "${values.stat}"`);
  const stat: TrajectoryStat = values.stat;
  const lenses = listOption(values.lenses, 'lenses').map((n) => {
    const k = kindNames[n];
    if (k === undefined) throw new UsageError(`--lenses: "${n}" is not a lens; use logit and/or tuned`);
    return k;
  });
  if (lenses.includes(lensV1.LensKind.LENS_KIND_TUNED) && !lens && !values.endpoint) throw new UsageError('--lenses tuned needs --lens DIR');
  const layers = listOption(values.layers, 'layers').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n)) throw new UsageError(`--layers: "${x}" is not a layer number`);
    return n;
  });
  const topK = intOption(values['top-k'], 'top-k', 10);
  if (values.plot && !['.html', '.svg'].includes(extname(values.plot).toLowerCase())) throw new UsageError('--plot FILE must end in .html or .svg');
  const width = intOption(values.width, 'width', process.stdout.columns || 100, 20);
  const engine = engineOption(values.engine);
  const input: lensV1.PredictInput = values.text !== undefined
    ? { kind: { $case: 'text', text: values.text } }
    : { kind: { $case: 'tokenIds', tokenIds: { ids: parseInputIds(values.ids!) } } };

  const started: Array<{ shutdown(ms?: number): Promise<void> }> = [];
  try {
    let address = values.endpoint;
    let lensPath = lens ?? '';
    if (!address) {
      const modelDir = resolve(model!);
      const lensDir = lens ? resolve(lens) : undefined;
      const [tok, act] = await startBoth(startEmbeddedTokenizer(modelDir, []), startEmbeddedActivation(modelDir, engine));
      started.push(tok, act);
      const ev = await startEmbeddedEvaluation({ activation: act.address, tokenizer: tok.address, lensRoots: lensDir ? [dirname(lensDir)] : [], engine });
      started.push(ev);
      address = ev.address;
      lensPath = lensDir ? basename(lensDir) : '';
    }
    const client = createClient(lensV1.LensServiceClient, address, { tls: values.endpoint ? clientTlsFromEnv() : undefined });
    const req = lensV1.PredictRequest.fromPartial({ input, lenses, layers, topK, truncate: values.truncate, lensPath, prependBos: values['prepend-bos'] });
    let meta: lensV1.PredictMetadata | undefined;
    const positions: lensV1.PositionFrame[] = [];
    try {
      const call = client.predict(req, { deadline: new Date(Date.now() + 600_000) });
      for await (const res of call as AsyncIterable<lensV1.PredictResponse>) {
        const f = res.frame!;
        if (values.json) console.log(JSON.stringify(lensV1.PredictResponse.toJSON(res)));
        if (f.$case === 'metadata') meta = f.metadata;
        else if (f.$case === 'position') positions.push(f.position);
      }
    } finally {
      client.close();
    }
    if (!meta) throw new Error('the lens service sent no metadata');
    for (const w of meta.warnings) console.error(`warning: ${w}`);
    const trajectories = trajectoriesFromFrames(meta, positions);
    if (!values.json) {
      console.log(`model: ${meta.modelName}, ${meta.numLayers} layers; ${meta.tokenIds.length} tokens${meta.truncated ? ` (the first ${meta.truncatedTokens} cut off)` : ''}`);
      for (const t of trajectories) {
        console.log('');
        console.log(`${t.lens} lens${t.lens === 'tuned' && meta.lensName ? ` (${meta.lensName})` : ''}: top-1 prediction per layer (rows) and position (columns)`);
        console.log(formatTrajectoryTable(t, { width }));
        console.log('');
        console.log(formatLayerSummary(t));
      }
    }
    if (values.plot) {
      const ext = extname(values.plot);
      for (const t of trajectories) {
        const file = trajectories.length > 1 ? values.plot.slice(0, -ext.length) + `-${t.lens}` + ext : values.plot;
        const title = `Prediction trajectory: ${t.lens} lens${t.lens === 'tuned' && meta.lensName ? ` (${meta.lensName})` : ''}, ${t.modelName}`;
        writeFileSync(file, ext.toLowerCase() === '.svg' ? renderTrajectorySvg(t, { stat, title }) : renderTrajectoryHtml(t, { stat, title, hoverTopK: topK }));
        console.error(`wrote ${file}`);
      }
    }
    return 0;
  } finally {
    await Promise.all(started.reverse().map((s) => s.shutdown(1000)));
  }
}
