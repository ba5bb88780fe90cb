/**
 * @tuned-lens/lens: the tuned lens itself.
 *
 * - io: lens folders in the original package's layout (config.json, params.pt,
 *   params.safetensors), with a safe reader for PyTorch zip/pickle checkpoints
 */
export * from './io/index.js';
export * from './math/index';
export * from './train/index';
export { zeroTunedLens, applyTranslator, type TunedLensWeights } from './lens/tunedLens';
export * from './eval/index';
export * from './predict/index';
