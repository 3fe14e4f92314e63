/**
 * The Electron shell: app lifecycle, one locked-down window, menus, native dialogs, the
 * `dermafuse://` protocol and the IPC boundary. The services (store, model, batches, reports)
 * run in a separate utility process (services-host/), reached through the same typed contract:
 * a crash there is reported to the window and the process restarted.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, session, shell, utilityProcess, type MenuItemConstructorOptions, type WebContents } from 'electron';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootstrapConfig, Dialogs } from './services/types.ts';
import { createServicesClient, type HostProcess, type ServicesClient } from './services-host/client.ts';
import { projectRoot } from './util/paths.ts';
import { IPC_EVENT, IPC_INVOKE, type ApiResult } from '#common/ipc';
import { APP_ENTRY, APP_ORIGIN, APP_SCHEME, handleAppProtocol, registerAppScheme } from './protocol.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PRELOAD = join(here, 'preload.cjs');
/** entry.js when compiled, entry.ts when run from source. */
const SERVICES_HOST = join(here, 'services-host', `entry${extname(fileURLToPath(import.meta.url))}`);
const RENDERER_DIR = join(projectRoot, 'renderer', 'dist');

registerAppScheme();
if (!app.requestSingleInstanceLock()) app.quit();

// An installer may carry the pinned backbone weights (extraResources → resources/weights), so a
// clinic machine without internet access needs no download on first use.
const bundledWeights = join(process.resourcesPath ?? '', 'weights');
if (app.isPackaged && !process.env.DERMAFUSE_MODEL_MIRROR && existsSync(bundledWeights)) process.env.DERMAFUSE_MODEL_MIRROR = bundledWeights;

let win: BrowserWindow | null = null;
let services: ServicesClient | null = null;

/** The data-folder choice lives outside the database it locates: userData/config.json. */
function bootstrapConfig(): BootstrapConfig {
  const file = join(app.getPath('userData'), 'config.json');
  return {
    read() {
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as { dataDir?: unknown };
        return { dataDir: typeof parsed.dataDir === 'string' ? parsed.dataDir : null };
      } catch {
        return {};
      }
    },
    async write(config) {
      mkdirSync(dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(config, null, 2));
    },
  };
}

const dialogs: Dialogs = {
  async pickFolder() {
    const options = { title: 'Choose a folder of dermoscopy images', properties: ['openDirectory' as const] };
    const result = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  },
  async pickSavePath(defaultName) {
    const options = { title: 'Save report', defaultPath: join(app.getPath('documents'), defaultName), filters: [{ name: 'PDF', extensions: ['pdf'] }] };
    const result = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options);
    return result.canceled || !result.filePath ? null : result.filePath;
  },
  async openPath(path) {
    const error = await shell.openPath(path);
    if (error) throw new Error(`could not open ${path}: ${error}`);
  },
};

/** Electron's utility process as the services host's transport (the only Electron-specific part). */
function spawnServicesHost(): HostProcess {
  const child = utilityProcess.fork(SERVICES_HOST, [], { serviceName: 'dermafuse services', stdio: 'inherit' });
  return {
    port: {
      send: (message) => child.postMessage(message),
      onMessage(listener) {
        child.on('message', listener);
        return () => void child.off('message', listener);
      },
    },
    onExit: (listener) => void child.once('exit', (code) => listener(`exit code ${code}`)),
    kill: () => void child.kill(),
  };
}

/**
 * Only our own page may call the main process. Compared by scheme and host: Node's URL gives a
 * custom scheme the opaque origin "null", so an origin comparison would refuse everything.
 */
function fromAppOrigin(frameUrl: string | undefined): boolean {
  if (!frameUrl) return false;
  try {
    const url = new URL(frameUrl);
    return url.protocol === `${APP_SCHEME}:` && url.host === new URL(APP_ORIGIN).host;
  } catch {
    return false;
  }
}

function lockDown(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    // Links to the web open in the user's browser, never inside the app.
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

function buildMenu(): void {
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { label: 'View', submenu: [{ role: 'reload' }, { type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }, ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' as const }])] },
    { role: 'windowMenu' },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1360,
    height: 880,
    minWidth: 1100,
    minHeight: 700,
    title: 'dermafuse',
    backgroundColor: '#f4f6f8',
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
    },
  });
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    win = null;
  });
  void window.loadURL(APP_ENTRY);
  return window;
}

async function start(): Promise<void> {
  const ses = session.defaultSession;
  // Camera, microphone, notifications, geolocation...: the workstation needs none of them.
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
  // Nothing leaves the machine: refuse every request that is not our own origin.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const allowed = details.url.startsWith(`${APP_SCHEME}://`) || details.url.startsWith('devtools://') || details.url.startsWith('data:') || details.url.startsWith('blob:');
    callback({ cancel: !allowed });
  });

  const bootstrap = bootstrapConfig();
  const client = createServicesClient({
    spawn: spawnServicesHost,
    config: { appVersion: app.getVersion(), dataDir: bootstrap.read().dataDir ?? null, bootstrap: bootstrap.read() },
    dialogs,
    bootstrap,
    onInternalError: (channel, err) => console.error(`dermafuse: ${channel} failed:`, err.message),
  });
  services = client;
  // The first start opens the store: a data folder that cannot be opened stops the app here.
  await client.ready();
  handleAppProtocol(ses, { rendererDir: RENDERER_DIR, media: client.media });

  ipcMain.handle(IPC_INVOKE, async (event, channel: unknown, payload: unknown): Promise<ApiResult<unknown>> => {
    if (!fromAppOrigin(event.senderFrame?.url)) return { ok: false, error: { code: 'invalid_request', message: 'calls are only accepted from the app' } };
    return client.dispatch(channel, payload);
  });
  client.events.subscribe((name, payload) => {
    if (win && !win.isDestroyed()) win.webContents.send(IPC_EVENT, name, payload);
  });

  buildMenu();
  win = createWindow();
}

app.on('web-contents-created', (_event, contents) => lockDown(contents));
app.on('second-instance', () => {
  if (win) {
    if (win.isMinimized()) win.restore();
    win.focus();
  }
});
app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
app.on('activate', () => {
  if (!win && services) win = createWindow();
});

let closing = false;
app.on('will-quit', (event) => {
  if (closing || !services) return;
  closing = true;
  event.preventDefault();
  // Let a running batch stop at an item boundary and the database close cleanly, in the host.
  void services.close().finally(() => app.exit(0));
});

app.whenReady().then(start).catch((err: unknown) => {
  dialog.showErrorBox('dermafuse could not start', err instanceof Error ? err.message : String(err));
  app.exit(1);
});
