/**
 * The renderer's typed client of the contract. In the app it talks to `window.dermafuse` (the
 * preload's bridge over Electron IPC); in a plain browser (the end-to-end tests, the dev bridge)
 * it talks to the HTTP test transport on the same origin. Screens never see the difference.
 */
import type {
  ApiError,
  ApiResult,
  Channel,
  DermafuseBridge,
  EventName,
  EventOf,
  RequestOf,
  ResponseOf,
} from '#common/ipc';

declare global {
  interface Window {
    dermafuse?: DermafuseBridge;
  }
}

export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  readonly code: ApiError['code'];
  readonly issues: ApiError['issues'];
  constructor(readonly channel: Channel, error: ApiError) {
    super(error.message);
    this.code = error.code;
    this.issues = error.issues;
  }
}

function httpBridge(): DermafuseBridge {
  let source: EventSource | null = null;
  return {
    async invoke(channel, payload) {
      let response: Response;
      try {
        response = await fetch(`/api/${encodeURIComponent(channel)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(payload ?? {}),
        });
      } catch (err) {
        return { ok: false, error: { code: 'unavailable', message: `the workstation service is not reachable (${String(err)})` } };
      }
      try {
        return (await response.json()) as ApiResult<unknown>;
      } catch {
        return { ok: false, error: { code: 'internal', message: `unexpected answer (HTTP ${response.status})` } };
      }
    },
    on(event, listener) {
      source ??= new EventSource('/events');
      const handle = (message: MessageEvent<string>) => listener(JSON.parse(message.data));
      source.addEventListener(event, handle);
      return () => source?.removeEventListener(event, handle);
    },
  };
}

const bridge: DermafuseBridge = window.dermafuse ?? httpBridge();

/** True inside the desktop app (native dialogs, dropped files have paths). */
export const inApp = window.dermafuse !== undefined;

export async function call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
  const result = await bridge.invoke(channel, request);
  if (!result.ok) throw new ApiCallError(channel, result.error);
  return result.data as ResponseOf<C>;
}

export function on<E extends EventName>(event: E, listener: (payload: EventOf<E>) => void): () => void {
  return bridge.on(event, (payload) => listener(payload as EventOf<E>));
}

/** Same paths under both transports: the custom protocol in the app, the bridge in tests. */
export const media = {
  image: (sha256: string) => `/media/image/${sha256}`,
  overlay: (overlayId: number) => `/media/overlay/${overlayId}`,
};

/** Reads a File for images.import: base64 is what survives both IPC and JSON. */
export async function fileToBase64(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiCallError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
