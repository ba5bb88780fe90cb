/**
 * `tuned-lens <command> [options]`. Results go to stdout, progress and logs to stderr;
 * exit code 0 on success, 1 on failure, 2 on a usage error.
 */
import { readFileSync } from 'node:fs';
import { LOG_FORMATS, status, type Level } from '@tuned-lens/grpc-kit';
import { setEmbeddedLogLevel } from './embedded';
import { UsageError } from './args';
import { serveCommand } from './commands/serve';
import { tokenizeCommand } from './commands/tokenize';
import { healthCommand } from './commands/health';
import { demoCommand } from './commands/demo';
import { extractCommand } from './commands/extract';
import { lossCommand } from './commands/loss';
import { evalCommand } from './commands/eval';
import { predictCommand } from './commands/predict';
import { trainCommand } from './commands/train';

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  demo: { summary: 'run the end-to-end slice on the bundled model and corpus (what `npm start` runs)', run: demoCommand },
  serve: { summary: 'start services on loopback (or given) ports and print where they listen', run: serveCommand },
  tokenize: { summary: 'encode text or chunk a corpus through the tokenizer service', run: tokenizeCommand },
  extract: { summary: 'write every hidden state and the logits of one sequence to a safetensors file', run: extractCommand },
  train: { summary: 'train a tuned lens (the original recipe) through the services', run: trainCommand },
  loss: { summary: "the model's next-token cross-entropy on a corpus (nats/token, bits/byte)", run: lossCommand },
  eval: { summary: 'evaluate the logit and tuned lens per layer (KL, CE, entropy) -> aggregate_metrics.json', run: evalCommand },
  predict: { summary: 'what each layer predicts for a text: per-layer top-1 table, heatmap with --plot', run: predictCommand },
  health: { summary: 'ask a running server for its health and services', run: healthCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: tuned-lens [--log-level DEBUG|INFO|WARNING|ERROR] [--log-format text|json] <command> [options]   (tuned-lens <command> --help for its options)',
    '       tuned-lens --version',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** The original's log levels (DEBUG, INFO, WARNING, ERROR) as ours. */
const LOG_LEVELS: Record<string, Level> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error' };

/**
 * Takes the global flags out of argv, before or after the command name as the original
 * allows (`--flag VALUE`, `--flag=VALUE`, underscores for dashes):
 * - `--log-level LEVEL` applies to the services this process starts;
 * - `--log-format json|text` to every log line of this process and the processes it
 *   starts (through TUNED_LENS_LOG_FORMAT, which they inherit).
 * Returns the rest of argv.
 */
function takeGlobalFlags(argv: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [raw, inline] = argv[i].split(/=(.*)/s, 2);
    const flag = raw.replace(/_/g, '-');
    if (flag !== '--log-level' && flag !== '--log-format') { rest.push(argv[i]); continue; }
    const value = inline ?? argv[++i];
    const shown = value === undefined ? 'nothing' : `"${value}"`;
    if (flag === '--log-level') {
      const level = value === undefined ? undefined : LOG_LEVELS[value.toLowerCase()];
      if (!level) throw new UsageError(`--log-level must be one of DEBUG, INFO, WARNING, ERROR, got ${shown}`);
      setEmbeddedLogLevel(level);
      process.env.TUNED_LENS_LOG_LEVEL = level;
    } else {
      const format = LOG_FORMATS.find((f) => f === value?.toLowerCase());
      if (!format) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got ${shown}`);
      process.env.TUNED_LENS_LOG_FORMAT = format;
    }
  }
  return rest;
}

/** `tuned-lens-ts <version> (node <version>)`, from the repository's package.json. */
function versionLine(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version} (node ${process.versions.node})`;
}

export async function main(argv: string[]): Promise<number> {
  try {
    argv = takeGlobalFlags(argv);
  } catch (err) {
    console.error(`tuned-lens: ${(err as Error).message}`);
    return 2;
  }
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(versionLine());
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`tuned-lens: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tuned-lens ${name}: ${err.message}`);
      return 2;
    }
    const e = err as { code?: number; details?: string; message?: string };
    // gRPC errors carry a status code; show its name with the server's message.
    const detail = typeof e.code === 'number' && e.details !== undefined ? `${grpcCodeName(e.code)}: ${e.details}` : (e.message ?? String(err));
    console.error(`tuned-lens ${name}: ${detail}`);
    if (process.env.TUNED_LENS_DEBUG) console.error(err);
    return 1;
  }
}

function grpcCodeName(code: number): string {
  return Object.entries(status).find(([, v]) => v === code)?.[0] ?? `code ${code}`;
}
