/**
 * The rejection of a forward pass whose caller gave up (its AbortSignal fired): the call
 * was cancelled or ran out of time, so nobody waits for the result and no gRPC status
 * is owed for it.
 */
export class ForwardCancelledError extends Error {
  constructor() {
    super('forward pass cancelled: the call that asked for it has ended');
    this.name = 'ForwardCancelledError';
  }
}
