/**
 * Client side of the standard services every server of ours exposes: grpc.health.v1
 * (what Kubernetes probes call) and server reflection (what grpcurl uses). The CLI's
 * `health` command and the integration tests use these.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { createClient, deadlineIn, type ClientOptions } from './client';

const require = createRequire(import.meta.url);

type Callback<T> = (err: ServiceError | null, res: T) => void;
interface HealthClient extends Client {
  check(req: { service: string }, options: object, cb: Callback<{ status: string | number }>): void;
}

/** The health status of `service` ("" = the whole server): SERVING, NOT_SERVING, ... */
export function checkHealth(address: string, service = '', opts: ClientOptions & { timeoutMs?: number } = {}): Promise<string> {
  const Ctor = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health') as unknown as new (...a: ConstructorParameters<typeof Client>) => HealthClient;
  const client = createClient(Ctor, address, opts);
  return new Promise<string>((resolve, reject) => {
    client.check({ service }, deadlineIn(opts.timeoutMs ?? 5_000), (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(typeof res.status === 'number' ? ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][res.status] ?? String(res.status) : res.status);
    });
  });
}

/** Service names a server lists through reflection (grpc.reflection.v1). */
export function listServices(address: string, opts: ClientOptions & { timeoutMs?: number } = {}): Promise<string[]> {
  const protoFile = join(dirname(require.resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
  const def = loadSync(protoFile, { keepCase: true, oneofs: true });
  const Ctor = makeGenericClientConstructor(def['grpc.reflection.v1.ServerReflection'] as never, 'ServerReflection');
  const client = createClient(Ctor as unknown as new (...a: ConstructorParameters<typeof Client>) => Client & Record<string, Function>, address, opts);
  return new Promise<string[]>((resolve, reject) => {
    const call = client.ServerReflectionInfo(deadlineIn(opts.timeoutMs ?? 5_000));
    call.on('data', (res: { list_services_response?: { service: { name: string }[] }; error_response?: { error_message: string } }) => {
      if (res.error_response) reject(new Error(res.error_response.error_message));
      else resolve((res.list_services_response?.service ?? []).map((s) => s.name).sort());
      call.end();
    });
    call.on('error', (err: Error) => { client.close(); reject(err); });
    call.on('end', () => client.close());
    call.write({ list_services: '' });
  });
}
