/**
 * `tuned-lens demo` (= `npm start`): the end-to-end slice on the bundled material with no
 * arguments. Today: start the tokenizer service on loopback, check its health and
 * reflection like a cluster probe would, chunk the bundled validation and training
 * corpora exactly as the original tuned lens does, and tokenize a sample sentence.
 * It grows into the whole pipeline (train, evaluate, plot) as the services land.
 */
import { basename } from 'node:path';
import { TokenizerClient } from '@tuned-lens/clients';
import { checkHealth, listServices } from '@tuned-lens/grpc-kit';
import { serviceNames } from '@tuned-lens/proto';
import { fixturesRoot, valCorpus, trainCorpus, smallLmDir } from '@tuned-lens/fixtures';
import { parse } from '../args';
import { startEmbeddedTokenizer } from '../embedded';
import { Progress } from '../progress';

const SAMPLE = 'The tuned lens reads what a transformer predicts at every layer.';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { help: { type: 'boolean', short: 'h' } });
  if (values.help) { console.log('usage: tuned-lens demo\n\nRuns the end-to-end slice on the bundled model tokenizer and corpus.'); return 0; }
  const t0 = Date.now();
  const server = await startEmbeddedTokenizer(smallLmDir, [fixturesRoot]);
  const client = new TokenizerClient(server.address);
  try {
    console.log(`tokenizer service on ${server.address}: ${await checkHealth(server.address, serviceNames.tokenizer)}`);
    console.log(`  services (reflection): ${(await listServices(server.address)).join(', ')}`);
    const info = await client.info();
    console.log(`  tokenizer ${info.name}: vocab ${info.vocabSize}, eos ${JSON.stringify(info.eosToken)} = ${info.eosTokenId}, context ${info.modelMaxLength}`);

    const [enc] = await client.encode([SAMPLE], { returnTokens: true });
    const [back] = await client.decode([enc.ids]);
    console.log(`\nsample: ${JSON.stringify(SAMPLE)}`);
    console.log(`  ${enc.ids.length} tokens: ${enc.tokens.map((t) => t.replaceAll('Ġ', '·')).join(' | ')}`);
    console.log(`  decodes back exactly: ${back === SAMPLE ? 'yes' : 'NO'}`);

    console.log('\ncorpora chunked like the original tuned lens (EOS-joined groups of 2048 documents, 256-token chunks, tails dropped):');
    console.log(`  ${'corpus'.padEnd(12)} ${'docs'.padStart(6)} ${'chunks'.padStart(7)} ${'tokens'.padStart(9)} ${'bytes'.padStart(10)} ${'nats_to_bpb'.padStart(11)} ${'tok/s'.padStart(8)}`);
    for (const corpus of [valCorpus, trainCorpus]) {
      const started = Date.now();
      const progress = new Progress(`  ${basename(corpus)}`);
      for await (const ev of client.chunkAndTokenize({ corpusPath: corpus, maxSeqLen: 2048 })) {
        if (ev.kind === 'chunks') progress.update(`${ev.batch.firstChunk + ev.batch.nChunks} chunks`);
        if (ev.kind !== 'summary') continue;
        const s = ev.summary;
        const secs = (Date.now() - started) / 1000;
        console.log(`  ${basename(corpus).padEnd(12)} ${String(s.documents).padStart(6)} ${String(s.chunks).padStart(7)} ${String(s.totalTokens).padStart(9)} ${String(s.totalBytes).padStart(10)} ${s.natsToBpb.toFixed(5).padStart(11)} ${Math.round(s.totalTokens / secs).toString().padStart(8)}`);
      }
    }
    console.log(`\ndone in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    client.close();
    await server.shutdown(1000);
  }
  return 0;
}
