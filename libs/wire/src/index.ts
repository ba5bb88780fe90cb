export { dtypeToProto, dtypeFromProto } from './dtypes';
export { encodeNested, type NestLevel } from './oneCopy';
export { toTensorChunks, F32Assembler } from './chunks';
export { serializeExtractResponse, serializeUnembeddingResponse, activationServiceDefinition } from './serializers';
