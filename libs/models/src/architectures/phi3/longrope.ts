/** LongRoPE rotary tables (transformers `_compute_longrope_parameters` + `longrope_frequency_update`). */
import type { HostArray } from '@tuned-lens/engine';
import { ropeTablesFrom } from '../common/runtimeInputs';
import type { LongRopeScaling } from '../common/configTypes';

/**
 * cos/sin [T, rotaryDim] for a sequence of `seq` tokens: inverse frequency k is
 * 1 / (factor_k * base^(2k / rotaryDim)), with the short factors while seq <=
 * originalMaxPositionEmbeddings and the long ones beyond (transformers decides per forward
 * call from its largest position, T - 1 here), both tables times attentionFactor. Every
 * step is rounded to f32 as torch does it.
 */
export function longropeTables(seq: number, rotaryDim: number, base: number, s: Omit<LongRopeScaling, 'type'>): { cos: HostArray; sin: HostArray } {
  const factors = seq > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
  const invFreq = new Float64Array(rotaryDim / 2);
  for (let k = 0; k < invFreq.length; k++) {
    const power = Math.fround(Math.pow(base, Math.fround((2 * k) / rotaryDim)));
    invFreq[k] = Math.fround(1 / Math.fround(Math.fround(factors[k]) * power));
  }
  return ropeTablesFrom(seq, invFreq, s.attentionFactor);
}
