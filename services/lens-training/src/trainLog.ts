/**
 * OUTPUT/train_log.jsonl: one JSON line per optimiser step, the record users keep of a
 * run (the fixtures' reference lens ships the same kind of file). The same numbers are
 * what WatchJob streams.
 *
 * Each line is appended whole with one write, so a crash leaves at most one partial last
 * line. A resumed job first rewrites the file (atomically) to the lines of the steps its
 * checkpoint holds, dropping a partial line and the steps the interrupted run did after
 * that checkpoint, then appends: the file always describes the lens that gets written.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '@tuned-lens/formats';

export interface TrainLogRecord {
  /** 0-based optimiser step, as the reference's log. */
  step: number;
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  /** Mean loss per layer over the step's tokens, nats (KL or CE per `loss`). */
  loss_nats: number[];
  /** The same in bits per byte of the corpus's text (null until the ratio is known). */
  loss_bpb: number[] | null;
  loss: 'kl' | 'ce';
  /** Frobenius norm of all translator weights / biases after the step. */
  weight_norm: number;
  bias_norm: number;
  tokens_per_s: number;
  step_seconds: number;
  /** Seconds since this run started training (a resumed run counts from its resume). */
  elapsed_seconds: number;
  tokens_seen: number;
}

export class TrainLog {
  constructor(readonly file: string) {}

  /** Keeps the complete lines of steps < `steps` (a checkpoint's step count), drops the rest. */
  truncateTo(steps: number): void {
    if (!existsSync(this.file)) return;
    const kept = readFileSync(this.file, 'utf8').split('\n').filter((line) => {
      try {
        return (JSON.parse(line) as TrainLogRecord).step < steps;
      } catch {
        return false; // a partial or empty line
      }
    });
    const text = Buffer.from(kept.map((l) => l + '\n').join(''));
    writeFileAtomic(this.file, (sink) => sink.write(text));
  }

  /** Starts a fresh log (a job from step 0). */
  reset(): void {
    writeFileAtomic(this.file, () => undefined);
  }

  append(record: TrainLogRecord): void {
    appendFileSync(this.file, JSON.stringify(record) + '\n');
  }
}
