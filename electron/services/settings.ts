/** The clinician's settings; the data folder lives in the shell's bootstrap file and applies on restart. */
import type { Settings } from '#common/domain';
import { ServiceError } from '../ipc/handlers.ts';
import type { Store } from '../store/index.ts';
import type { ModelService } from './model.ts';
import type { BootstrapConfig, ChannelsOf } from './types.ts';

export interface SettingsService {
  /** The stored settings, with a data folder chosen in this session (it applies on restart). */
  current(): Settings;
  readonly channels: ChannelsOf<'settings.get' | 'settings.update'>;
}

export function createSettingsService(store: Store, model: ModelService, bootstrap: BootstrapConfig | undefined): SettingsService {
  let pendingDataDir: string | null = null;
  const current = (): Settings => {
    const stored = store.settings.getAll();
    return pendingDataDir === null ? stored : { ...stored, dataDir: pendingDataDir };
  };
  return {
    current,
    channels: {
      async 'settings.get'() {
        return current();
      },
      async 'settings.update'(patch) {
        const { dataDir, ...stored } = patch;
        if (dataDir !== undefined && dataDir !== current().dataDir) {
          if (!bootstrap) throw new ServiceError('unavailable', 'the data folder cannot be changed here');
          await bootstrap.write({ dataDir: dataDir.trim() === '' ? null : dataDir });
          pendingDataDir = dataDir;
        }
        store.settings.update(stored);
        // Only the threshold depends on the preset, so it applies at once, without a reload.
        if (stored.thresholdPreset !== undefined) model.current()?.setOperatingPoint?.(stored.thresholdPreset);
        return current();
      },
    },
  };
}
