/**
 * A server interceptor that records the standard grpc_server_* metrics for every call,
 * including calls that fail before reaching a handler (size limits, unimplemented).
 */
import { ServerInterceptingCall, type ServerInterceptor, type ServerMethodDefinition } from '@grpc/grpc-js';
import { grpcCodeName, grpcServerMetrics, type GrpcType } from '@tuned-lens/metrics';
import type { Registry } from '@tuned-lens/metrics';

function grpcType(def: ServerMethodDefinition<unknown, unknown>): GrpcType {
  if (def.requestStream) return def.responseStream ? 'bidi_stream' : 'client_stream';
  return def.responseStream ? 'server_stream' : 'unary';
}

/** Splits "/pkg.Service/Method" into its service and method. */
export function splitPath(path: string): { service: string; method: string } {
  const [, service = 'unknown', method = 'unknown'] = path.split('/');
  return { service, method };
}

export function metricsInterceptor(registry: Registry): ServerInterceptor {
  const m = grpcServerMetrics(registry);
  return (def, call) => {
    const { service, method } = splitPath(def.path);
    const labels = { grpc_type: grpcType(def), grpc_service: service, grpc_method: method };
    const started = process.hrtime.bigint();
    let finished = false;
    m.started.inc(labels);
    m.inFlight.inc({ grpc_service: service, grpc_method: method });
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      m.inFlight.dec({ grpc_service: service, grpc_method: method });
      m.handled.inc({ ...labels, grpc_code: grpcCodeName(code) });
      m.handlingSeconds.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMessage: (message, nextMsg) => { m.received.inc(labels); nextMsg(message); },
        // A client that goes away never gets a status: count it as cancelled.
        onCancel: () => finish(1),
      }),
      sendMessage: (message, next) => { m.sent.inc(labels); next(message); },
      sendStatus: (st, next) => { finish(st.code ?? 2); next(st); },
    });
  };
}
