// The `tuned-lens` command as a user runs it: the installed bin, a real process, real
// services on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { checkHealth } from '@tuned-lens/grpc-kit';
import { TokenizerClient } from '@tuned-lens/clients';
import { serviceNames } from '@tuned-lens/proto';
import { smallLmDir } from '@tuned-lens/fixtures';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'node_modules/.bin/tuned-lens');

function run(args: string[]) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the bin is installed and lists its commands', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0, r.err);
  for (const c of ['demo', 'serve', 'tokenize', 'health']) assert.match(r.out, new RegExp(`^  ${c} `, 'm'));
});

test('--version prints the package version; --log-format json makes every log line of the command and its services a JSON object', () => {
  const v = run(['--version']);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /^tuned-lens-ts \d+\.\d+\.\d+ \(node \d+\.\d+\.\d+\)\n$/);
  const r = run(['--log-format', 'json', '--log-level', 'INFO', 'tokenize', '--text', 'hello world']);
  assert.equal(r.code, 0, r.err);
  const lines = r.err.split('\n').filter(Boolean);
  assert.ok(lines.length > 0, 'the embedded tokenizer logged at INFO');
  for (const line of lines) {
    const record = JSON.parse(line);
    for (const k of ['time', 'level', 'component', 'msg']) assert.ok(k in record, `${k} in ${line}`);
  }
  assert.ok(lines.some((l) => JSON.parse(l).msg === 'listening'));
  const bad = run(['--log-format', 'xml', 'tokenize']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--log-format must be one of text, json, got "xml"/);
});

test('local paths are checked before any service starts, quoted as typed', () => {
  const empty = mkdtempSync(join(tmpdir(), 'not-a-model-'));
  const cases: Array<[string[], RegExp]> = [
    [['train', '--model', 'models/smal-lm', '--data', 'corpus.jsonl', '--output', join(empty, 'lens')], /^tuned-lens train: --model "models\/smal-lm": no such folder \(looked for \/.*models\/smal-lm\)$/m],
    [['train', '--model', smallLmDir, '--data', 'data/trian.jsonl', '--output', join(empty, 'lens')], /^tuned-lens train: --data "data\/trian\.jsonl": no such file/m],
    [['eval', '--model', empty, '--data', join(root, 'package.json'), '--output', join(empty, 'eval')], /--model ".*" has no config\.json: it is not a Hugging Face model folder/],
    [['loss', '--model', join(root, 'package.json'), '--data', 'x.jsonl'], /--model ".*package\.json" is a file; give the model's folder/],
    [['predict', '--model', 'no/such/model', '--text', 'hi'], /--model "no\/such\/model": no such folder/],
    [['extract', '--model', 'no/such/model', '--input-ids', '1,2'], /--model "no\/such\/model": no such folder/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.doesNotMatch(r.err, /listening|loading/i, 'no service was started');
  }
});

test('usage errors exit 2 with a readable message', () => {
  const unknown = run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"/);
  const badFlag = run(['tokenize', '--txet', 'hi']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.err, /Unknown option '--txet'[\s\S]*known options: .*--text/);
  const none = run(['tokenize']);
  assert.equal(none.code, 2);
  assert.match(none.err, /exactly one of --text, --decode or --file/);
});

test('tokenize --text and --decode through the embedded service', () => {
  const enc = run(['tokenize', '--text', 'Hello world', '--json']);
  assert.equal(enc.code, 0, enc.err);
  const [e] = JSON.parse(enc.out) as Array<{ ids: number[]; tokens: string[] }>;
  assert.ok(e.ids.length > 0);
  const dec = run(['tokenize', '--decode', e.ids.join(','), '--json']);
  assert.equal(dec.code, 0, dec.err);
  assert.equal(JSON.parse(dec.out).text, 'Hello world');
  const bad = run(['tokenize', '--decode', '1,99999']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /INVALID_ARGUMENT: sequences\[0\]: cannot decode token id 99999/);
});

test('tokenize --file chunks a local corpus; a bad line is reported with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const docs = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `Document ${i} says something about lenses and layers.` }));
  writeFileSync(join(dir, 'ok.jsonl'), docs.join('\n') + '\n');
  // underscore spelling of the original CLI is accepted
  const ok = run(['tokenize', '--file', join(dir, 'ok.jsonl'), '--max_seq_len', '32', '--json']);
  assert.equal(ok.code, 0, ok.err);
  const s = JSON.parse(ok.out) as { chunks: number; totalTokens: number; droppedTailTokens: number; documents: number };
  assert.equal(s.documents, 40);
  assert.equal(s.chunks * 32 + s.droppedTailTokens, s.totalTokens);
  writeFileSync(join(dir, 'bad.jsonl'), docs.slice(0, 3).join('\n') + '\n{"text": 5}\n');
  const bad = run(['tokenize', '--file', join(dir, 'bad.jsonl')]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /INVALID_ARGUMENT: bad\.jsonl:4: .*"text"/);
});

test('serve prints where it listens, serves, and drains on SIGTERM', async () => {
  const child = spawn(bin, ['serve', '--service', 'tokenizer', '--grace-ms', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`serve exited ${c}: ${stderr}`)));
  });
  const m = /^tokenizer grpc=(\S+) metrics=(\S+)$/.exec(line);
  assert.ok(m, line);
  const [, address, metricsUrl] = m;
  const deadline = Date.now() + 20_000;
  while ((await checkHealth(address, serviceNames.tokenizer).catch(() => 'DOWN')) !== 'SERVING') {
    assert.ok(Date.now() < deadline, 'tokenizer never became SERVING');
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = new TokenizerClient(address);
  const [enc] = await client.encode(['served']);
  assert.ok(enc.ids.length > 0);
  client.close();
  const metrics = await (await fetch(metricsUrl)).text();
  assert.match(metrics, /grpc_server_handled_total\{grpc_type="unary",grpc_service="tunedlens\.tokenizer\.v1\.TokenizerService",grpc_method="Encode",grpc_code="OK"\} 1/);
  assert.match(metrics, /process_resident_memory_bytes/);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(stderr, /draining/);
});
