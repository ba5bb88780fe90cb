import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, grpcServerMetrics, grpcCodeName, startMetricsServer } from '../src/index';

test('grpc_server_* families are exposed in the Prometheus text format over HTTP', async () => {
  const registry = new Registry();
  const m = grpcServerMetrics(registry);
  assert.equal(grpcServerMetrics(registry), m, 'created once per registry');
  const labels = { grpc_type: 'unary', grpc_service: 'tunedlens.x.v1.X', grpc_method: 'Y' } as const;
  m.started.inc(labels);
  m.handled.inc({ ...labels, grpc_code: grpcCodeName(3) });
  m.handlingSeconds.observe(labels, 0.01);
  const server = await startMetricsServer(registry, { port: 0 });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.match(body, /^# TYPE grpc_server_started_total counter$/m);
    assert.match(body, /^grpc_server_handled_total\{grpc_type="unary",grpc_service="tunedlens\.x\.v1\.X",grpc_method="Y",grpc_code="InvalidArgument"\} 1$/m);
    assert.match(body, /^grpc_server_handling_seconds_bucket\{le="0\.025",.*\} 1$/m);
    const missing = await fetch(`http://127.0.0.1:${server.port}/other`);
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await server.close();
  }
});

test('code names follow go-grpc-prometheus', () => {
  assert.equal(grpcCodeName(0), 'OK');
  assert.equal(grpcCodeName(8), 'ResourceExhausted');
  assert.equal(grpcCodeName(16), 'Unauthenticated');
  assert.equal(grpcCodeName(99), 'Code(99)');
});
