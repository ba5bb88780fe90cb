/** Every metric name the deployment references, with where it is used. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { buildDashboard } from './dashboard';
import { metricNames } from './promql';
import { adapterValuesPath, prometheusRulePath } from './paths';

export interface MetricUse { name: string; where: string }

export function alertExpressions(): Array<{ alert: string; expr: string }> {
  const rule = parseYaml(readFileSync(prometheusRulePath, 'utf8'));
  return rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => ({ alert: r.alert ?? r.record, expr: String(r.expr) })));
}

export function dashboardExpressions(): Array<{ panel: string; expr: string }> {
  const d = buildDashboard() as any;
  const out: Array<{ panel: string; expr: string }> = [];
  for (const p of d.panels) for (const t of p.targets ?? []) out.push({ panel: p.title, expr: t.expr });
  for (const v of d.templating.list) if (v.type === 'query') out.push({ panel: `variable $${v.name}`, expr: v.query.query });
  return out;
}

export function adapterExpressions(): Array<{ rule: string; expr: string }> {
  const values = parseYaml(readFileSync(adapterValuesPath, 'utf8'));
  return values.rules.custom.flatMap((r: any) => [
    { rule: `${r.name.as} seriesQuery`, expr: r.seriesQuery },
    { rule: `${r.name.as} metricsQuery`, expr: r.metricsQuery },
  ]);
}

export function metricUses(): MetricUse[] {
  const uses: MetricUse[] = [];
  for (const a of alertExpressions()) for (const name of metricNames(a.expr)) uses.push({ name, where: `alert ${a.alert}` });
  for (const p of dashboardExpressions()) for (const name of metricNames(p.expr)) uses.push({ name, where: `dashboard: ${p.panel}` });
  for (const r of adapterExpressions()) for (const name of metricNames(r.expr)) uses.push({ name, where: `prometheus-adapter ${r.rule}` });
  return uses;
}
