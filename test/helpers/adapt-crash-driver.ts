/**
 * Child process for the adaptation crash test: adapts the store's model (recalibrate, quick
 * cross-validation), writes the local version, registers it and adopts it, and SIGKILLs itself at
 * the rename named by KILL_AT, the moment each step becomes visible:
 *   folder    the finished temporary model folder being renamed into local-models/
 *   register  registry.json being replaced while registering (inside its audit transaction)
 *   adopt     registry.json being replaced while adopting (inside its audit transaction)
 * Usage: node --import tsx adapt-crash-driver.ts <dataDir>
 */
import fs, { statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';
import { casesFromStore } from '../../electron/adaptation/cases.ts';
import { createRegistry, REGISTRY_FILE } from '../../electron/adaptation/registry.ts';
import { loadBaseModel, runAdaptation, writeLocalModel } from '../../electron/adaptation/run.ts';
import { openStore } from '../../electron/store/store.ts';
import { SHIPPED_DIR } from './adapt-fixtures.ts';

const [dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: adapt-crash-driver.ts <dataDir>');
const killAt = process.env.KILL_AT ?? '';
let registryWrites = 0;
const rename = fs.renameSync;
// Patched on the builtin and synced into every ESM import of it, so the code under test is unchanged.
fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
  const name = basename(String(from));
  const isFolder = statSync(from).isDirectory();
  if (killAt === 'folder' && isFolder) process.kill(process.pid, 'SIGKILL');
  if (name.startsWith(`.${REGISTRY_FILE}.`)) {
    registryWrites++;
    if ((killAt === 'register' && registryWrites === 1) || (killAt === 'adopt' && registryWrites === 2)) process.kill(process.pid, 'SIGKILL');
  }
  rename(from, to);
};
syncBuiltinESMExports();

const store = openStore({ dataDir, actor: 'crash-driver' });
const base = await loadBaseModel(SHIPPED_DIR);
const cases = await casesFromStore(store, { modelVersion: base.manifest.version });
const result = await runAdaptation({ cases, base, method: 'recalibrate', repeats: 1, bootstrapIterations: 50 });
const registry = createRegistry(store.dataDir, store);
const written = await writeLocalModel(result, registry, 'crash-driver');
process.stdout.write(`written ${written.version}\n`);
registry.adopt(written.version, 'crash-driver');
process.stdout.write(`adopted ${written.version}\n`);
store.close();
