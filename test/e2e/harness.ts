/**
 * What the browser tests share: the Chromium to drive, a fresh renderer build, and the real
 * workstation services (temporary database, real or stand-in model) in the services host
 * process, reached through the same client the app's main process uses and served by the HTTP
 * test bridge.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { AppInfo, Channel, RequestOf, ResponseOf } from '#common/ipc';
import { projectRoot } from '../../electron/util/paths.ts';
import { createServicesClient, type ServicesClient } from '../../electron/services-host/client.ts';
import type { HostConfig } from '../../electron/services-host/messages.ts';
import { forkNodeHost } from '../../electron/services-host/node-host.ts';
import { startHttpBridge, type HttpBridge } from '../bridge/http-bridge.ts';
import { HOST_CLASSIFIERS } from '../helpers/host-classifiers.ts';

export const CHROMIUM = process.env.DERMAFUSE_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const NO_CHROMIUM_REASON = `browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set DERMAFUSE_CHROMIUM)`;

export const rendererDist = join(projectRoot, 'renderer', 'dist');
export const screenshotsDir = join(projectRoot, 'test-output', 'screenshots');

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(info.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Builds the renderer unless renderer/dist is newer than everything it is built from. */
export async function buildRenderer(): Promise<void> {
  const inputs = ['renderer/src', 'renderer/index.html', 'renderer/vite.config.ts', 'common'];
  const built = join(rendererDist, 'index.html');
  if (existsSync(built) && statSync(built).mtimeMs > Math.max(...inputs.map((p) => newestMtime(join(projectRoot, p))))) return;
  const { build } = await import('vite');
  await build({ configFile: join(projectRoot, 'renderer', 'vite.config.ts'), logLevel: 'error' });
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A 1280x800 page whose page errors and console errors are collected into `problems`. */
export async function watchedPage(browser: Browser, problems: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  return page;
}

/** Closes what a suite opened, whichever of it was opened before a failure. */
export async function closeSuite(browser: Browser | undefined, ws: Workstation | undefined, scratch: string | undefined): Promise<void> {
  await browser?.close();
  await ws?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}

export interface Workstation {
  readonly client: ServicesClient;
  readonly bridge: HttpBridge;
  readonly dataDir: string;
  readonly internalErrors: { channel: string; error: unknown }[];
  /** The services host running now (a new one after a restart). */
  host(): ChildProcess;
  /** Calls a channel the way the renderer does; a failure throws with its code and message. */
  call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>>;
  /** Waits until the model has loaded or failed to. */
  modelSettled(): Promise<AppInfo>;
  close(): Promise<void>;
}

export interface WorkstationOptions {
  dataDir?: string;
  port?: number;
  /** An export of test/helpers/host-classifiers.ts and its options; omitted, the shipped model. */
  classifier?: { export: string; options?: unknown };
  /** Host log lines (model loading failures, restarts); default: dropped. */
  log?: (message: string) => void;
}

/** The real services in a host process on a temporary data folder, served with the built renderer. */
export async function startWorkstation(options: WorkstationOptions = {}): Promise<Workstation> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'dermafuse-e2e-'));
  const ownsDir = options.dataDir === undefined;
  const internalErrors: { channel: string; error: unknown }[] = [];
  let child: ChildProcess | null = null;
  const config: HostConfig = {
    dataDir,
    appVersion: 'e2e',
    ...(options.classifier ? { classifier: { module: HOST_CLASSIFIERS, ...options.classifier } } : {}),
  };
  const client = createServicesClient({
    spawn: () => {
      const host = forkNodeHost();
      child = host.child;
      return host;
    },
    config,
    log: options.log ?? (() => {}),
    onInternalError: (channel, error) => internalErrors.push({ channel, error }),
    restartDelayMs: 100,
  });
  try {
    await client.ready();
  } catch (err) {
    await client.close();
    throw err;
  }
  const bridge = await startHttpBridge({ dispatcher: client, events: client.events, media: client.media, staticDir: rendererDist, port: options.port });

  async function call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
    const result = await client.dispatch(channel, request);
    if (!result.ok) throw Object.assign(new Error(`${channel}: ${result.error.message}`), { code: result.error.code });
    return result.data as ResponseOf<C>;
  }

  return {
    client,
    bridge,
    dataDir,
    internalErrors,
    host: () => child!,
    call,
    async modelSettled() {
      for (;;) {
        const info = await call('app.info', {});
        if (info.modelStatus !== 'loading') return info;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await bridge.close();
      await client.close();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
