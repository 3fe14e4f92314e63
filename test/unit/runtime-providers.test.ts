/**
 * Execution providers: Settings offers only what starts here, and a forced provider that cannot
 * start falls back to the CPU with a notice instead of leaving the model unavailable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AppInfo } from '#common/ipc';
import { Settings } from '#common/domain';
import { createEventHub } from '../../electron/ipc/handlers.ts';
import { ProviderStartError, RuntimeError, availableProviders, createSession, probeModel, probeProviders, startWithCpuFallback, type ExecutionProviderChoice } from '../../electron/model/runtime.ts';
import { appInfoChannel, createModelService } from '../../electron/services/model.ts';
import { PixelStatsClassifier } from '../helpers/pixel-stats-classifier.ts';

const savedEp = process.env.DERMAFUSE_EP;
afterEach(() => {
  process.env.DERMAFUSE_EP = savedEp;
  if (savedEp === undefined) delete process.env.DERMAFUSE_EP;
});

/** A provider that fails the way onnxruntime fails without a driver. */
const failing = (bad: ExecutionProviderChoice) => async (ep: ExecutionProviderChoice) => {
  if (ep === bad) throw new ProviderStartError(`could not start onnxruntime with execution provider '${ep}': libcudart.so.12: cannot open shared object file`, ep);
  return `started on ${ep}`;
};

describe('provider probe', () => {
  it('offers auto and cpu always, and an accelerator only when a session starts on it', async () => {
    const tried: string[] = [];
    const offered = await probeProviders(async (ep) => {
      tried.push(ep);
      if (ep === 'cuda') throw new Error('CUDA driver version is insufficient');
    }, ['cuda', 'dml']);
    expect(tried).toEqual(['cuda', 'dml']);
    expect(offered).toEqual(['auto', 'cpu', 'dml']);
  });

  it('probes the real installation once, and every provider it offers really starts', async () => {
    delete process.env.DERMAFUSE_EP;
    const first = availableProviders();
    expect(availableProviders()).toBe(first); // cached
    const offered = await first;
    expect(offered.slice(0, 2)).toEqual(['auto', 'cpu']);
    for (const ep of offered.filter((p) => p !== 'auto')) {
      const { session, executionProvider } = await createSession(probeModel(), { executionProvider: ep, intraOpThreads: 1 });
      expect(executionProvider).toBe(ep);
      await session.release();
    }
  });
});

describe('startWithCpuFallback', () => {
  it('runs on the CPU with a notice when the forced provider cannot start', async () => {
    delete process.env.DERMAFUSE_EP;
    const calls: string[] = [];
    const r = await startWithCpuFallback('cuda', async (ep) => {
      calls.push(ep);
      return failing('cuda')(ep);
    });
    expect(calls).toEqual(['cuda', 'cpu']);
    expect(r.value).toBe('started on cpu');
    expect(r.provider).toBe('cpu');
    expect(r.notice).toMatch(/^CUDA could not start, so the model runs on the CPU.*libcudart/);
  });

  it('honours $DERMAFUSE_EP as the forced provider', async () => {
    process.env.DERMAFUSE_EP = 'dml';
    const r = await startWithCpuFallback('auto', failing('dml'));
    expect(r).toMatchObject({ value: 'started on cpu', provider: 'cpu' });
    expect(r.notice).toMatch(/^DirectML could not start/);
  });

  it('says nothing when the provider starts, and passes other errors through untouched', async () => {
    delete process.env.DERMAFUSE_EP;
    expect(await startWithCpuFallback('cuda', failing('dml'))).toEqual({ value: 'started on cuda', provider: 'cuda', notice: null });
    const calls: string[] = [];
    const weights = new Error('weights file missing');
    await expect(
      startWithCpuFallback('cuda', async (ep) => {
        calls.push(ep);
        throw weights;
      }),
    ).rejects.toBe(weights);
    expect(calls).toEqual(['cuda']); // not retried: the CPU would fail the same way
    await expect(startWithCpuFallback('cpu', failing('cpu'))).rejects.toThrow(ProviderStartError);
    process.env.DERMAFUSE_EP = 'tpu';
    await expect(startWithCpuFallback(undefined, failing('cuda'))).rejects.toThrow(RuntimeError);
  });

  it('a real onnxruntime start failure is a ProviderStartError', async () => {
    // A provider that is not in this build (or whose library is absent) cannot start.
    const offered = await availableProviders();
    const missing = (['coreml', 'dml', 'cuda'] as const).find((p) => !offered.includes(p));
    if (!missing) return; // every accelerator starts here: nothing to check
    await expect(createSession(probeModel(), { executionProvider: missing, intraOpThreads: 1 })).rejects.toBeInstanceOf(ProviderStartError);
  });
});

describe('model service with a forced provider that fails', () => {
  it('loads the model on the CPU and app.info carries the notice and the offered providers', async () => {
    delete process.env.DERMAFUSE_EP;
    const settings = Settings.parse({ dataDir: '/tmp/x', executionProvider: 'cuda', acknowledgedIntendedUse: true });
    const asked: string[] = [];
    const statuses: unknown[] = [];
    const events = createEventHub(() => undefined);
    events.subscribe((event, payload) => statuses.push({ event, payload }));
    const model = createModelService({
      settings: () => settings,
      events,
      log: () => undefined,
      load: async (s) => {
        asked.push(s.executionProvider);
        if (s.executionProvider === 'cuda') throw new ProviderStartError("could not start onnxruntime with execution provider 'cuda': no CUDA-capable device is detected", 'cuda');
        return new PixelStatsClassifier();
      },
    });
    await model.ready;
    expect(asked).toEqual(['cuda', 'cpu']);
    expect(model.status()).toMatchObject({ status: 'ready', error: null });
    expect(statuses).toEqual([{ event: 'model.status', payload: { status: 'ready', modelVersion: expect.any(String), error: null } }]);
    const info = AppInfo.parse(await appInfoChannel(model, { nativeDialogs: false })['app.info']({}));
    expect(info.modelStatus).toBe('ready');
    expect(info.modelNotice).toMatch(/CUDA could not start, so the model runs on the CPU.*no CUDA-capable device/);
    expect(info.executionProviders).toEqual(await availableProviders());
    await model.dispose();
  });
});
