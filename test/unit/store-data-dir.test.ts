import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { defaultDataDir, resolveDataDir } from '../../electron/store/data-dir.ts';

describe('data folder', () => {
  it('follows each platform convention', () => {
    expect(defaultDataDir('linux', {}, '/home/u')).toBe(join('/home/u', '.local', 'share', 'dermafuse'));
    expect(defaultDataDir('linux', { XDG_DATA_HOME: '/xdg' }, '/home/u')).toBe(join('/xdg', 'dermafuse'));
    expect(defaultDataDir('darwin', {}, '/Users/u')).toBe(join('/Users/u', 'Library', 'Application Support', 'dermafuse'));
    expect(defaultDataDir('win32', { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'C:\\Users\\u')).toBe(join('C:\\Users\\u\\AppData\\Roaming', 'dermafuse'));
  });

  it('prefers the setting, then DERMAFUSE_DATA_DIR, then the default', () => {
    expect(resolveDataDir('/chosen', { DERMAFUSE_DATA_DIR: '/env' })).toBe('/chosen');
    expect(resolveDataDir(null, { DERMAFUSE_DATA_DIR: '/env' })).toBe('/env');
    expect(resolveDataDir('  ', {})).toBe(defaultDataDir(process.platform, {}));
  });
});
