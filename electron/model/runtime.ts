/**
 * onnxruntime-node session creation and execution-provider choice. 'auto' tries an accelerator
 * only when this onnxruntime-node build lists it (and its provider library is present), and
 * falls back to the CPU. A forced provider that cannot start makes createSession fail with a
 * ProviderStartError; the workstation wraps its model load in startWithCpuFallback, which then
 * runs on the CPU and says why, so a missing GPU driver never leaves the model unavailable.
 * availableProviders() says which providers this installation can actually start (probed once).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ExecutionProvider } from '#common/domain';
import { GraphBuilder } from './convert/onnx-builder.ts';

/** The setting's values; defined once in common/domain.ts. */
export type ExecutionProviderChoice = ExecutionProvider;
export const EXECUTION_PROVIDERS: readonly ExecutionProviderChoice[] = ExecutionProvider.options;
/** The accelerators, in the order 'auto' tries them. */
const ACCELERATORS = ['cuda', 'dml', 'coreml'] as const satisfies readonly ExecutionProviderChoice[];

const LABELS: Record<ExecutionProviderChoice, string> = { auto: 'Automatic', cpu: 'CPU', cuda: 'CUDA', dml: 'DirectML', coreml: 'Core ML' };

export class RuntimeError extends Error {
  override readonly name: string = 'RuntimeError';
}

/** A session could not start on the provider asked for (driver, library or device missing). */
export class ProviderStartError extends RuntimeError {
  override readonly name = 'ProviderStartError';
  constructor(
    message: string,
    readonly provider: ExecutionProviderChoice,
  ) {
    super(message);
  }
}

/** The setting wins; otherwise $DERMAFUSE_EP; otherwise 'auto'. */
export function resolveProviderChoice(setting?: ExecutionProviderChoice): ExecutionProviderChoice {
  if (setting && setting !== 'auto') return setting;
  const env = process.env.DERMAFUSE_EP?.trim().toLowerCase();
  if (!env) return 'auto';
  const parsed = ExecutionProvider.safeParse(env);
  if (!parsed.success) throw new RuntimeError(`DERMAFUSE_EP=${env} is not one of ${EXECUTION_PROVIDERS.join(', ')}`);
  return parsed.data;
}

/** Providers onnxruntime-node says it was built with (name, and whether it ships in the package). */
export function listedProviders(): { name: string; bundled: boolean }[] {
  try {
    return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
  } catch {
    return [{ name: 'cpu', bundled: true }];
  }
}

/** Where onnxruntime-node keeps its native libraries for this platform. */
export function providerLibraryDir(): string | null {
  try {
    const main = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
    return join(main, '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/**
 * CUDA's provider library is not in the npm package: `npm run gpu:install` downloads it with
 * onnxruntime-node's own installer. It must be on disk before a session can try it.
 */
function providerLibraryPresent(name: string): boolean {
  if (name !== 'cuda' && name !== 'tensorrt') return true;
  const dir = providerLibraryDir();
  return dir !== null && existsSync(join(dir, process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`));
}

/** Accelerators this build lists and could load (bundled, or its provider library installed). */
function listedAccelerators(): ExecutionProviderChoice[] {
  const listed = listedProviders();
  return ACCELERATORS.filter((name) => listed.some((b) => b.name === name && (b.bundled || providerLibraryPresent(name))));
}

function candidates(choice: ExecutionProviderChoice): ExecutionProviderChoice[] {
  return choice === 'auto' ? [...listedAccelerators(), 'cpu'] : [choice];
}

export interface SessionOptions {
  readonly executionProvider?: ExecutionProviderChoice;
  /** Threads for one operator; defaults to the machine's available parallelism. */
  readonly intraOpThreads?: number;
  /** Let idle intra-op threads spin (default off; $DERMAFUSE_ORT_SPIN=1 turns it on). */
  readonly spinning?: boolean;
}

function spinning(options: SessionOptions): boolean {
  return options.spinning ?? process.env.DERMAFUSE_ORT_SPIN === '1';
}

export interface StartedSession {
  readonly session: ort.InferenceSession;
  /** The provider the session was created with, e.g. 'cpu', 'cuda'. */
  readonly executionProvider: string;
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

export async function createSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<StartedSession> {
  const choice = resolveProviderChoice(options.executionProvider);
  const failures: string[] = [];
  for (const ep of candidates(choice)) {
    try {
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: options.intraOpThreads ?? availableParallelism(),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        // Spin-waiting workers burn the cores that the UI, the store and other work need; measured
        // here under load it doubled the InceptionV3 latency. $DERMAFUSE_ORT_SPIN=1 turns it back on.
        extra: { session: { intra_op: { allow_spinning: spinning(options) ? '1' : '0' } } },
      };
      const session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions);
      return { session, executionProvider: ep };
    } catch (e) {
      failures.push(`${ep}: ${firstLine(e)}`);
      if (choice !== 'auto') break;
    }
  }
  const listed = listedProviders().map((b) => b.name).join(', ');
  throw new ProviderStartError(`could not start onnxruntime with execution provider '${choice}' (this build lists: ${listed}). ${failures.join('; ')}`, choice);
}

// ---------------------------------------------------------------------------------------------
// What this installation can run, probed once by starting a one-node graph on each accelerator.

let probeGraph: Uint8Array | undefined;
/** The one-node graph (y = Relu(x), x: float32 [1,4]) that probes a provider. */
export function probeModel(): Uint8Array {
  if (!probeGraph) {
    const g = new GraphBuilder('provider-probe');
    g.reserve(['y']);
    g.rename(g.node('Relu', [g.input('x', [1, 4])]), 'y');
    g.output('y', [1, 4]);
    probeGraph = g.encode('provider-probe');
  }
  return probeGraph;
}

/** Starts (and releases) a session on exactly this provider; throws when it cannot. */
export type ProviderStarter = (provider: ExecutionProviderChoice) => Promise<void>;

const startProbe: ProviderStarter = async (provider) => {
  const { session } = await createSession(probeModel(), { executionProvider: provider, intraOpThreads: 1 });
  await session.release();
};

/**
 * Every provider that starts here, 'auto' and 'cpu' first. `candidates` defaults to the
 * accelerators this build lists with their libraries on disk; `start` is injectable for tests.
 */
export async function probeProviders(start: ProviderStarter = startProbe, accelerators: readonly ExecutionProviderChoice[] = listedAccelerators()): Promise<ExecutionProviderChoice[]> {
  const usable: ExecutionProviderChoice[] = ['auto', 'cpu'];
  for (const ep of accelerators) {
    try {
      await start(ep);
      usable.push(ep);
    } catch {
      // Listed but not startable here (no driver, no device, missing CUDA/cuDNN libraries).
    }
  }
  return usable;
}

/** For `npm run gpu:install` and support questions: each provider, whether it starts here, and why not. */
export async function explainProviders(): Promise<{ provider: ExecutionProviderChoice; starts: boolean; detail: string }[]> {
  const listed = listedProviders();
  const rows: { provider: ExecutionProviderChoice; starts: boolean; detail: string }[] = [];
  for (const provider of ['cpu', ...ACCELERATORS] as const) {
    const entry = listed.find((b) => b.name === provider);
    if (!entry) {
      rows.push({ provider, starts: false, detail: `not in onnxruntime-node's build for ${process.platform}/${process.arch}` });
    } else if (!entry.bundled && !providerLibraryPresent(provider)) {
      rows.push({ provider, starts: false, detail: `its provider library is not installed in ${providerLibraryDir()} (npm run gpu:install)` });
    } else {
      try {
        await startProbe(provider);
        rows.push({ provider, starts: true, detail: 'starts' });
      } catch (e) {
        rows.push({ provider, starts: false, detail: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return rows;
}

let probed: Promise<ExecutionProviderChoice[]> | undefined;
/** probeProviders(), once per process (a GPU does not appear while the app runs). */
export function availableProviders(): Promise<ExecutionProviderChoice[]> {
  probed ??= probeProviders();
  return probed;
}

export interface FallbackResult<T> {
  readonly value: T;
  /** The provider setting the value was started with: the one asked for, or 'cpu' after a fallback. */
  readonly provider: ExecutionProviderChoice;
  /** Why it runs on the CPU although another provider was asked for; null when nothing fell back. */
  readonly notice: string | null;
}

/**
 * Starts something (the classifier) on the provider the setting or $DERMAFUSE_EP forces; when that
 * provider cannot start, starts it on the CPU instead and returns a notice to show. Other errors
 * (a missing weights file, a damaged head) pass through unchanged.
 */
export async function startWithCpuFallback<T>(setting: ExecutionProviderChoice | undefined, start: (provider: ExecutionProviderChoice) => Promise<T>): Promise<FallbackResult<T>> {
  const choice = resolveProviderChoice(setting);
  try {
    return { value: await start(choice), provider: choice, notice: null };
  } catch (e) {
    if (!(e instanceof ProviderStartError) || choice === 'cpu' || choice === 'auto') throw e;
    const value = await start('cpu');
    const reason = e.message.trim().replace(/[.\s]*$/, '.');
    return { value, provider: 'cpu', notice: `${LABELS[choice]} could not start, so the model runs on the CPU (slower, same results). Reason: ${reason}` };
  }
}

export { ort };
