/**
 * Adapters from async functions to grpc-js handlers, so every service maps errors to
 * statuses the same way (RpcError -> its code; anything else -> INTERNAL, logged),
 * whether the function rejects or throws before returning its promise (grpc-js would
 * answer the latter UNKNOWN "Unknown error").
 */
import type {
  handleBidiStreamingCall, handleServerStreamingCall, handleUnaryCall,
  ServerDuplexStream, ServerUnaryCall, ServerWritableStream,
} from '@grpc/grpc-js';
import { toStatus } from './errors';
import type { Logger } from './logger';
import { StreamClosedError } from './streams';

/** `fn()`'s promise, or a rejected one if `fn` throws synchronously. */
function settle<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

export function unaryHandler<Req, Res>(name: string, log: Logger, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    settle(() => fn(call.request, call)).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const st = toStatus(err, log, name);
        callback({ code: st.code, details: st.details, metadata: st.metadata, name: 'RpcError', message: st.details });
      },
    );
  };
}

type StreamCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/** Ends a streaming call with the status for `err` (nothing to do if the client left). */
export function failStream(call: StreamCall, err: unknown, log: Logger, name: string): void {
  if (err instanceof StreamClosedError || call.cancelled || call.destroyed) return;
  const st = toStatus(err, log, name);
  // grpc-js turns an 'error' event into the call's status and ends the stream; destroy()
  // would tear the stream down before the status is sent, leaving the client hanging.
  call.emit('error', Object.assign(new Error(st.details), { code: st.code, details: st.details, metadata: st.metadata }));
}

export function serverStreamHandler<Req, Res>(name: string, log: Logger, fn: (call: ServerWritableStream<Req, Res>) => Promise<void>): handleServerStreamingCall<Req, Res> {
  return (call) => {
    settle(() => fn(call)).then(() => { if (!call.destroyed) call.end(); }, (err: unknown) => failStream(call as StreamCall, err, log, name));
  };
}

export function bidiStreamHandler<Req, Res>(name: string, log: Logger, fn: (call: ServerDuplexStream<Req, Res>) => Promise<void>): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    settle(() => fn(call)).then(() => { if (!call.destroyed) call.end(); }, (err: unknown) => failStream(call as StreamCall, err, log, name));
  };
}
