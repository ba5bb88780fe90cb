// A health prober on its own thread, as a kubelet is outside the server: it measures how
// long each grpc.health.v1 Check waits even while the server's event loop is blocked.
// workerData: { address, service, intervalMs }. On 'stop' it finishes the check in
// flight, posts { latencies, startedAt (ms since the prober began), answers } and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { register } from 'tsx/esm/api';

register();
const { checkHealth } = await import('@tuned-lens/grpc-kit');
const { address, service, intervalMs } = workerData;
let stopping = false;
parentPort.once('message', () => { stopping = true; });
const begun = performance.now();
const latencies = [];
const startedAt = [];
const answers = [];
while (!stopping) {
  const t0 = performance.now();
  startedAt.push(t0 - begun);
  answers.push(await checkHealth(address, service, { timeoutMs: 120_000 }).catch((e) => `error: ${e.message}`));
  latencies.push(performance.now() - t0);
  await sleep(intervalMs);
}
parentPort.postMessage({ latencies, startedAt, answers });
