/**
 * Training stopped because a number stopped being finite: a layer's loss, the gradient
 * norm, or the translator weights after an update. The trainer checks before the bad
 * value is used or saved, so every checkpoint stays finite; `quantity` says which check
 * fired (a job's message advises differently for each). It crosses the trainer thread
 * with its name and `quantity` intact (grpc-kit's WorkerChannel keeps an error's fields).
 */
export type NonFiniteQuantity = 'loss' | 'gradient' | 'weights';

export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';

  constructor(readonly quantity: NonFiniteQuantity, message: string) {
    super(message);
  }
}

/** `err` is a NonFiniteError, here or as rebuilt on the other side of a thread. */
export function isNonFinite(err: unknown): err is { name: 'NonFiniteError'; quantity: NonFiniteQuantity; message: string } {
  return err instanceof Error && err.name === 'NonFiniteError' && typeof (err as { quantity?: unknown }).quantity === 'string';
}
