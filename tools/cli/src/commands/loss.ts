/**
 * `tuned-lens loss`: the model's own next-token cross-entropy on a corpus, chunked like
 * the original tuned lens, computed through the tokenizer and activation services.
 * (The evaluation service reports the same number as its "baseline" row.)
 */
import { dirname, resolve, basename } from 'node:path';
import { ActivationClient, TokenizerClient, type TokenBatchInput } from '@tuned-lens/clients';
import { intOption, parse, UsageError, existingFile, existingModelDir } from '../args';
import { engineOption, startBoth, startEmbeddedActivation, startEmbeddedTokenizer } from '../embedded';
import { Progress } from '../progress';

const help = `usage: tuned-lens loss --model DIR --data CORPUS.jsonl [--max-seq-len N] [--batch-size N] [--engine NAME]

Mean next-token cross-entropy (nats/token, and bits/byte) of the model on the corpus:
documents joined with EOS in groups of 2048, cut into max-seq-len chunks (capped by the
model's context), each chunk scored at positions 0..T-2 against the next token.`;

/** Adds the cross-entropy of every position but the last of each row; returns [sum, count]. */
export function nextTokenCrossEntropy(logits: Float32Array, ids: Int32Array, batch: number, seq: number, vocab: number): [number, number] {
  let sum = 0, count = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq - 1; t++) {
      const row = logits.subarray(((b * seq) + t) * vocab, ((b * seq) + t + 1) * vocab);
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) if (row[v] > max) max = row[v];
      let z = 0;
      for (let v = 0; v < vocab; v++) z += Math.exp(row[v] - max);
      sum += max + Math.log(z) - row[ids[b * seq + t + 1]];
      count++;
    }
  }
  return [sum, count];
}

export async function lossCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    'max-seq-len': { type: 'string' },
    'batch-size': { type: 'string' },
    engine: { type: 'string', default: 'auto' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  if (!values.model || !values.data) throw new UsageError('--model DIR and --data CORPUS are required (see --help)');
  const modelDir = existingModelDir(values.model), data = existingFile(values.data, 'data');
  const maxSeqLen = intOption(values['max-seq-len'], 'max-seq-len', 2048);
  const batchSize = intOption(values['batch-size'], 'batch-size', 8);
  const [tokSrv, actSrv] = await startBoth(
    startEmbeddedTokenizer(modelDir, [dirname(data)]),
    startEmbeddedActivation(modelDir, engineOption(values.engine)),
  );
  const tokenizer = new TokenizerClient(tokSrv.address);
  const activation = new ActivationClient(actSrv.address);
  try {
    const info = await activation.info();
    const progress = new Progress('scoring');
    let natsToBpb = NaN;
    const pending: TokenBatchInput[] = [];
    // Chunks arrive from the tokenizer; they go to the activation service in batches.
    async function* batches(): AsyncGenerator<TokenBatchInput> {
      let rows: Int32Array[] = [], id = 0, size = 0;
      for await (const ev of tokenizer.chunkAndTokenize({ corpusPath: basename(data), maxSeqLen: Math.min(maxSeqLen, info.contextLength) })) {
        if (ev.kind === 'summary') natsToBpb = ev.summary.natsToBpb;
        if (ev.kind !== 'chunks') continue;
        size = ev.batch.chunkSize;
        for (let r = 0; r < ev.batch.nChunks; r++) {
          rows.push(ev.batch.inputIds.slice(r * size, (r + 1) * size));
          if (rows.length === batchSize) { yield pack(rows, id++, size); rows = []; }
        }
      }
      if (rows.length) yield pack(rows, id++, size);
    }
    function pack(rows: Int32Array[], batchId: number, size: number): TokenBatchInput {
      const ids = new Int32Array(rows.length * size);
      rows.forEach((r, i) => ids.set(r, i * size));
      const b = { batchId, inputIds: ids, batch: rows.length, seq: size };
      pending.push(b);
      return b;
    }
    let sum = 0, count = 0;
    for await (const out of activation.extract(batches(), { layers: [info.numLayers], logits: true })) {
      const b = pending.shift()!;
      const [s, c] = nextTokenCrossEntropy(out.logits!, b.inputIds, b.batch, b.seq, info.vocabSize);
      sum += s; count += c;
      progress.update(`${count} positions, ${(sum / count).toFixed(4)} nats/token`);
    }
    progress.done();
    const nats = sum / count;
    console.log(`model:         ${info.modelName} (${info.architecture}, ${info.engine})`);
    console.log(`positions:     ${count}`);
    console.log(`cross-entropy: ${nats.toFixed(4)} nats/token, ${(nats * natsToBpb).toFixed(4)} bits/byte`);
  } finally {
    tokenizer.close();
    activation.close();
    await Promise.all([tokSrv.shutdown(1000), actSrv.shutdown(1000)]);
  }
  return 0;
}
