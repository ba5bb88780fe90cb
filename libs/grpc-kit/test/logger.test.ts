// Both log formats carry the same record; the JSON one parses line by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/logger';

test('json format: one parseable object a line with time, level, component, msg and the fields', () => {
  const lines: string[] = [];
  const log = createLogger('activation', { format: 'json', level: 'debug', write: (l) => lines.push(l) });
  log.child('job 7').warn('endpoint benched', { endpoint: '10.0.0.3:50051', backoffMs: 2000, error: new Error('no answer'), skipped: undefined, msg: 'not the message' });
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]);
  assert.equal(record.level, 'warn');
  assert.equal(record.component, 'activation/job 7');
  assert.equal(record.msg, 'endpoint benched', 'a field named msg does not overwrite the message');
  assert.equal(record.endpoint, '10.0.0.3:50051');
  assert.equal(record.backoffMs, 2000);
  assert.equal(record.error, 'no answer');
  assert.ok(!('skipped' in record));
  assert.ok(!Number.isNaN(Date.parse(record.time)));
});

test('text format (the default): time LEVEL component: msg key=value, quoted where needed; levels below the minimum are dropped', () => {
  const lines: string[] = [];
  const log = createLogger('tokenizer', { level: 'info', write: (l) => lines.push(l) });
  log.debug('hidden');
  log.info('loaded', { vocab: 4096, dir: '/models/small lm' });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\S+Z INFO  tokenizer: loaded vocab=4096 dir="\/models\/small lm"$/);
});

test('TUNED_LENS_LOG_FORMAT=json selects the json format when no option is given', () => {
  const before = process.env.TUNED_LENS_LOG_FORMAT;
  process.env.TUNED_LENS_LOG_FORMAT = 'json';
  try {
    const lines: string[] = [];
    createLogger('x', { write: (l) => lines.push(l) }).info('hi');
    assert.equal(JSON.parse(lines[0]).msg, 'hi');
  } finally {
    if (before === undefined) delete process.env.TUNED_LENS_LOG_FORMAT;
    else process.env.TUNED_LENS_LOG_FORMAT = before;
  }
});
