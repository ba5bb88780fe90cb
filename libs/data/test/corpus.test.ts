// Reading jsonl / jsonl.zst corpora: streaming, blank lines, text key, exact file:line errors.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valCorpus } from '@tuned-lens/fixtures';
import { CorpusError, LineSplitter, readCorpus, type ReadCorpusOptions } from '@tuned-lens/data';

const dir = mkdtempSync(join(tmpdir(), 'tl-corpus-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
/** Writes `content` to a fresh temp file named `name` and returns its path. */
function file(content: string | Uint8Array, name = `corpus${++fileCount}.jsonl`): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function readAll(path: string, options?: ReadCorpusOptions): Promise<string[]> {
  const docs: string[] = [];
  for await (const d of readCorpus(path, options)) docs.push(d);
  return docs;
}

/** The obvious whole-file reading, as the oracle for the streamed one. */
const valDocs: string[] = readFileSync(valCorpus, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l).text);

describe('reading jsonl', () => {
  test('val.jsonl: every document, in order, identical to a whole-file parse', async () => {
    const docs = await readAll(valCorpus);
    assert.equal(docs.length, 1035);
    assert.ok(docs[0].startsWith('Genesis 31'));
    assert.deepEqual(docs, valDocs);
  });

  test('small reads (lines split across reads) change nothing', async () => {
    assert.deepEqual(await readAll(valCorpus, { chunkBytes: 997 }), valDocs);
  });

  test('reads of 1..5 bytes split multi-byte characters and lines anywhere; nothing changes', async () => {
    const docs = ['naïve café', '日本語のテキスト', 'emoji 😀👍🏽', '', 'a\nb'];
    const path = file(docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    for (let chunkBytes = 1; chunkBytes <= 5; chunkBytes++) assert.deepEqual(await readAll(path, { chunkBytes }), docs);
  });

  test('blank and whitespace-only lines are skipped; CRLF and a missing final newline are fine', async () => {
    const path = file('\n{"text": "a"}\r\n\n   \n{"text": "b"}\n\t\n{"text": "c é"}');
    assert.deepEqual(await readAll(path), ['a', 'b', 'c é']);
  });

  test('a byte-order mark at the start of the file is ignored', async () => {
    assert.deepEqual(await readAll(file('\uFEFF{"text": "a"}\n')), ['a']);
  });

  test('configurable text key; other fields are ignored', async () => {
    const path = file('{"body": "x", "text": 1}\n{"body": "y", "meta": {"source": "s"}}\n');
    assert.deepEqual(await readAll(path, { textKey: 'body' }), ['x', 'y']);
  });

  test('empty documents are kept (they are valid records)', async () => {
    assert.deepEqual(await readAll(file('{"text": ""}\n{"text": "a"}\n')), ['', 'a']);
  });

  test('stopping early releases the file', async () => {
    for await (const d of readCorpus(valCorpus)) {
      assert.ok(d.length > 0);
      break;
    }
  });
});

describe('errors name file and 1-based line', () => {
  /** Reads `content` and expects a CorpusError with exactly `message` after `path:line: `. */
  async function expectError(content: string | Uint8Array, line: number, message: string, options?: ReadCorpusOptions) {
    const path = file(content);
    const seen: string[] = [];
    await assert.rejects(
      (async () => { for await (const d of readCorpus(path, options)) seen.push(d); })(),
      (e: unknown) => {
        assert.ok(e instanceof CorpusError, String(e));
        assert.equal(e.kind, 'invalid');
        assert.equal(e.file, path);
        assert.equal(e.line, line);
        assert.equal(e.message, `${path}:${line}: ${message}`);
        return true;
      },
    );
    return seen;
  }
  const parserMessage = (s: string) => { try { JSON.parse(s); } catch (e) { return (e as Error).message; } throw new Error('parsed'); };

  test('not valid JSON, with the parser message; earlier documents were already streamed', async () => {
    const seen = await expectError('{"text": "a"}\n\n{"text": "b"}\n{"text": oops}\n{"text": "c"}\n', 4, `not valid JSON (${parserMessage('{"text": oops}')})`);
    assert.deepEqual(seen, ['a', 'b']);
  });
  test('a JSON value that is not an object', async () => {
    await expectError('{"text": "a"}\n["text"]\n', 2, 'expected a JSON object, got an array');
    await expectError('"just a string"\n', 1, 'expected a JSON object, got a string');
    await expectError('null\n', 1, 'expected a JSON object, got null');
  });
  test('text field missing', async () => {
    await expectError('{"text": "a"}\n{"text": "b"}\n{"content": "c"}\n', 3, 'has no string field "text" (the field is missing)');
  });
  test('text field not a string', async () => {
    await expectError('{"text": 17}\n', 1, 'has no string field "text" (it is a number)');
    await expectError('{"text": null}\n', 1, 'has no string field "text" (it is null)');
    await expectError('{"body": "a"}\n{"body": ["x"]}\n', 2, 'has no string field "body" (it is an array)', { textKey: 'body' });
  });
  test('invalid UTF-8 on a line', async () => {
    const bytes = Buffer.concat([Buffer.from('{"text": "a"}\n{"text": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
    await expectError(bytes, 2, 'not valid UTF-8');
  });
  test('the last line without newline is numbered too', async () => {
    await expectError('{"text": "a"}\n{"text": 1}', 2, 'has no string field "text" (it is a number)');
  });
  test('missing file: not_found', async () => {
    const path = join(dir, 'nope.jsonl');
    await assert.rejects(readAll(path), (e: unknown) => {
      assert.ok(e instanceof CorpusError);
      assert.equal(e.kind, 'not_found');
      assert.equal(e.line, undefined);
      assert.equal(e.message, `${path}: corpus file not found`);
      return true;
    });
  });
  test('a folder instead of a file: invalid', async () => {
    await assert.rejects(readAll(dir), (e: unknown) => e instanceof CorpusError && e.kind === 'invalid' && e.message.startsWith(`${dir}: cannot read the corpus (EISDIR`));
  });
});

describe('jsonl.zst', () => {
  const zstd = '/usr/bin/zstd';
  const skip = existsSync(zstd) ? false : `zstd CLI not found at ${zstd}: cannot create compressed fixtures`;
  const compress = (input: string, output: string, ...flags: string[]) => {
    const r = spawnSync(zstd, ['-q', '-f', ...flags, input, '-o', output]);
    assert.equal(r.status, 0, `zstd failed: ${r.stderr}`);
    return output;
  };

  test('a compressed val.jsonl yields exactly the documents of the plain file', { skip }, async () => {
    const zst = compress(valCorpus, join(dir, 'val.jsonl.zst'), '-19');
    assert.ok(statSync(zst).size < statSync(valCorpus).size / 2);
    assert.deepEqual(await readAll(zst), valDocs);
    assert.deepEqual(await readAll(zst, { chunkBytes: 100 }), valDocs); // frames split across reads
  });

  test('several concatenated frames (as `cat a.zst b.zst`) and no checksum', { skip }, async () => {
    const a = compress(file('{"text": "a"}\n{"text": "b"}\n'), join(dir, 'a.zst'), '--no-check');
    const b = compress(file('{"text": "c"}\n'), join(dir, 'b.zst'));
    const both = file(Buffer.concat([readFileSync(a), readFileSync(b)]), 'both.jsonl.zst');
    assert.deepEqual(await readAll(both), ['a', 'b', 'c']);
  });

  test('line errors inside a compressed file keep their line numbers', { skip }, async () => {
    const zst = compress(file('{"text": "a"}\n\n{"text": 5}\n'), join(dir, 'bad.jsonl.zst'));
    await assert.rejects(readAll(zst), (e: unknown) => e instanceof CorpusError && e.message === `${zst}:3: has no string field "text" (it is a number)`);
  });

  test('a truncated or non-zstd .zst file is an invalid corpus naming the file', { skip }, async () => {
    const cut = compress(valCorpus, join(dir, 'cut.jsonl.zst'));
    truncateSync(cut, Math.floor(statSync(cut).size / 2));
    await assert.rejects(readAll(cut), (e: unknown) => e instanceof CorpusError && e.kind === 'invalid' && e.message.startsWith(`${cut}: not a valid zstd stream (`));
    const fake = file('{"text": "not compressed"}\n', 'plain.jsonl.zst');
    await assert.rejects(readAll(fake), (e: unknown) => e instanceof CorpusError && e.message.startsWith(`${fake}: not a valid zstd stream (`));
  });

  test('compression can be forced regardless of the name', { skip }, async () => {
    const zst = compress(file('{"text": "z"}\n'), join(dir, 'no-suffix.data'));
    assert.deepEqual(await readAll(zst, { zstd: true }), ['z']);
  });
});

describe('LineSplitter', () => {
  test('lines across chunk boundaries, numbered from 1', () => {
    const s = new LineSplitter();
    const enc = (t: string) => new TextEncoder().encode(t);
    const out = [...s.push(enc('ab')), ...s.push(enc('c\nd')), ...s.push(enc('\n\ne')), ...s.push(enc('f')), ...s.end()];
    assert.deepEqual(out.map((l) => [l.number, new TextDecoder().decode(l.bytes)]), [[1, 'abc'], [2, 'd'], [3, ''], [4, 'ef']]);
  });
  test('no trailing line when the input ends with a newline', () => {
    const s = new LineSplitter();
    assert.equal(s.push(new TextEncoder().encode('a\n')).length, 1);
    assert.deepEqual(s.end(), []);
  });
});
