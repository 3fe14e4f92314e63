import { initial } from './001-initial.ts';
import { tierIndexes } from './002-tier-indexes.ts';
import { inputGate } from './003-input-gate.ts';
import { adaptation } from './004-adaptation.ts';
import type { Migration } from './types.ts';

export type { Migration } from './types.ts';

/** Append only. A shipped migration is never edited: add the next number instead. */
export const migrations: readonly Migration[] = [initial, tierIndexes, inputGate, adaptation];
