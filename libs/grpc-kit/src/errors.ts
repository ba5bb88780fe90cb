/**
 * Errors that become gRPC statuses. Handlers throw `RpcError`s with a message a person
 * can act on; anything else thrown is a bug and becomes INTERNAL (logged with its stack).
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';

export class RpcError extends Error {
  constructor(readonly code: status, message: string, readonly metadata?: Metadata) {
    super(message);
    this.name = 'RpcError';
  }
}

export const invalidArgument = (msg: string) => new RpcError(status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new RpcError(status.NOT_FOUND, msg);
export const failedPrecondition = (msg: string) => new RpcError(status.FAILED_PRECONDITION, msg);
export const unavailable = (msg: string) => new RpcError(status.UNAVAILABLE, msg);
export const permissionDenied = (msg: string) => new RpcError(status.PERMISSION_DENIED, msg);
export const internal = (msg: string) => new RpcError(status.INTERNAL, msg);

/**
 * RESOURCE_EXHAUSTED with a retry hint: the `retry-after-ms` trailer tells a client how
 * long to back off (the gRPC analogue of HTTP 429 + Retry-After), and the standard
 * `grpc-retry-pushback-ms` trailer the same to gRPC's own retry policy (grpc-js honours it
 * for a method with a retryPolicy: it waits that long instead of its own back-off).
 */
export function resourceExhausted(msg: string, retryAfterMs?: number): RpcError {
  const md = new Metadata();
  if (retryAfterMs !== undefined) {
    const ms = String(Math.ceil(retryAfterMs));
    md.set('retry-after-ms', ms);
    md.set('grpc-retry-pushback-ms', ms);
  }
  return new RpcError(status.RESOURCE_EXHAUSTED, msg, md);
}

export interface ErrorLogger {
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Maps anything thrown by a handler to the status sent to the client. */
export function toStatus(err: unknown, log?: ErrorLogger, method?: string): Partial<StatusObject> & { code: status; details: string } {
  if (err instanceof RpcError) return { code: err.code, details: err.message, metadata: err.metadata };
  const e = err as Partial<ServiceError> | undefined;
  // A ServiceError from a downstream call keeps its code (e.g. UNAVAILABLE from a
  // tokenizer that went away) so the caller sees the real cause.
  if (e && typeof e.code === 'number' && e.code > 0 && e.code <= 16 && typeof e.details === 'string') {
    return { code: e.code, details: e.details };
  }
  log?.error('unhandled error in handler', { method, error: err instanceof Error ? err.stack : String(err) });
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: `internal error: ${message}` };
}

/** Is this a gRPC error with this code? (For clients.) */
export function hasCode(err: unknown, code: status): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * What went wrong, in words: a gRPC error's `details` (the server's message, without the
 * "13 INTERNAL:" prefix grpc-js puts on `message`), else the error's message, else the
 * value itself. One place for what callers otherwise write as casts at every catch.
 */
export function errorText(err: unknown): string {
  if (err && typeof err === 'object') {
    const { details, message } = err as { details?: unknown; message?: unknown };
    if (typeof details === 'string' && details) return details;
    if (typeof message === 'string' && message) return message;
  }
  return String(err);
}

/** The gRPC status code an error carries (an RpcError, a client call's ServiceError), if any. */
export function errorCode(err: unknown): number | undefined {
  const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}
