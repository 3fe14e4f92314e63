/**
 * Protocol images as the adaptation maths sees confirmed cases: the head's pooled input for every
 * test-time view (what the app stores with each prediction), read from the frozen-feature cache,
 * with the melanoma/benign label and the group (lesion or ISIC id) that must not be split.
 */
import type { GroupedSample } from '../../../electron/model/adaptation/types.ts';
import type { ProtocolItem } from '../../data/protocol.ts';
import { featureMatrix, type FeatureSpec } from '../../build/experiment.ts';

export interface CaseSet {
  readonly items: ProtocolItem[];
  readonly samples: GroupedSample[];
  /** Melanoma/benign items left out because a view's features are not cached. */
  readonly uncached: number;
}

/**
 * Samples for the melanoma and benign items that have features for every view (other malignant
 * lesions never feed adaptation, as in the app); views are joined in `views` order.
 */
export function caseSet(items: readonly ProtocolItem[], spec: FeatureSpec, views: readonly string[]): CaseSet {
  const binary = items.filter((i) => i.label !== 'other_malignant');
  const perView = views.map((v) => featureMatrix(binary.map((i) => i.sha256), spec, v));
  const width = perView[0]!.width;
  const out: CaseSet = { items: [], samples: [], uncached: 0 };
  binary.forEach((item, row) => {
    if (perView.some((m) => m.missing.has(row))) {
      (out as { uncached: number }).uncached++;
      return;
    }
    const pooled = new Float32Array(views.length * width);
    perView.forEach((m, v) => pooled.set(m.x.subarray(row * width, (row + 1) * width), v * width));
    out.items.push(item);
    out.samples.push({ pooled, views: views.length, label: item.label === 'malignant' ? 1 : 0, group: item.group });
  });
  return out;
}
