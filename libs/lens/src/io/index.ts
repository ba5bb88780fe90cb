/**
 * Lens files in the original package's layout, with no Python:
 * - config:      config.json (TunedLensConfig + our `tuned_lens_ts` block)
 * - params:      params.pt / params.safetensors <-> float32 tensors
 * - lensFolder:  the whole folder, validated against the config
 * The file formats underneath (torch zip checkpoints, safetensors, atomic writes) are
 * @tuned-lens/formats'.
 */
export { LensIOError, type LensIOErrorKind } from './errors.js';
export {
  PARAMS_PT, PARAMS_SAFETENSORS, openLensParams, readLensParams, writeLensParams, decodeTorchStateDict, checkTorchTensors, isContiguous,
  type LensDType, type LensTensor, type LensTensorInfo, type LensTensorInput, type LensParamsFile, type LensParamsFormat, type WriteLensParamsOptions,
} from './params.js';
export {
  LINEAR_TUNED_LENS, TUNED_LENS_TS_KEY, TUNED_LENS_TS_CONFIG_VERSION,
  makeLensConfig, parseLensConfig, readLensConfig, writeLensConfig, lensConfigToJson, lensConfigToObject,
  type LensConfig, type ParsedLensConfig,
} from './config.js';
export {
  CONFIG_JSON, readLensFolder, checkLensFolder, writeLensFolder, moduleListMetadata,
  type Translator, type LensFolder, type LensToWrite, type WriteLensFolderOptions,
} from './lensFolder.js';
