/**
 * `tuned-lens <command> [options]`. Results go to stdout, progress and logs to stderr;
 * exit code 0 on success, 1 on failure, 2 on a usage error.
 */
import { status, type Level } from '@tuned-lens/grpc-kit';
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
    'usage: tuned-lens [--log-level DEBUG|INFO|WARNING|ERROR] <command> [options]   (tuned-lens <command> --help for its options)',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** The original's log levels (DEBUG, INFO, WARNING, ERROR) as ours. */
const LOG_LEVELS: Record<string, Level> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error' };

/**
 * Takes the global `--log-level LEVEL` (also `--log_level`, `=LEVEL`) out of argv, before
 * or after the command name as the original allows, and applies it to the services this
 * process starts. Returns the rest of argv.
 */
function takeLogLevel(argv: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (flag !== '--log-level' && flag !== '--log_level') { rest.push(argv[i]); continue; }
    const value = inline ?? argv[++i];
    const level = value === undefined ? undefined : LOG_LEVELS[value.toLowerCase()];
    if (!level) throw new UsageError(`--log-level must be one of DEBUG, INFO, WARNING, ERROR, got ${value === undefined ? 'nothing' : `"${value}"`}`);
    setEmbeddedLogLevel(level);
  }
  return rest;
}

export async function main(argv: string[]): Promise<number> {
  try {
    argv = takeLogLevel(argv);
  } catch (err) {
    console.error(`tuned-lens: ${(err as Error).message}`);
    return 2;
  }
  const [name, ...rest] = argv;
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
