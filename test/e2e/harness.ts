/**
 * What the browser tests share: the Chromium to drive, a fresh renderer build, and the real
 * workstation services (temporary database, real model) behind the HTTP test bridge.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createAppServices, type AppServices, type AppServicesOptions } from '../../electron/app-services.ts';
import { projectRoot } from '../../electron/util/paths.ts';
import { createDispatcher } from '../../electron/ipc/handlers.ts';
import { startHttpBridge, type HttpBridge } from '../bridge/http-bridge.ts';

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

export interface Workstation {
  readonly services: AppServices;
  readonly bridge: HttpBridge;
  readonly dataDir: string;
  readonly internalErrors: { channel: string; error: unknown }[];
  close(): Promise<void>;
}

/** The real services on a temporary data folder, served with the built renderer. */
export async function startWorkstation(options: Omit<AppServicesOptions, 'dataDir'> & { dataDir?: string; port?: number } = {}): Promise<Workstation> {
  const { port, ...serviceOptions } = options;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'dermafuse-e2e-'));
  const ownsDir = options.dataDir === undefined;
  const services = await createAppServices({ appVersion: 'e2e', log: () => {}, ...serviceOptions, dataDir });
  const internalErrors: { channel: string; error: unknown }[] = [];
  const bridge = await startHttpBridge({
    dispatcher: createDispatcher(services.channels, { onInternalError: (channel, error) => internalErrors.push({ channel, error }) }),
    events: services.events,
    media: services.media,
    staticDir: rendererDist,
    port,
  });
  return {
    services,
    bridge,
    dataDir,
    internalErrors,
    async close() {
      await bridge.close();
      await services.close();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
