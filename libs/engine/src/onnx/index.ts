export { OnnxEngine, OnnxCompiledProgram, resolveOrtThreads, type OnnxEngineOptions } from './engine.js';
export { OnnxTracer, ONNX_OPSET, type Sym, type Dim } from './tracer.js';
export { pruneGraph, graphStats, type IrGraph, type IrNode, type IrInitializer, type IrValueInfo, type IrOutput, type ElemType, type AttrValue } from './graph.js';
export { encodeModel, modelProto, writeExternalWeights, writeModel, ONNX_IR_VERSION, type ExternalLayout } from './serialize.js';
