/** The CLI's progress bar on stderr, shared by the commands that walk many images. */
import { Presets, SingleBar } from 'cli-progress';

export interface ProgressBar {
  /** One more item done. */
  readonly tick: () => void;
  /** `done` items done in all. */
  readonly update: (done: number) => void;
  readonly stop: () => void;
}

const SILENT: ProgressBar = { tick: () => undefined, update: () => undefined, stop: () => undefined };

/** A bar labelled `label`, or one that draws nothing when not `enabled` (not a terminal, --json). */
export function progressBar(label: string, enabled: boolean, total: number, done = 0): ProgressBar {
  if (!enabled) return SILENT;
  const bar = new SingleBar({ format: `${label} |{bar}| {value}/{total} eta {eta_formatted}`, stream: process.stderr }, Presets.shades_classic);
  bar.start(total, done);
  return { tick: () => bar.increment(), update: (value) => bar.update(value), stop: () => bar.stop() };
}
