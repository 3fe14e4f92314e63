/** What the service modules share: the shell's optional capabilities and the channel-map slices. */
import type { Channel } from '#common/ipc';
import type { ChannelImplementations } from '../ipc/handlers.ts';

/** Native dialogs, where a shell provides them (the test bridge has none). */
export interface Dialogs {
  pickFolder(): Promise<string | null>;
  /** Where to save a PDF; null when the clinician cancels. */
  pickSavePath(defaultName: string): Promise<string | null>;
  /** Opens a file with the system's default application. */
  openPath(path: string): Promise<void>;
}

/** Where the data folder choice survives a restart (it cannot live in the database inside it). */
export interface BootstrapConfig {
  read(): { dataDir?: string | null };
  write(config: { dataDir: string | null }): Promise<void>;
}

/** The implementations of some of the contract's channels. */
export type ChannelsOf<C extends Channel> = Pick<ChannelImplementations, C>;
