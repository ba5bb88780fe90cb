/**
 * `tuned-lens extract`: one sequence through the real activation service; every hidden
 * state and the logits written to a safetensors file, so anyone can diff us against
 * `transformers` (hidden_states.{i} [T, d_model] F32, logits [T, vocab] F32).
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ActivationClient } from '@tuned-lens/clients';
import { clientTlsFromEnv } from '@tuned-lens/grpc-kit';
import { writeSafetensors, type TensorToWrite } from '@tuned-lens/formats';
import { parse, UsageError, existingModelDir } from '../args';
import { engineOption, startEmbeddedActivation } from '../embedded';

const help = `usage: tuned-lens extract --model DIR --input-ids IDS [--out FILE] [--engine onnx|tfjs|auto]

  --model DIR        Hugging Face checkpoint folder (config.json + *.safetensors)
  --input-ids IDS    comma-separated token ids, or a JSON file holding an array of ids
  --out FILE         output safetensors file (default: hidden_states.safetensors)
  --engine NAME      compute engine of the embedded service (default auto)
  --endpoint H:P     use a running activation service instead (--model is then ignored)

Writes hidden_states.{i} [T, d_model] F32 for i = 0..L (transformers' output_hidden_states
convention: L is after the final norm) and logits [T, vocab] F32.`;

export function parseInputIds(value: string): number[] {
  const text = existsSync(value) ? readFileSync(value, 'utf8') : value;
  let ids: unknown;
  if (text.trim().startsWith('[')) {
    try { ids = JSON.parse(text); } catch (err) { throw new UsageError(`--input-ids: not a JSON array (${(err as Error).message})`); }
  } else {
    ids = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  }
  if (!Array.isArray(ids) || ids.length === 0) throw new UsageError('--input-ids: give at least one id, e.g. 464,3290,318');
  for (const id of ids) if (!Number.isInteger(id)) throw new UsageError(`--input-ids: "${id}" is not an integer id`);
  return ids as number[];
}

export async function extractCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    'input-ids': { type: 'string' },
    out: { type: 'string', default: 'hidden_states.safetensors' },
    engine: { type: 'string', default: 'auto' },
    endpoint: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { console.log(help); return 0; }
  if (!values['input-ids']) throw new UsageError('--input-ids is required (see --help)');
  if (!values.model && !values.endpoint) throw new UsageError('--model DIR is required (or --endpoint of a running service)');
  if (!values.endpoint) existingModelDir(values.model!);
  const ids = parseInputIds(values['input-ids']);
  const engine = engineOption(values.engine);
  const embedded = values.endpoint ? undefined : await startEmbeddedActivation(resolve(values.model!), engine);
  const client = new ActivationClient(values.endpoint ?? embedded!.address, { tls: values.endpoint ? clientTlsFromEnv() : undefined });
  try {
    const info = await client.info();
    const T = ids.length;
    let written = 0;
    for await (const out of client.extract([{ batchId: 0, inputIds: Int32Array.from(ids), batch: 1, seq: T }], { logits: true })) {
      const tensors: Record<string, TensorToWrite> = {};
      for (const [i, h] of out.hiddenStates) tensors[`hidden_states.${i}`] = { dtype: 'F32', shape: [T, info.dModel], data: h };
      tensors.logits = { dtype: 'F32', shape: [T, info.vocabSize], data: out.logits! };
      written = writeSafetensors(resolve(values.out!), tensors, { model: info.modelName, engine: info.engine, input_ids: JSON.stringify(ids) });
      console.error(`forward pass: ${(out.forwardSeconds * 1000).toFixed(1)} ms on ${info.engine}`);
    }
    console.log(`wrote ${values.out}: ${info.numLayers + 1} hidden states [${T}, ${info.dModel}] and logits [${T}, ${info.vocabSize}] (${(written / 1e6).toFixed(1)} MB) for ${info.modelName}`);
  } finally {
    client.close();
    await embedded?.shutdown(1000);
  }
  return 0;
}
