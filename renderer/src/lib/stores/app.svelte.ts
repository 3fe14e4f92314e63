/** Application-wide state: the service's info (model status) and the clinician's settings. */
import type { AppInfo, SettingsPatch } from '#common/ipc';
import type { Settings } from '#common/domain';
import type { z } from 'zod';
import { call, errorMessage, on } from '../api.ts';
import { notices } from './notices.svelte.ts';

class AppState {
  info = $state<AppInfo | null>(null);
  settings = $state<Settings | null>(null);
  loadError = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      const [info, settings] = await Promise.all([call('app.info', {}), call('settings.get', {})]);
      this.info = info;
      this.settings = settings;
      this.loadError = null;
    } catch (err) {
      this.loadError = errorMessage(err);
    }
  }

  async saveSettings(patch: z.input<typeof SettingsPatch>): Promise<void> {
    this.settings = await call('settings.update', patch);
  }

  listen(): () => void {
    return on('model.status', (status) => {
      if (this.info) this.info = { ...this.info, modelStatus: status.status, modelVersion: status.modelVersion, modelError: status.error };
      // A model-process crash arrives as 'loading' with its reason: say so where the clinician looks.
      if (status.status === 'loading' && status.error) notices.push('error', status.error);
      // The presets' validation numbers come with the loaded model, so ask for them once it is ready.
      if (status.status === 'ready') {
        call('app.info', {}).then(
          (info) => (this.info = info),
          () => undefined,
        );
      }
    });
  }
}

export const app = new AppState();
