/**
 * @tuned-lens/formats: file formats, no Python.
 *
 * - errors:      the one error shape (kind, file, reason) of every format
 * - atomic:      the one atomic file write (temp file, fsync, rename), and byte sinks
 * - safetensors: strict reading (single and sharded), zero-copy views, atomic writing
 * - torch:       torch.save zip checkpoints: zip (zip64 too), a safe unpickler, a pickler,
 *                the archive layout of a state dict
 */
export { FileError, FormatError, type FormatErrorKind, withFile, fileLabel } from './errors.js';
export { writeFileAtomic, syncDir, tempPathFor, MemorySink, type ByteSink } from './atomic.js';
export * from './safetensors/index.js';
export * from './torch/index.js';
