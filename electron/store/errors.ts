export type StoreErrorCode = 'not_found' | 'conflict' | 'invalid' | 'schema_too_new';

/** Expected failures of the store, with a code the IPC layer can map to a user message. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function notFound(entity: string, id: number | string): StoreError {
  return new StoreError('not_found', `${entity} ${id} does not exist`);
}
