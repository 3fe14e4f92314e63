import { homedir } from 'node:os';
import { join } from 'node:path';

const APP = 'dermafuse';

/**
 * The platform's per-user application-data folder for dermafuse, the same place Electron's
 * app.getPath('userData') points to, computed without Electron so the CLI and tests share it.
 */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  switch (platform) {
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), APP);
    case 'darwin':
      return join(home, 'Library', 'Application Support', APP);
    default:
      return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), APP);
  }
}

/**
 * Where the database and images live: the user's setting when there is one, then
 * DERMAFUSE_DATA_DIR (CI, portable installs), then the platform default.
 */
export function resolveDataDir(setting?: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (setting && setting.trim() !== '') return setting;
  if (env.DERMAFUSE_DATA_DIR && env.DERMAFUSE_DATA_DIR.trim() !== '') return env.DERMAFUSE_DATA_DIR;
  return defaultDataDir(process.platform, env);
}

export const DATABASE_FILE_NAME = 'dermafuse.sqlite';
export const IMAGES_DIR_NAME = 'images';
export const OVERLAYS_DIR_NAME = 'overlays';
