/**
 * The renderer's only door to the main process. Runs sandboxed with context isolation, so it is
 * bundled to one CommonJS file (renderer/vite.preload.config.ts → dist/electron/preload.cjs).
 * It exposes exactly the contract's surface: invoke a named channel, listen to a named event.
 * Ipc objects never leak to the page; validation happens again in the services host.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { IPC_EVENT, IPC_INVOKE, isChannel, isEventName, type ApiResult, type DermafuseBridge } from '#common/ipc';

const bridge: DermafuseBridge = {
  invoke(channel, payload) {
    if (!isChannel(channel)) {
      return Promise.resolve<ApiResult<unknown>>({ ok: false, error: { code: 'unknown_channel', message: `unknown channel ${JSON.stringify(String(channel))}` } });
    }
    return ipcRenderer.invoke(IPC_INVOKE, channel, payload) as Promise<ApiResult<unknown>>;
  },
  on(event, listener) {
    if (!isEventName(event)) throw new Error(`unknown event ${JSON.stringify(String(event))}`);
    const handler = (_e: IpcRendererEvent, name: unknown, payload: unknown) => {
      if (name === event) listener(payload);
    };
    ipcRenderer.on(IPC_EVENT, handler);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT, handler);
    };
  },
  pathForFile(file) {
    return webUtils.getPathForFile(file);
  },
};

contextBridge.exposeInMainWorld('dermafuse', bridge);
