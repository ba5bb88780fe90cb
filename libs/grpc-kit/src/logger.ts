/**
 * One-line structured logs on stderr, stdout staying free for command output (the CLI
 * prints results there). Two formats of the same record (time, level, component,
 * message, fields):
 * - text (default): `time LEVEL component: msg key=value ...`, for a person at a terminal;
 * - json: one JSON object a line (`{"time","level","component","msg",...fields}`), for a
 *   cluster's log pipeline (Loki, Elasticsearch, Cloud Logging parse it without rules).
 * The format comes from the option, else TUNED_LENS_LOG_FORMAT (`json` | `text`); the
 * CLI's global `--log-format` sets that variable, so services it starts follow.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function formatText(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

/** A field value as JSON can hold it (an Error as its message, a bigint as a string). */
function jsonValue(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export interface LoggerOptions {
  level?: Level;
  format?: LogFormat;
  write?: (line: string) => void;
}

export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const envLevel = (process.env.TUNED_LENS_LOG_LEVEL ?? '').toLowerCase() as Level;
  const min = order[opts.level ?? (envLevel in order ? envLevel : 'info')];
  const format: LogFormat = opts.format ?? (process.env.TUNED_LENS_LOG_FORMAT?.toLowerCase() === 'json' ? 'json' : 'text');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const present = fields ? Object.entries(fields).filter(([, v]) => v !== undefined) : [];
    const time = new Date().toISOString();
    if (format === 'json') {
      // Fields first, so they cannot overwrite the record's own keys.
      const record: Record<string, unknown> = {};
      for (const [k, v] of present) record[k] = jsonValue(v);
      write(JSON.stringify({ ...record, time, level, component, msg }));
      return;
    }
    write(`${time} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}${present.map(([k, v]) => ` ${k}=${formatText(v)}`).join('')}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, { level: opts.level, format, write }),
  };
}
