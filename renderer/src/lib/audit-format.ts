/** How an audit entry reads on the audit screen (pure, so it is testable without a DOM). */
import type { AuditEntry } from '#common/domain';

/** The filter's choices: the store's table names, in the words a clinic uses. */
export const AUDIT_ENTITIES: { value: string; label: string }[] = [
  { value: 'patients', label: 'Patients' },
  { value: 'visits', label: 'Visits' },
  { value: 'lesions', label: 'Lesions' },
  { value: 'images', label: 'Images' },
  { value: 'predictions', label: 'Predictions' },
  { value: 'reviews', label: 'Reviews' },
  { value: 'batch_jobs', label: 'Batches' },
  { value: 'batch_items', label: 'Batch items' },
  { value: 'settings', label: 'Settings' },
  { value: 'local_models', label: 'Local models' },
];

const SINGULAR: Record<string, string> = {
  patients: 'Patient',
  visits: 'Visit',
  lesions: 'Lesion',
  images: 'Image',
  predictions: 'Prediction',
  reviews: 'Review',
  batch_jobs: 'Batch',
  batch_items: 'Batch item',
  settings: 'Settings',
  local_models: 'Local model',
};

const VERB: Record<string, string> = {
  create: 'created',
  update: 'updated',
  delete: 'deleted',
  link: 'linked',
  import: 'imported',
  adopt: 'adopted',
  rollback: 'rolled back',
};

function parseDetail(detail: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(detail);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** "review.create" → "Review created"; an unknown verb is shown as it is stored. */
export function auditActionLabel(entry: Pick<AuditEntry, 'action' | 'entity'>): string {
  const [, verb = ''] = entry.action.split('.');
  const noun = SINGULAR[entry.entity] ?? entry.entity;
  return `${noun} ${VERB[verb] ?? verb}`.trim();
}

/** The record an entry is about, with a link where the app has a screen for it. */
export function auditTarget(entry: Pick<AuditEntry, 'entity' | 'entityId' | 'detail'>): { label: string; href: string | null } {
  const noun = SINGULAR[entry.entity] ?? entry.entity;
  // Local models are named by version (adoption and creation: version; rollback: from), shown on the model screen.
  if (entry.entity === 'local_models') {
    const detail = parseDetail(entry.detail);
    const version = typeof detail.version === 'string' ? detail.version : typeof detail.from === 'string' ? detail.from : null;
    return { label: version ? `${noun} ${version}` : noun, href: '#/model' };
  }
  const label = entry.entityId === null ? noun : `${noun} #${entry.entityId}`;
  if (entry.entityId === null) return { label, href: null };
  const direct: Record<string, string> = { patients: 'patients', visits: 'visits', lesions: 'lesions', images: 'images' };
  if (direct[entry.entity]) return { label, href: `#/${direct[entry.entity]}/${entry.entityId}` };
  // Predictions and reviews have no screen of their own: they are shown on their image's.
  const imageId = parseDetail(entry.detail).imageId;
  return { label, href: typeof imageId === 'number' && Number.isInteger(imageId) && imageId > 0 ? `#/images/${imageId}` : null };
}

/** The changed fields as one short line: scalars only, long values cut, so a row stays one row. */
export function auditSummary(detail: string, maxLength = 160): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(parseDetail(detail))) {
    if (value === null || value === '' || typeof value === 'object') continue;
    // Four decimals are enough to tell entries apart; sixteen make a row unreadable.
    const text = typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(4) : String(value);
    parts.push(`${key}: ${text.length > 40 ? `${text.slice(0, 39)}…` : text}`);
  }
  const line = parts.join(' · ');
  return line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line;
}

/** An audit time to the second: many entries share a minute. */
export function auditTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
