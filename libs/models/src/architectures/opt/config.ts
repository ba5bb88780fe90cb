/** The OPT fields the forward pass reads beyond the shared ArchConfig. */
import type { ArchConfig } from '../common/types';

export interface OptArchConfig extends ArchConfig {
  /** Pre-LN blocks (do_layer_norm_before); false = post-LN, each sublayer's norm after its residual add. */
  preLayerNorm: boolean;
  /** The decoder ends with final_layer_norm (pre-LN and not _remove_final_layer_norm). */
  finalLayerNorm: boolean;
  /** Token embedding width; project_in / project_out map it to and from dModel when it differs. */
  wordEmbedProjDim: number;
  /** LayerNorms have weight and bias (layer_norm_elementwise_affine); else plain normalisation. */
  layerNormAffine: boolean;
}

/** OPT's learned position table starts at row 2 (fairseq reserved rows 0-1 for padding). */
export const OPT_POSITION_OFFSET = 2;
