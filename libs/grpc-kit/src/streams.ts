/**
 * Stream helpers that respect backpressure: `write()` returning false means "stop until
 * 'drain'"; writing on regardless grows memory without bound (grpc/grpc-node#1332).
 */
import type { Writable } from 'node:stream';

/**
 * Writes one message and resolves once the stream can take more. Rejects if the stream
 * errors or closes (client cancelled, deadline passed) while waiting, so a producer loop
 * stops instead of hanging.
 */
export function writeMessage<T>(stream: Writable, message: T): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.reject(new StreamClosedError());
  if (stream.write(message)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
      if (err) reject(err); else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new StreamClosedError());
    const onError = (err: Error) => done(err);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}

export class StreamClosedError extends Error {
  constructor() {
    super('stream closed by the peer (cancelled or deadline exceeded)');
    this.name = 'StreamClosedError';
  }
}
