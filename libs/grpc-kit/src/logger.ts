/**
 * One-line structured logs on stderr (`time level component msg key=value ...`), readable
 * by a person in a terminal and greppable in a cluster. stdout stays free for command
 * output (the CLI prints results there).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function format(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

export function createLogger(component: string, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const envLevel = (process.env.TUNED_LENS_LOG_LEVEL ?? '').toLowerCase() as Level;
  const min = order[opts.level ?? (envLevel in order ? envLevel : 'info')];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const kv = fields ? Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}=${format(v)}`).join('') : '';
    write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}${kv}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, { level: opts.level, write }),
  };
}
