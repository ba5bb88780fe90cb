// infra/monitoring: the dashboard is generated and clean, the alert rules load in
// Prometheus and behave as their unit tests say (promtool, when installed), and every
// query names metrics (checked against real scrapes in localCluster.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { buildDashboard, dashboardJson, dashboardPath, DASHBOARD_UID } from '../src/dashboard';
import { adapterExpressions, alertExpressions, dashboardExpressions } from '../src/metricUses';
import { metricNames } from '../src/promql';
import { alertTestsPath, prometheusRulePath } from '../src/paths';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const noPromtool = promtool ? false : 'promtool is not installed (Debian package "prometheus"): rule checks skipped';

test('the committed dashboard JSON is what tools/deploy/src/dashboard.ts generates (npm run gen:dashboard -w @tuned-lens/deploy-checks)', () => {
  assert.equal(readFileSync(dashboardPath, 'utf8'), dashboardJson());
});

test('dashboard: stable uid, a datasource variable used by every panel and query, unique ids, no overlapping panels, no UI state', () => {
  const d = buildDashboard() as any;
  assert.equal(d.uid, DASHBOARD_UID);
  assert.equal(d.id, undefined, 'no instance-specific id');
  assert.equal(d.templating.list[0].type, 'datasource');
  const ids = new Set<number>();
  const cells = new Set<string>();
  for (const p of d.panels) {
    assert.ok(!ids.has(p.id), `duplicate panel id ${p.id}`);
    ids.add(p.id);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel`);
        cells.add(`${x},${y}`);
      }
    }
    if (p.type === 'row') continue;
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    for (const t of p.targets) assert.deepEqual(t.datasource, p.datasource, p.title);
  }
  const text = JSON.stringify(d);
  for (const bad of ['hideFrom', 'DS_PROMETHEUS', '"datasource":null', '__inputs']) assert.ok(!text.includes(bad), `dashboard contains ${bad}`);
  const titles = d.panels.map((p: any) => p.title);
  for (const needed of ['Loss per layer (nats/token)', 'Training tokens/s', 'Step time', 'Calls by method', 'Errors by code', 'Latency p99 by method', 'Hidden states streamed', 'In-flight calls']) {
    assert.ok(titles.includes(needed), `panel "${needed}"`);
  }
});

test('every alert, panel, variable and adapter query names at least one metric', () => {
  for (const a of alertExpressions()) assert.ok(metricNames(a.expr).length > 0, a.alert);
  for (const p of dashboardExpressions()) assert.ok(metricNames(p.expr).length > 0, p.panel);
  const series = adapterExpressions().filter((r) => r.rule.endsWith('seriesQuery'));
  assert.ok(series.length > 0);
  for (const r of series) assert.ok(metricNames(r.expr).length > 0, r.rule);
});

function rulesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
  const rule = parseYaml(readFileSync(prometheusRulePath, 'utf8'));
  writeFileSync(join(dir, 'tuned-lens.rules.yaml'), stringify({ groups: rule.spec.groups }));
  copyFileSync(alertTestsPath, join(dir, 'alerts.test.yaml'));
  return dir;
}

test('promtool check rules: the PrometheusRule\'s groups load in Prometheus', { skip: noPromtool }, () => {
  const dir = rulesDir();
  const r = spawnSync('promtool', ['check', 'rules', join(dir, 'tuned-lens.rules.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 9 rules found/);
});

test('promtool test rules: each alert fires when it should and stays quiet when it should not', { skip: noPromtool }, () => {
  const dir = rulesDir();
  const r = spawnSync('promtool', ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // every alert of the rule file has a test
  const tested = new Set([...readFileSync(alertTestsPath, 'utf8').matchAll(/alertname: (\S+)/g)].map((m) => m[1]));
  for (const a of alertExpressions()) assert.ok(tested.has(a.alert), `no promtool test for ${a.alert}`);
});

test('every alert has a runbook_url into docs/runbook.md, and the runbook has a section for it', () => {
  const runbook = readFileSync(new URL('../../../docs/runbook.md', import.meta.url), 'utf8');
  const anchors = new Set([...runbook.matchAll(/^## (\S+)$/gm)].map((m) => m[1].toLowerCase()));
  const rule = parseYaml(readFileSync(prometheusRulePath, 'utf8'));
  for (const group of rule.spec.groups) {
    for (const r of group.rules) {
      if (!r.alert) continue;
      const url: string | undefined = r.annotations?.runbook_url;
      assert.ok(url, `${r.alert} has a runbook_url`);
      const m = /\/docs\/runbook\.md#([a-z0-9-]+)$/.exec(url!);
      assert.ok(m, `${r.alert}: runbook_url ${url} points into docs/runbook.md`);
      assert.equal(m![1], r.alert.toLowerCase(), `${r.alert}: the anchor is the alert's name`);
      assert.ok(anchors.has(m![1]), `docs/runbook.md has a "## ${r.alert}" section`);
    }
  }
});
