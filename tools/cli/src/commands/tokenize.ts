/**
 * `tuned-lens tokenize`: encode texts, decode ids, or chunk a corpus the way the original
 * tuned lens does, through the tokenizer service (embedded on loopback unless
 * --endpoint names a running one).
 */
import { basename, dirname, resolve } from 'node:path';
import { TokenizerClient } from '@tuned-lens/clients';
import { clientTlsFromEnv } from '@tuned-lens/grpc-kit';
import { intOption, parse, UsageError } from '../args';
import { defaults, startEmbeddedTokenizer } from '../embedded';
import { Progress } from '../progress';

const help = `usage: tuned-lens tokenize (--text TEXT ... | --decode IDS | --file CORPUS) [options]

  --text TEXT          encode TEXT (repeatable); prints ids and tokens
  --decode IDS         decode comma-separated ids, e.g. 15496,995
  --file CORPUS        chunk a .jsonl / .jsonl.zst corpus like the original tuned-lens
                       pipeline and print the totals (chunks, tokens, bytes, nats_to_bpb)
  --max-seq-len N      chunk length before the tokenizer's own cap (default 2048)
  --docs-per-group N   documents tokenized together (default 2048, as the original)
  --text-key KEY       JSON field of the text (default "text")
  --add-special-tokens add the tokenizer's special tokens when encoding --text
  --tokenizer DIR      tokenizer folder for the embedded service (default: bundled small-lm)
  --endpoint HOST:PORT use a running tokenizer service; --file is then a path on that
                       server, inside its data roots
  --json               print JSON instead of text`;

export async function tokenizeCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    text: { type: 'string', multiple: true },
    decode: { type: 'string' },
    file: { type: 'string' },
    'max-seq-len': { type: 'string' },
    'docs-per-group': { type: 'string' },
    'text-key': { type: 'string' },
    'add-special-tokens': { type: 'boolean', default: false },
    tokenizer: { type: 'string' },
    endpoint: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  const modes = [values.text, values.decode, values.file].filter((v) => v !== undefined).length;
  if (modes !== 1) throw new UsageError('give exactly one of --text, --decode or --file (see --help)');
  const maxSeqLen = intOption(values['max-seq-len'], 'max-seq-len', 2048);
  const docsPerGroup = intOption(values['docs-per-group'], 'docs-per-group', 2048);
  const decodeIds = values.decode === undefined ? undefined : parseIds(values.decode);

  // Embedded: the corpus file's own folder is the data root, so any local file works.
  const localFile = values.file && !values.endpoint ? resolve(values.file) : undefined;
  const embedded = values.endpoint ? undefined
    : await startEmbeddedTokenizer(resolve(values.tokenizer ?? defaults.tokenizerDir), localFile ? [dirname(localFile)] : []);
  const client = new TokenizerClient(values.endpoint ?? embedded!.address, { tls: values.endpoint ? clientTlsFromEnv() : undefined });
  try {
    if (values.text) {
      const encodings = await client.encode(values.text, { addSpecialTokens: values['add-special-tokens'], returnTokens: true });
      if (values.json) console.log(JSON.stringify(encodings.map((e) => ({ ids: e.ids, tokens: e.tokens }))));
      else encodings.forEach((e, i) => {
        console.log(`text ${i}: ${e.ids.length} tokens`);
        console.log(`  ids:    ${e.ids.join(' ')}`);
        console.log(`  tokens: ${e.tokens.map((t) => JSON.stringify(t)).join(' ')}`);
      });
    } else if (decodeIds) {
      const [text] = await client.decode([decodeIds]);
      console.log(values.json ? JSON.stringify({ text }) : text);
    } else {
      const corpusPath = localFile ? basename(localFile) : values.file!;
      const progress = new Progress('chunking');
      let chunks = 0;
      for await (const ev of client.chunkAndTokenize({ corpusPath, maxSeqLen, docsPerGroup, textKey: values['text-key'] ?? '' })) {
        if (ev.kind === 'chunks') {
          chunks += ev.batch.nChunks;
          progress.update(`${chunks} chunks of ${ev.batch.chunkSize} tokens, ${ev.batch.documentsRead} documents`);
        } else if (ev.kind === 'summary') {
          progress.done();
          const s = ev.summary;
          if (values.json) console.log(JSON.stringify(s));
          else {
            console.log(`chunks:              ${s.chunks}`);
            console.log(`documents:           ${s.documents}`);
            console.log(`tokens:              ${s.totalTokens} (${s.droppedTailTokens} in dropped tails)`);
            console.log(`UTF-8 bytes:         ${s.totalBytes}`);
            console.log(`nats_to_bpb:         ${s.natsToBpb.toFixed(6)}`);
          }
        }
      }
    }
  } finally {
    client.close();
    await embedded?.shutdown(1000);
  }
  return 0;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UsageError('--decode needs comma-separated ids, e.g. 15496,995');
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n)) throw new UsageError(`--decode: "${p}" is not an integer id`);
    return n;
  });
}
