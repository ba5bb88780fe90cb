/**
 * A protobuf-free intermediate form of a traced ONNX graph. The tracer appends to it,
 * `pruneGraph` cuts it down to what a set of outputs needs, and `serialize.ts` turns it
 * into a ModelProto. Keeping it separate from protobuf objects lets one trace serve many
 * output subsets without re-running the model function, and keeps weights as views of
 * the program's own arrays until the moment they are written.
 */

/** Element types the graph uses: f32 activations, i32 ids, i64 shape constants. */
/** Element types of graph values; 'bool' only for intermediate comparison results. */
export type ElemType = 'f32' | 'i32' | 'i64' | 'bool' | 'f16' | 'bf16';

/** One attribute value of a node; the serialiser picks the ONNX attribute type from it. */
export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string };

export interface IrNode {
  /** Deterministic: `<index in trace order>_<opType>`. */
  name: string;
  opType: string;
  /** '' = the default ONNX domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttrValue>;
}

/** A constant tensor: a weight (a view of the program's host array) or a small constant. */
export interface IrInitializer {
  name: string;
  dtype: ElemType;
  dims: number[];
  /** Little-endian bytes; a view, never a copy, of the source typed array (empty when external). */
  bytes: Uint8Array;
  /**
   * A weight left in its checkpoint file: ONNX external data pointing at the tensor's bytes
   * (`file` is a path; the session maps it, nothing is copied). See storedParam.ts.
   */
  external?: { file: string; offset: number; length: number };
}

/** A graph input or output: name, element type and rank (all dims are dynamic). */
export interface IrValueInfo {
  name: string;
  dtype: ElemType;
  rank: number;
}

/**
 * A program output. `value` is its name inside the ONNX graph: the output's own name,
 * unless that collides with an input or weight name (ONNX has one namespace for all).
 */
export interface IrOutput extends IrValueInfo {
  value: string;
}

export interface IrGraph {
  /** In trace order, which is a valid topological order. */
  nodes: IrNode[];
  initializers: Map<string, IrInitializer>;
  inputs: IrValueInfo[];
  outputs: IrOutput[];
}

/**
 * The subgraph that computes only `outputs`: nodes reached backwards from them, and the
 * initializers and inputs those nodes read. Node order and names are kept, so pruning the
 * same graph for the same outputs always gives the same result.
 */
export function pruneGraph(graph: IrGraph, outputs: readonly string[]): IrGraph {
  const byName = new Map(graph.outputs.map((o) => [o.name, o]));
  const keptOutputs = outputs.map((name) => {
    const o = byName.get(name);
    if (!o) throw new Error(`unknown output '${name}'; the program has: ${graph.outputs.map((x) => x.name).join(', ')}`);
    return o;
  });

  // Walk the node list backwards once: a node is needed if it produces a needed value.
  const needed = new Set<string>(keptOutputs.map((o) => o.value));
  const keep: boolean[] = new Array(graph.nodes.length).fill(false);
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (!node.outputs.some((v) => needed.has(v))) continue;
    keep[i] = true;
    for (const v of node.inputs) if (v !== '') needed.add(v);
  }

  const nodes = graph.nodes.filter((_, i) => keep[i]);
  const initializers = new Map([...graph.initializers].filter(([name]) => needed.has(name)));
  const inputs = graph.inputs.filter((i) => needed.has(i.name));
  return { nodes, initializers, inputs, outputs: keptOutputs };
}

/**
 * Counts for logs and tests: how big a (pruned) graph is. `initializerBytes` are the weights
 * held in the graph itself; `externalBytes` those left in checkpoint files.
 */
export function graphStats(graph: IrGraph): { nodes: number; initializers: number; initializerBytes: number; externalBytes: number; inputs: number } {
  let initializerBytes = 0, externalBytes = 0;
  for (const init of graph.initializers.values()) {
    initializerBytes += init.bytes.byteLength;
    externalBytes += init.external?.length ?? 0;
  }
  return { nodes: graph.nodes.length, initializers: graph.initializers.size, initializerBytes, externalBytes, inputs: graph.inputs.length };
}

/**
 * The one folder every external (checkpoint-file) initializer of `graph` lives in, or null
 * when there is none: onnxruntime resolves external data relative to a single folder.
 */
export function externalFolder(graph: IrGraph): string | null {
  let folder: string | null = null;
  for (const init of graph.initializers.values()) {
    if (!init.external) continue;
    const dir = init.external.file.slice(0, init.external.file.lastIndexOf('/') + 1) || './';
    if (folder !== null && dir !== folder) throw new Error(`weights come from two folders (${folder} and ${dir}); a program's checkpoint files must share one folder`);
    folder = dir;
  }
  return folder;
}
