/** The shell's folder picker, for the batch and data folders; null where the shell has none. */
import type { ChannelsOf, Dialogs } from './types.ts';

export function dialogChannels(dialogs: Dialogs | undefined): ChannelsOf<'dialog.pickFolder'> {
  return {
    async 'dialog.pickFolder'() {
      return { path: dialogs ? await dialogs.pickFolder() : null };
    },
  };
}
