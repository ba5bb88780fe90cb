/**
 * @tuned-lens/formats: file formats, no Python.
 *
 * - errors:      the one error shape (kind, file, reason) of every format
 * - safetensors: strict reading (single and sharded), zero-copy views, atomic writing
 */
export { FileError, FormatError, type FormatErrorKind, withFile, fileLabel } from './errors.js';
export * from './safetensors/index.js';
