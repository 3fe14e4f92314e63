/**
 * The services host process's entry. Started by the shell as an Electron utility process (it
 * talks over `process.parentPort`) or by the tests and the dev bridge as a Node child process
 * (`process.send`): the same services behind the same message layer either way.
 */
import type { MessagePort } from './messages.ts';
import { serveServicesHost } from './host.ts';

/** Electron's utility-process port, typed here so this file does not need Electron's types. */
interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  off(event: 'message', listener: (event: { data: unknown }) => void): void;
}

function parentPort(): MessagePort {
  const electronPort = (process as { parentPort?: ParentPort }).parentPort;
  if (electronPort) {
    return {
      send: (message) => electronPort.postMessage(message),
      onMessage(listener) {
        const handler = (event: { data: unknown }) => listener(event.data);
        electronPort.on('message', handler);
        return () => electronPort.off('message', handler);
      },
    };
  }
  const send = process.send?.bind(process);
  if (!send) throw new Error('the services host is started by the dermafuse shell, not directly');
  return {
    send: (message) => void send(message),
    onMessage(listener) {
      process.on('message', listener);
      return () => void process.off('message', listener);
    },
  };
}

const host = serveServicesHost(parentPort(), { exit: (code) => process.exit(code) });
// A Node parent that goes away (crash, kill) closes the channel: close the database cleanly and leave.
process.on('disconnect', () => void host.close().finally(() => process.exit(0)));
