/**
 * The rejection of a forward pass whose caller gave up (its AbortSignal fired): the call
 * was cancelled or ran out of time, so nobody waits for the result and no gRPC status
 * is owed for it.
 */
import { CancelledError } from '@tuned-lens/grpc-kit';

export class ForwardCancelledError extends CancelledError {
  constructor() {
    super('forward pass cancelled: the call that asked for it has ended');
    this.name = 'ForwardCancelledError';
  }
}
