/**
 * @tuned-lens/lens: the tuned lens itself.
 *
 * - io: lens folders in the original package's layout (config.json, params.pt,
 *   params.safetensors), read and written through @tuned-lens/formats
 */
export * from './io/index.js';
export * from './math/index';
export * from './train/index';
export { zeroTunedLens, applyTranslator, type TunedLensWeights } from './lens/tunedLens';
export * from './eval/index';
export * from './predict/index';
