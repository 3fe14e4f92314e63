/**
 * onnxruntime-node session creation and execution-provider choice. 'auto' tries an accelerator
 * only when this onnxruntime-node build lists it (and its provider library is present), and
 * falls back to the CPU; a forced provider that cannot start is an error, never a silent fallback.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export type ExecutionProviderChoice = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml';
export const EXECUTION_PROVIDERS: readonly ExecutionProviderChoice[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml'];

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
}

/** The setting wins; otherwise $DERMAFUSE_EP; otherwise 'auto'. */
export function resolveProviderChoice(setting?: ExecutionProviderChoice): ExecutionProviderChoice {
  if (setting && setting !== 'auto') return setting;
  const env = process.env.DERMAFUSE_EP?.trim().toLowerCase();
  if (!env) return 'auto';
  if (!(EXECUTION_PROVIDERS as readonly string[]).includes(env)) {
    throw new RuntimeError(`DERMAFUSE_EP=${env} is not one of ${EXECUTION_PROVIDERS.join(', ')}`);
  }
  return env as ExecutionProviderChoice;
}

/** Providers onnxruntime-node says it was built with (name, and whether it ships in the package). */
export function listedProviders(): { name: string; bundled: boolean }[] {
  try {
    return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
  } catch {
    return [{ name: 'cpu', bundled: true }];
  }
}

/** CUDA's provider library is an optional download at install time; it must be on disk to try. */
function providerLibraryPresent(name: string): boolean {
  if (name !== 'cuda' && name !== 'tensorrt') return true;
  try {
    const binding = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
    const bin = join(binding, '..', 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(bin, process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`));
  } catch {
    return false;
  }
}

function candidates(choice: ExecutionProviderChoice): string[] {
  if (choice !== 'auto') return [choice];
  const listed = listedProviders();
  const usable = (name: string) => listed.some((b) => b.name === name && (b.bundled || providerLibraryPresent(name)));
  const accelerated = ['cuda', 'dml', 'coreml'].filter(usable);
  return [...accelerated, 'cpu'];
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
      failures.push(`${ep}: ${(e as Error).message.split('\n')[0]}`);
      if (choice !== 'auto') break;
    }
  }
  const listed = listedProviders().map((b) => b.name).join(', ');
  throw new RuntimeError(`could not start onnxruntime with execution provider '${choice}' (this build lists: ${listed}). ${failures.join('; ')}`);
}

export { ort };
