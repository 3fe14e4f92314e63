import type { Overlay } from '#common/domain';
import type { CamImages, CamKind } from '../../model/types.ts';
import { closeSync, openSync, readSync } from 'node:fs';
import type { RepoContext } from '../context.ts';
import { StoreError } from '../errors.ts';
import type { ContentStore } from '../image-store.ts';
import { pngSize } from '../png-size.ts';

export interface OverlayInput {
  readonly kind: CamKind;
  readonly format: 'overlay' | 'map';
  readonly png: Buffer;
}

/** An overlay whose PNG is already written (see writePack), ready for its row. */
export interface StoredOverlay {
  readonly kind: CamKind;
  readonly format: 'overlay' | 'map';
  readonly width: number;
  readonly height: number;
  readonly fileKey: string;
  readonly byteOffset: number;
  readonly byteSize: number;
}

const SELECT = 'SELECT id, prediction_id AS predictionId, kind, format, width, height FROM overlays';

function checkedSize(o: OverlayInput): { width: number; height: number } {
  const size = pngSize(o.png);
  if (!size) throw new StoreError('invalid', `${o.kind} ${o.format} overlay is not a PNG`);
  return size;
}

/** The two PNGs of each Grad-CAM kind, as the store keeps them. */
export function overlaysFromCams(cams: readonly CamImages[] | undefined): OverlayInput[] {
  return (cams ?? []).flatMap((c) => [
    { kind: c.kind, format: 'overlay' as const, png: c.overlayPng },
    { kind: c.kind, format: 'map' as const, png: c.mapPng },
  ]);
}

function packed(overlays: readonly OverlayInput[], sizes: { width: number; height: number }[], fileKey: string): StoredOverlay[] {
  let offset = 0;
  return overlays.map((o, i) => {
    const stored = { kind: o.kind, format: o.format, ...sizes[i]!, fileKey, byteOffset: offset, byteSize: o.png.byteLength };
    offset += o.png.byteLength;
    return stored;
  });
}

export class OverlaysRepo {
  constructor(
    private readonly ctx: RepoContext,
    private readonly files: ContentStore,
  ) {}

  /**
   * Writes one prediction's PNGs as one pack file, ahead of the transaction that will reference
   * them; a crash before that commit leaves an unreferenced file, never a row without its bytes.
   */
  writePack(overlays: readonly OverlayInput[]): StoredOverlay[] {
    if (overlays.length === 0) return [];
    const sizes = overlays.map(checkedSize);
    return packed(overlays, sizes, this.files.putUniqueSync(Buffer.concat(overlays.map((o) => o.png))).sha256);
  }

  /** As writePack, without blocking the event loop (the batch stores one image while the model runs on the next). */
  async writePackAsync(overlays: readonly OverlayInput[]): Promise<StoredOverlay[]> {
    if (overlays.length === 0) return [];
    const sizes = overlays.map(checkedSize);
    return packed(overlays, sizes, (await this.files.putUnique(overlays.map((o) => o.png))).sha256);
  }

  /** Only called inside the prediction's transaction: an overlay row never exists without its prediction. */
  insertAll(predictionId: number, overlays: readonly (OverlayInput | StoredOverlay)[]): void {
    const insert = this.ctx.db.prepare(
      'INSERT INTO overlays (prediction_id, kind, format, width, height, file_key, byte_offset, byte_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const raw = overlays.filter((o): o is OverlayInput => 'png' in o);
    const packed = this.writePack(raw);
    const stored = overlays.map((o) => ('png' in o ? packed[raw.indexOf(o)]! : o));
    for (const o of stored) insert.run(predictionId, o.kind, o.format, o.width, o.height, o.fileKey, o.byteOffset, o.byteSize);
  }

  /** Gives another prediction the same overlays (same files, no copy). */
  cloneAll(fromPredictionId: number, toPredictionId: number): void {
    this.ctx.db
      .prepare(
        `INSERT INTO overlays (prediction_id, kind, format, width, height, file_key, byte_offset, byte_size)
         SELECT ?, kind, format, width, height, file_key, byte_offset, byte_size FROM overlays WHERE prediction_id = ? ORDER BY id`,
      )
      .run(toPredictionId, fromPredictionId);
  }

  listForPrediction(predictionId: number): Overlay[] {
    return this.ctx.db.prepare(`${SELECT} WHERE prediction_id = ? ORDER BY id`).all(predictionId) as Overlay[];
  }

  get(id: number): Overlay | null {
    return (this.ctx.db.prepare(`${SELECT} WHERE id = ?`).get(id) as Overlay | undefined) ?? null;
  }

  /** Where an overlay's PNG lives: the pack file and the byte range inside it. */
  location(id: number): { path: string; offset: number; length: number } | null {
    const row = this.ctx.db.prepare('SELECT file_key AS k, byte_offset AS o, byte_size AS n FROM overlays WHERE id = ?').get(id) as
      | { k: string; o: number; n: number }
      | undefined;
    return row ? { path: this.files.pathOf(row.k), offset: row.o, length: row.n } : null;
  }

  /** The PNG bytes of an overlay; null when there is no such overlay or its file is gone or short. */
  png(id: number): Buffer | null {
    const where = this.location(id);
    if (!where) return null;
    let fd: number | undefined;
    try {
      fd = openSync(where.path, 'r');
      const buf = Buffer.alloc(where.length);
      const read = readSync(fd, buf, 0, where.length, where.offset);
      return read === where.length ? buf : null;
    } catch {
      return null;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  find(predictionId: number, kind: CamKind, format: 'overlay' | 'map'): { overlay: Overlay; png: Buffer } | null {
    const overlay = this.ctx.db
      .prepare(`${SELECT} WHERE prediction_id = ? AND kind = ? AND format = ?`)
      .get(predictionId, kind, format) as Overlay | undefined;
    const png = overlay ? this.png(overlay.id) : null;
    return overlay && png ? { overlay, png } : null;
  }
}
