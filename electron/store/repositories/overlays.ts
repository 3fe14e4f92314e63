import type { Overlay } from '../../common/domain.ts';
import type { CamImages, CamKind } from '../../model/types.ts';
import type { RepoContext } from '../context.ts';
import { StoreError } from '../errors.ts';
import { pngSize } from '../png-size.ts';

export interface OverlayInput {
  readonly kind: CamKind;
  readonly format: 'overlay' | 'map';
  readonly png: Buffer;
}

const SELECT = 'SELECT id, prediction_id AS predictionId, kind, format, width, height FROM overlays';

/** The two PNGs of each Grad-CAM kind, as the store keeps them. */
export function overlaysFromCams(cams: readonly CamImages[] | undefined): OverlayInput[] {
  return (cams ?? []).flatMap((c) => [
    { kind: c.kind, format: 'overlay' as const, png: c.overlayPng },
    { kind: c.kind, format: 'map' as const, png: c.mapPng },
  ]);
}

export class OverlaysRepo {
  constructor(private readonly ctx: RepoContext) {}

  /** Only called inside the prediction's transaction: an overlay never exists without its prediction. */
  insertAll(predictionId: number, overlays: readonly OverlayInput[]): void {
    const insert = this.ctx.db.prepare('INSERT INTO overlays (prediction_id, kind, format, width, height, png) VALUES (?, ?, ?, ?, ?, ?)');
    for (const o of overlays) {
      const size = pngSize(o.png);
      if (!size) throw new StoreError('invalid', `${o.kind} ${o.format} overlay is not a PNG`);
      insert.run(predictionId, o.kind, o.format, size.width, size.height, o.png);
    }
  }

  listForPrediction(predictionId: number): Overlay[] {
    return this.ctx.db.prepare(`${SELECT} WHERE prediction_id = ? ORDER BY id`).all(predictionId) as Overlay[];
  }

  get(id: number): Overlay | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Overlay | undefined) ?? null;
  }

  /** The PNG bytes of an overlay. */
  png(id: number): Buffer | null {
    const row = this.ctx.db.prepare('SELECT png FROM overlays WHERE id = ?').get(id) as { png: Buffer } | undefined;
    return row?.png ?? null;
  }

  find(predictionId: number, kind: CamKind, format: 'overlay' | 'map'): { overlay: Overlay; png: Buffer } | null {
    const row = this.ctx.db
      .prepare(`SELECT id, prediction_id AS predictionId, kind, format, width, height, png FROM overlays WHERE prediction_id = ? AND kind = ? AND format = ?`)
      .get(predictionId, kind, format) as (Overlay & { png: Buffer }) | undefined;
    if (!row) return null;
    const { png, ...overlay } = row;
    return { overlay, png };
  }
}
