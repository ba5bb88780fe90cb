/**
 * The micro-batches of a job in training order. An optimiser step covers
 * samples_per_step = tokens_per_step / seq_len sequences, in micro-batches of
 * per_gpu_batch_size (the last one of a step may be smaller); each micro-batch's hidden
 * states come from the activation pool, and its gradients count with weight
 * (its sequences / samples_per_step), so a step optimises the mean over its tokens.
 */
import { failedPrecondition } from '@tuned-lens/grpc-kit';
import type { MicroBatch } from '@tuned-lens/lens';
import type { ExtractedBatch } from '@tuned-lens/clients';
import type { PositionedChunk } from './dataFeed';

export interface StepPlan {
  /** 0-based step to start at (a resumed job's checkpoint step). */
  startStep: number;
  numSteps: number;
  samplesPerStep: number;
  batchSize: number;
  seqLen: number;
}

/** A micro-batch with where it belongs in the job. */
export interface PlannedMicroBatch extends MicroBatch {
  /** 0-based optimiser step it belongs to. */
  step: number;
  /** The step's gradients are complete after this one. */
  lastOfStep: boolean;
  /** Its share of the step: its sequences / samples_per_step. */
  weight: number;
  /** Data chunks consumed up to and including this micro-batch (checkpoint position). */
  position: number;
}

export interface HiddenStateSource {
  extract(inputIds: Int32Array, batch: number, seq: number): Promise<ExtractedBatch>;
}

export async function* microBatches(chunks: AsyncIterator<PositionedChunk>, pool: HiddenStateSource, plan: StepPlan, startPosition: number): AsyncGenerator<PlannedMicroBatch> {
  const { samplesPerStep, seqLen, numSteps } = plan;
  const needed = numSteps * samplesPerStep;
  let position = startPosition;
  for (let step = plan.startStep; step < numSteps; step++) {
    for (let done = 0; done < samplesPerStep;) {
      const rows: Int32Array[] = [];
      while (rows.length < Math.min(plan.batchSize, samplesPerStep - done)) {
        const next = await chunks.next();
        if (next.done) {
          throw failedPrecondition(`the data ran out after ${position} chunks of ${seqLen} tokens: ${numSteps} steps x ${samplesPerStep} sequences need ${needed} chunks (${needed * seqLen} tokens); give more data or fewer steps/tokens_per_step (the last checkpoint is kept)`);
        }
        rows.push(next.value.ids);
        position = next.value.position;
      }
      const inputIds = new Int32Array(rows.length * seqLen);
      rows.forEach((r, i) => inputIds.set(r, i * seqLen));
      const out = await pool.extract(inputIds, rows.length, seqLen);
      done += rows.length;
      yield {
        batch: rows.length, seq: seqLen, inputIds, hiddenStates: out.hiddenStates,
        step, lastOfStep: done === samplesPerStep, weight: rows.length / samplesPerStep, position,
      };
    }
  }
}
