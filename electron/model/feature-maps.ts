/**
 * Helpers on NHWC feature maps shared by the classifier and its tests.
 */
import type { FeatureMap } from './types.ts';

/**
 * Maps of equal batch and grid joined along channels, in the given order: how several InceptionV3
 * taps (mixed5-mixed7, all 17x17x768) become the one 'inception' map the head pools, so that the
 * head's pooled vector is the taps' pooled vectors side by side and Grad-CAM sums over all taps.
 */
export function concatChannels(maps: readonly FeatureMap[]): FeatureMap {
  if (maps.length === 0) throw new Error('concatChannels needs at least one map');
  if (maps.length === 1) return maps[0]!;
  const [n, h, w] = maps[0]!.shape;
  for (const m of maps) {
    if (m.shape[0] !== n || m.shape[1] !== h || m.shape[2] !== w) throw new Error(`cannot join maps of shapes ${maps.map((x) => x.shape.join('x')).join(', ')} along channels`);
  }
  const channels = maps.reduce((s, m) => s + m.shape[3], 0);
  const out = new Float32Array(n * h * w * channels);
  const cells = n * h * w;
  let offset = 0;
  for (const m of maps) {
    const c = m.shape[3];
    for (let p = 0; p < cells; p++) out.set(m.data.subarray(p * c, (p + 1) * c), p * channels + offset);
    offset += c;
  }
  return { data: out, shape: [n, h, w, channels] };
}
