/**
 * Metric names referenced by a PromQL expression (alerts, dashboard panels, Grafana
 * variables, prometheus-adapter queries), and a parser of the Prometheus text format,
 * so the tests can check every name against what the services really expose.
 */

const KEYWORDS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2',
  'inf', 'nan',
]);
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
/** Keywords followed by a parenthesised list of label names. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Grafana's `label_values(metric{...}, label)` and `label_values(label)` forms. */
function grafanaQuery(expr: string): string {
  const m = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/s.exec(expr);
  if (m) return m[1];
  if (/^\s*label_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.test(expr)) return '';
  return expr;
}

export function metricNames(expr: string): string[] {
  let s = grafanaQuery(expr)
    // prometheus-adapter templates and Grafana variables
    .replace(/<<\.Series>>/g, ' __adapter_series__ ')
    .replace(/<<[^>]*>>/g, '')
    .replace(/\$\{[^}]*\}|\$__[a-zA-Z_]+|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\]/g, 'x');
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // strings
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/\boffset\s+-?[0-9a-z]+/gi, ' '); // offset 15m
  s = s.replace(/#.*$/gm, ''); // comments
  const tokens = [...s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?|[()]|[^\sa-zA-Z0-9_:()]+/gi)].map((m) => m[0]);
  const names = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(t)) continue;
    const lower = t.toLowerCase();
    if (LABEL_LISTS.has(lower) && tokens[i + 1] === '(') {
      while (i < tokens.length && tokens[i] !== ')') i++;
      continue;
    }
    if (KEYWORDS.has(lower)) continue;
    if (tokens[i + 1] === '(') continue; // a function call
    if (AGGREGATIONS.has(lower) && LABEL_LISTS.has(tokens[i + 1]?.toLowerCase())) continue; // sum by (...) (...)
    if (/^\d/.test(t)) continue;
    if (t === 'x' || t === '__adapter_series__') continue;
    names.add(t);
  }
  return [...names].sort();
}

/** Sample names a metric family of `type` exposes. */
export function sampleNames(family: string, type: string): string[] {
  if (type === 'histogram') return [family, `${family}_bucket`, `${family}_sum`, `${family}_count`];
  if (type === 'summary') return [family, `${family}_sum`, `${family}_count`];
  return [family];
}

export interface Exposition {
  /** family name -> type, from the # TYPE lines (families with no sample yet included). */
  families: Map<string, string>;
  /** Every sample name a query may use (histogram _bucket/_sum/_count included). */
  names: Set<string>;
  /** Parsed samples: name, labels, value. */
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

export function parseExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const names = new Set<string>();
  const samples: Exposition['samples'] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      families.set(type[1], type[2]);
      for (const n of sampleNames(type[1], type[2])) names.add(n);
      continue;
    }
    if (line.startsWith('#') || !line.trim()) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    names.add(m[1]);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { families, names, samples };
}
