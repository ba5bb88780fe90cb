/**
 * PyTorch checkpoints written by `torch.save` (a zip archive holding a pickle and the
 * tensor storages), with no Python:
 * - zip:          a reader that checks every offset, size and CRC (zip64 included) and a
 *                 writer laid out like torch's miniz writer; crc32
 * - pickle:       a safe unpickler for the subset a state dict needs (an allow-list of
 *                 globals, nothing executed, bounded input), and the matching pickler
 * - torchArchive: the archive layout: a state dict of tensors read and written
 */
export { crc32 } from './crc32.js';
export { ZipReader, ZipWriter, encodeZip, type ZipEntry, type ZipLimits, type ZipAddOptions, type ZipWriterOptions } from './zip.js';
export { unpickle, ALLOWED_GLOBALS, DEFAULT_UNPICKLE_LIMITS, type UnpickleLimits } from './pickle.js';
export { PyDict, PyGlobal, PyList, PyTuple, TorchStorage, TorchTensor, type PyKey, type PyValue, type TorchFloatDType } from './pickleValues.js';
export { pickleStateDict, type PickleTensorSpec, type StateDictMetadata } from './pickleWriter.js';
export {
  TorchStateDictFile, writeTorchStateDict, contiguousStrides, TORCH_ELEMENT_SIZE,
  type TorchReadLimits, type TorchTensorBytes, type TorchWriteOptions,
} from './torchArchive.js';
