/**
 * The Electron shell's security wiring, checked against a recording stand-in for Electron's API
 * (the Electron binary cannot be downloaded on these machines, so this is NOT Electron: it proves
 * what main.ts asks of Electron, not how Electron behaves). The window's web preferences, the
 * custom protocol's answers (CSP, no escape from the renderer folder), the services in their own
 * process (a Node child process stands in for the utility process), the IPC origin check and
 * validation, the default-deny permission, request, navigation and window-open handlers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildRenderer } from '../e2e/harness.ts';

type Fn = (...args: never[]) => unknown;
const rec = vi.hoisted(() => ({
  schemes: [] as unknown[],
  windows: [] as { options: Record<string, unknown>; url?: string }[],
  appHandlers: new Map<string, Fn>(),
  ipc: new Map<string, Fn>(),
  protocolHandlers: new Map<string, (request: Request) => Promise<Response>>(),
  permissionRequest: null as Fn | null,
  permissionCheck: null as Fn | null,
  beforeRequest: null as Fn | null,
  exited: [] as number[],
  hostEntries: [] as string[],
  userData: '',
}));

vi.mock('electron', async () => {
  // The utility process stand-in: the same host entry as a Node child process, with the
  // utility-process surface main.ts uses (postMessage, message and exit events, kill).
  const { fork } = await import('node:child_process');
  const utilityProcess = {
    fork(modulePath: string) {
      const child = fork(modulePath, [], { execArgv: modulePath.endsWith('.ts') ? ['--import', 'tsx'] : [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('error', () => undefined);
      rec.hostEntries.push(modulePath);
      return {
        postMessage: (message: unknown) => child.send(message as never),
        on: (event: string, fn: Fn) => child.on(event, fn as never),
        off: (event: string, fn: Fn) => child.off(event, fn as never),
        once: (event: string, fn: Fn) => child.once(event, fn as never),
        kill: () => child.kill(),
      };
    },
  };
  class BrowserWindow {
    webContents = { send: vi.fn() };
    constructor(options: Record<string, unknown>) {
      rec.windows.push({ options });
    }
    once() {}
    on() {}
    isDestroyed() {
      return false;
    }
    async loadURL(url: string) {
      rec.windows[rec.windows.length - 1]!.url = url;
    }
  }
  const session = {
    defaultSession: {
      setPermissionRequestHandler: (fn: Fn) => (rec.permissionRequest = fn),
      setPermissionCheckHandler: (fn: Fn) => (rec.permissionCheck = fn),
      setDevicePermissionHandler: () => {},
      webRequest: { onBeforeRequest: (fn: Fn) => (rec.beforeRequest = fn) },
      protocol: { handle: (scheme: string, fn: (r: Request) => Promise<Response>) => rec.protocolHandlers.set(scheme, fn) },
    },
  };
  return {
    app: {
      requestSingleInstanceLock: () => true,
      quit: vi.fn(),
      exit: (code: number) => rec.exited.push(code),
      on: (event: string, fn: Fn) => rec.appHandlers.set(event, fn),
      whenReady: () => Promise.resolve(),
      getPath: () => rec.userData,
      getVersion: () => '0.0.0-shell-test',
      isPackaged: false,
    },
    BrowserWindow,
    dialog: { showOpenDialog: vi.fn(), showSaveDialog: vi.fn(), showErrorBox: vi.fn() },
    ipcMain: { handle: (channel: string, fn: Fn) => rec.ipc.set(channel, fn) },
    Menu: { setApplicationMenu: vi.fn(), buildFromTemplate: (t: unknown) => t },
    protocol: { registerSchemesAsPrivileged: (schemes: unknown[]) => rec.schemes.push(...schemes) },
    session,
    shell: { openExternal: vi.fn() },
    utilityProcess,
  };
});

let scratch: string;

beforeAll(async () => {
  await buildRenderer();
  scratch = mkdtempSync(join(tmpdir(), 'dermafuse-shell-'));
  rec.userData = join(scratch, 'user-data');
  process.env.DERMAFUSE_DATA_DIR = join(scratch, 'data');
  await import('../../electron/main.ts');
  await vi.waitFor(() => expect(rec.ipc.size).toBe(1), { timeout: 30_000 });
}, 120_000);

afterAll(async () => {
  const quit = rec.appHandlers.get('will-quit') as ((e: { preventDefault(): void }) => void) | undefined;
  quit?.({ preventDefault() {} });
  await vi.waitFor(() => expect(rec.exited).toEqual([0]), { timeout: 30_000 });
  delete process.env.DERMAFUSE_DATA_DIR;
  rmSync(scratch, { recursive: true, force: true });
});

describe('Electron shell wiring (against a stand-in for Electron)', () => {
  it('opens one window: isolated, sandboxed, no Node, loaded from the app origin', () => {
    expect(rec.windows).toHaveLength(1);
    const prefs = rec.windows[0]!.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false });
    expect(String(prefs.preload)).toMatch(/preload\.cjs$/);
    expect(rec.windows[0]!.url).toBe('dermafuse://app/index.html');
    expect(rec.schemes).toEqual([expect.objectContaining({ scheme: 'dermafuse', privileges: expect.objectContaining({ standard: true, secure: true }) })]);
  });

  it('serves the renderer under the strict CSP and nothing outside it', async () => {
    const handle = rec.protocolHandlers.get('dermafuse')!;
    const index = await handle(new Request('dermafuse://app/index.html'));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect(await index.text()).toContain('<div id="app">');
    for (const url of ['dermafuse://other/index.html', 'dermafuse://app/..%2F..%2Fpackage.json', 'dermafuse://app/media/image/' + '0'.repeat(64), 'dermafuse://app/media/overlay/1']) {
      const res = await handle(new Request(url));
      expect(res.status, url).toBe(404);
    }
    expect((await handle(new Request('dermafuse://app/index.html', { method: 'POST', body: 'x' }))).status).toBe(404);
  });

  it('runs the services in a separate process started from the host entry', () => {
    expect(rec.hostEntries).toEqual([expect.stringMatching(/services-host[\\/]entry\.ts$/)]);
  });

  it('answers IPC only from the app origin, through the validating dispatcher', async () => {
    const invoke = rec.ipc.get('dermafuse:invoke') as (event: unknown, channel: unknown, payload: unknown) => Promise<{ ok: boolean; error?: { code: string; message: string } }>;
    const fromApp = { senderFrame: { url: 'dermafuse://app/index.html#/patients' } };
    await expect(invoke(fromApp, 'app.info', {})).resolves.toMatchObject({ ok: true });
    await expect(invoke(fromApp, 'patients.create', { name: 42 })).resolves.toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    for (const url of ['https://evil.example/', 'file:///etc/passwd', undefined]) {
      const result = await invoke({ senderFrame: url === undefined ? null : { url } }, 'app.info', {});
      expect(result, String(url)).toMatchObject({ ok: false, error: { code: 'invalid_request', message: 'calls are only accepted from the app' } });
    }
  });

  it('denies every permission and every request that is not the app itself', () => {
    const granted = vi.fn();
    (rec.permissionRequest as (wc: unknown, permission: string, cb: (ok: boolean) => void) => void)(null, 'media', granted);
    expect(granted).toHaveBeenCalledWith(false);
    expect((rec.permissionCheck as () => boolean)()).toBe(false);
    const verdict = (url: string) => {
      let cancel: boolean | undefined;
      (rec.beforeRequest as (d: { url: string }, cb: (r: { cancel: boolean }) => void) => void)({ url }, (r) => (cancel = r.cancel));
      return cancel;
    };
    expect(verdict('https://example.com/track.js')).toBe(true);
    expect(verdict('file:///etc/passwd')).toBe(true);
    expect(verdict('dermafuse://app/assets/index.js')).toBe(false);
  });

  it('denies new windows and navigation away from the app', () => {
    const handlers = new Map<string, Fn>();
    let openHandler: ((d: { url: string }) => { action: string }) | null = null;
    const contents = { setWindowOpenHandler: (fn: typeof openHandler) => (openHandler = fn), on: (e: string, fn: Fn) => handlers.set(e, fn) };
    (rec.appHandlers.get('web-contents-created') as (e: unknown, c: unknown) => void)({}, contents);
    expect(openHandler!({ url: 'https://example.com' })).toEqual({ action: 'deny' });
    expect(openHandler!({ url: 'dermafuse://app/index.html' })).toEqual({ action: 'deny' });
    const navigate = (url: string) => {
      const event = { preventDefault: vi.fn() };
      (handlers.get('will-navigate') as (e: unknown, u: string) => void)(event, url);
      return event.preventDefault.mock.calls.length > 0;
    };
    expect(navigate('https://evil.example/')).toBe(true);
    expect(navigate('file:///etc/passwd')).toBe(true);
    expect(navigate('dermafuse://app/index.html#/settings')).toBe(false);
    const attach = { preventDefault: vi.fn() };
    (handlers.get('will-attach-webview') as (e: unknown) => void)(attach);
    expect(attach.preventDefault).toHaveBeenCalled();
  });
});
