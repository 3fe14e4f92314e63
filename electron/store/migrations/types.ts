export interface Migration {
  /** Becomes PRAGMA user_version once applied; strictly increasing from 1. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
