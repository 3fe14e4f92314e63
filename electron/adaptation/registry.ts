/**
 * The clinic's local model versions: `<dataDir>/local-models/registry.json` lists each version
 * adapted here (its folder, the sha256 its manifest had when written, who adopted it when) and
 * which one is active (null: the shipped model). The registry file is replaced whole (temp +
 * rename), adoption and rollback write their audit entry in the same database transaction, and a
 * version is only ever made active by adopt() (an explicit confirmation), never by its creation.
 *
 * activeModelDir() re-verifies the active version's files before anyone loads them: a folder
 * edited after it was written throws LocalModelError and the registry stays as it is (the caller
 * decides to roll back, which is one call). A registry file that cannot be read as a registry
 * throws LocalModelError too; rollback() then sets it aside and starts a fresh one, so the way
 * back to the shipped model never depends on that file.
 */
import { existsSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Store } from '../store/index.ts';
import { nowIso } from '../store/time.ts';
import { writeFileAtomic } from './files.ts';
import { LocalModelError, localVersionName, verifyModelFolder } from './local-model.ts';

export const LOCAL_MODELS_DIR = 'local-models';
export const REGISTRY_FILE = 'registry.json';

const RegistryVersion = z.object({
  version: z.string().min(1),
  /** Folder name under local-models/ (relative, so a moved data folder keeps working). */
  folder: z.string().min(1),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  baseVersion: z.string().min(1),
  method: z.string().min(1),
  createdAt: z.string(),
  createdBy: z.string().optional(),
  /** The latest adoption of this version. */
  adoptedBy: z.string().optional(),
  adoptedAt: z.string().optional(),
});
export type RegistryVersion = z.infer<typeof RegistryVersion>;

const RegistryFile = z.object({ active: z.string().nullable(), versions: z.array(RegistryVersion) });
export type RegistryState = z.infer<typeof RegistryFile>;

/** What the registry needs of the store: its audit log and transactions (adoption and its audit commit together). */
export type RegistryAudit = Pick<Store, 'audit' | 'transaction'>;

export interface ModelRegistry {
  /** `<dataDir>/local-models`: where local model folders live. */
  readonly dir: string;
  read(): RegistryState;
  /** The next free version name for a base version (`<base>+local-<n>`), counting folders too. */
  nextVersion(baseVersion: string): string;
  /** Records a version whose folder is already in place under dir (not adopted); audited as model.create. */
  register(entry: Omit<RegistryVersion, 'adoptedBy' | 'adoptedAt'>, actor: string): RegistryVersion;
  /** Makes a version the active model after verifying its files; audited as model.adopt. */
  adopt(version: string, actor: string): RegistryVersion;
  /**
   * Back to the shipped model; audited as model.rollback. A no-op (no audit) when the shipped model
   * is already active. An unreadable registry is moved aside (`registry.json.corrupt-<time>`) and
   * replaced by an empty one; the local model folders stay on disk.
   */
  rollback(actor: string): void;
  /** The folder to load: the active local version's (verified), or null for the shipped model. */
  activeModelDir(): string | null;
  /** Absolute folder of a registered version. */
  folderOf(version: string): string;
}

const AUDIT_ENTITY = 'local_models';

export function createRegistry(dataDir: string, store: RegistryAudit): ModelRegistry {
  const dir = join(dataDir, LOCAL_MODELS_DIR);
  const file = join(dir, REGISTRY_FILE);

  /** The registry, or why its file's content is not one; a file that cannot be read at all throws. */
  const parse = (): { state: RegistryState } | { problem: string } => {
    if (!existsSync(file)) return { state: { active: null, versions: [] } };
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new LocalModelError(`${file} cannot be read: ${(error as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return { problem: `${file} is not valid JSON: ${(error as Error).message}` };
    }
    const parsed = RegistryFile.safeParse(raw);
    if (!parsed.success) return { problem: `${file} is not a valid local model registry: ${z.prettifyError(parsed.error)}` };
    return { state: parsed.data };
  };
  const read = (): RegistryState => {
    const parsed = parse();
    if ('problem' in parsed) throw new LocalModelError(parsed.problem);
    return parsed.state;
  };
  const write = (state: RegistryState): void => writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
  const find = (state: RegistryState, version: string): RegistryVersion => {
    const entry = state.versions.find((v) => v.version === version);
    if (!entry) throw new LocalModelError(`no local model ${version} (known: ${state.versions.map((v) => v.version).join(', ') || 'none'})`);
    return entry;
  };
  const folderOf = (version: string): string => join(dir, find(read(), version).folder);
  const verify = (entry: RegistryVersion): void => {
    const manifest = verifyModelFolder(join(dir, entry.folder), entry.manifestSha256);
    if (manifest.version !== entry.version) throw new LocalModelError(`local model folder ${entry.folder} holds ${manifest.version}, the registry expects ${entry.version}`);
  };

  /**
   * The registry file is replaced as the transaction's last step: if the rename fails, the audit
   * entry rolls back with it; if the process dies between rename and commit, the change stands
   * without its entry (the window is one syscall).
   */
  const change = (action: string, actor: string, detail: Record<string, unknown>, next: RegistryState): void => {
    store.transaction(() => {
      store.audit.record({ actor, action, entity: AUDIT_ENTITY, entityId: null, detail });
      write(next);
    });
  };

  return {
    dir,
    read,
    folderOf,
    nextVersion(baseVersion) {
      const taken = new Set([...read().versions.map((v) => v.version), ...(existsSync(dir) ? readdirSync(dir) : [])]);
      for (let n = 1; ; n++) {
        const name = localVersionName(baseVersion, n);
        if (!taken.has(name)) return name;
      }
    },
    register(entry, actor) {
      const state = read();
      if (state.versions.some((v) => v.version === entry.version)) throw new LocalModelError(`local model ${entry.version} is already registered`);
      const added: RegistryVersion = { ...entry, createdBy: entry.createdBy ?? actor };
      verify(added);
      change('model.create', actor, { version: entry.version, baseVersion: entry.baseVersion, method: entry.method, manifestSha256: entry.manifestSha256 }, { ...state, versions: [...state.versions, added] });
      return added;
    },
    adopt(version, actor) {
      if (!actor.trim()) throw new LocalModelError('adopting a local model needs the name of who adopts it');
      const state = read();
      const entry = find(state, version);
      verify(entry);
      const adopted: RegistryVersion = { ...entry, adoptedBy: actor, adoptedAt: nowIso() };
      change(
        'model.adopt',
        actor,
        { version, previous: state.active, manifestSha256: entry.manifestSha256, baseVersion: entry.baseVersion },
        { active: version, versions: state.versions.map((v) => (v.version === version ? adopted : v)) },
      );
      return adopted;
    },
    rollback(actor) {
      if (!actor.trim()) throw new LocalModelError('rolling back needs the name of who does it');
      const parsed = parse();
      if ('problem' in parsed) {
        // Kept for whoever investigates; ':' is not allowed in Windows file names.
        const aside = `${file}.corrupt-${nowIso().replace(/[:.]/g, '-')}`;
        store.transaction(() => {
          store.audit.record({
            actor,
            action: 'model.rollback',
            entity: AUDIT_ENTITY,
            entityId: null,
            detail: { from: null, to: 'shipped', registryUnreadable: parsed.problem, movedTo: aside },
          });
          renameSync(file, aside);
          write({ active: null, versions: [] });
        });
        return;
      }
      const state = parsed.state;
      if (state.active === null) return;
      change('model.rollback', actor, { from: state.active, to: 'shipped' }, { ...state, active: null });
    },
    activeModelDir() {
      const state = read();
      if (state.active === null) return null;
      const entry = find(state, state.active);
      verify(entry);
      return join(dir, entry.folder);
    },
  };
}

/**
 * The model in force: the adopted local version's folder, verified, or null for the shipped model.
 * A version modified after it was written, or an unreadable registry, gives the shipped model and
 * says why in `notice` (what the clinician should read; the registry itself is left as it is).
 */
export function modelInForce(registry: Pick<ModelRegistry, 'activeModelDir'>): { dir: string | null; notice: string | null } {
  try {
    return { dir: registry.activeModelDir(), notice: null };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { dir: null, notice: `${message.replace(/[.\s]*$/, '.')} The shipped model is in use instead; return to it on the Model screen, or adopt a local version again.` };
  }
}
