/** `tuned-lens health ADDRESS`: health of every service a server lists, via reflection. */
import { checkHealth, clientTlsFromEnv, listServices } from '@tuned-lens/grpc-kit';
import { parse, UsageError } from '../args';

export async function healthCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) { console.log('usage: tuned-lens health HOST:PORT\n\nPrints the overall and per-service health (grpc.health.v1) of a server.'); return 0; }
  const [address] = positionals;
  if (!address) throw new UsageError('give the server address, e.g. tuned-lens health 127.0.0.1:50051');
  const tls = clientTlsFromEnv();
  const services = (await listServices(address, { tls })).filter((s) => s.startsWith('tunedlens.'));
  let allServing = true;
  for (const name of ['', ...services]) {
    const st = await checkHealth(address, name, { tls });
    if (st !== 'SERVING') allServing = false;
    console.log(`${(name || '(server)').padEnd(45)} ${st}`);
  }
  return allServing ? 0 : 1;
}
