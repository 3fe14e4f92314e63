/** The audit log, newest first, paged by offset. */
import type { Store } from '../store/index.ts';
import type { ChannelsOf } from './types.ts';

export function auditChannels(store: Store): ChannelsOf<'audit.list'> {
  return {
    async 'audit.list'({ entity, entityId, limit, offset }) {
      return store.audit.list({ entity: entity ?? undefined, entityId: entityId ?? undefined, pageSize: limit, offset }).items;
    },
  };
}
