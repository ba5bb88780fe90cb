import { open } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';
import type { AttrValue, ElemType, IrGraph, IrInitializer, IrOutput, IrValueInfo } from './graph.js';
import { ONNX_OPSET } from './tracer.js';

const { onnx } = onnxProto;

/** IR version 9 is the one released with opset 20 (ONNX 1.15); onnx-proto's enum stops at 8 but the field is a plain int. */
export const ONNX_IR_VERSION = 9;

const ELEM: Record<ElemType, number> = {
  f32: onnx.TensorProto.DataType.FLOAT,
  i32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  i64: onnx.TensorProto.DataType.INT64,
  f16: onnx.TensorProto.DataType.FLOAT16,
  bf16: onnx.TensorProto.DataType.BFLOAT16,
};

const utf8 = new TextEncoder();

function attribute(name: string, a: AttrValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'string': return { name, type: T.STRING, s: utf8.encode(a.value) };
  }
}

/** Inputs get one named symbolic dim per axis ('d<i>_<name>'): every dim is dynamic. */
function inputInfo(v: IrValueInfo): P.IValueInfoProto {
  const dim = Array.from({ length: v.rank }, (_, i) => ({ dimParam: `d${i}_${v.name}` }));
  return { name: v.name, type: { tensorType: { elemType: ELEM[v.dtype], shape: { dim } } } };
}

/** Outputs declare only their rank; ORT infers the dims. */
function outputInfo(v: IrOutput): P.IValueInfoProto {
  const dim = Array.from({ length: v.rank }, () => ({}));
  return { name: v.value, type: { tensorType: { elemType: ELEM[v.dtype], shape: { dim } } } };
}

/** Where each externally stored initializer lives in the weights file. */
export interface ExternalLayout {
  /** File name relative to the model file (ORT rejects paths leaving the model's folder). */
  location: string;
  offsets: Map<string, number>;
}

function tensor(init: IrInitializer, external: ExternalLayout | null): P.ITensorProto {
  const base = { name: init.name, dataType: ELEM[init.dtype], dims: init.dims };
  if (init.external) {
    // In a checkpoint file: the location is the file's name, relative to the folder the
    // session is told (session.model_external_initializers_file_folder_path).
    const { file, offset, length } = init.external;
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: file.slice(file.lastIndexOf('/') + 1) },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    };
  }
  const offset = external?.offsets.get(init.name);
  if (external && offset !== undefined) {
    return {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(init.bytes.byteLength) },
      ],
    };
  }
  // raw_data straight from the view: protobufjs copies it once, into the output buffer.
  return { ...base, rawData: init.bytes };
}

/** The ModelProto object for a graph; weights inline unless `external` places them in a file. */
export function modelProto(graph: IrGraph, name: string, external: ExternalLayout | null = null): P.IModelProto {
  return {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'tuned-lens-ts',
    graph: {
      name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([k, v]) => attribute(k, v)),
      })),
      initializer: [...graph.initializers.values()].map((i) => tensor(i, external)),
      input: graph.inputs.map(inputInfo),
      output: graph.outputs.map(outputInfo),
    },
  };
}

/** Serialises a graph with all weights inline (ModelProto must stay under protobuf's 2 GiB). */
export function encodeModel(graph: IrGraph, name: string): Uint8Array {
  return onnx.ModelProto.encode(modelProto(graph, name)).finish();
}

/** Initializers at least this big go to the weights file; small constants stay inline. */
const EXTERNAL_MIN_BYTES = 1024;
/** Page-aligned offsets let ORT map each weight straight from the file. */
const EXTERNAL_ALIGN = 4096;

/**
 * Writes the weights of `graph` to `<dir>/<file>` (ONNX external data layout), with
 * positional writes straight from each weight's view, never gathered into one buffer.
 * Every graph pruned from `graph` can point into the same file.
 */
export async function writeExternalWeights(graph: IrGraph, dir: string, file: string): Promise<ExternalLayout> {
  const offsets = new Map<string, number>();
  let end = 0;
  for (const init of graph.initializers.values()) {
    if (init.bytes.byteLength < EXTERNAL_MIN_BYTES) continue;
    end = Math.ceil(end / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    offsets.set(init.name, end);
    end += init.bytes.byteLength;
  }
  const weights = await open(join(dir, file), 'w');
  try {
    for (const init of graph.initializers.values()) {
      const offset = offsets.get(init.name);
      if (offset === undefined) continue;
      // fs writes at most 2 GiB per call; loop until the whole view is out.
      for (let done = 0; done < init.bytes.byteLength;) {
        const { bytesWritten } = await weights.write(init.bytes, done, Math.min(init.bytes.byteLength - done, 1 << 30), offset + done);
        done += bytesWritten;
      }
    }
  } finally {
    await weights.close();
  }
  return { location: file, offsets };
}

/**
 * Writes `<dir>/<file>` as a ModelProto whose large weights refer to `layout` (a file
 * in the same folder, from `writeExternalWeights`). Returns the model path.
 */
export async function writeModel(graph: IrGraph, name: string, dir: string, file: string, layout: ExternalLayout): Promise<string> {
  const path = join(dir, file);
  const model = await open(path, 'w');
  try {
    await model.write(onnx.ModelProto.encode(modelProto(graph, name, layout)).finish());
  } finally {
    await model.close();
  }
  return path;
}
