/**
 * Starts the services host as a Node child process (the tests, the dev bridge): the same entry
 * the app runs in its utility process, run from source through tsx or compiled.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../util/paths.ts';
import type { HostProcess } from './client.ts';

const here = fileURLToPath(import.meta.url);
/** The host's entry beside this file: entry.ts from source, entry.js when compiled. */
export const HOST_ENTRY = fileURLToPath(new URL(`./entry${extname(here)}`, import.meta.url));

export interface NodeHostProcess extends HostProcess {
  readonly child: ChildProcess;
}

export function forkNodeHost(options: { env?: NodeJS.ProcessEnv } = {}): NodeHostProcess {
  const child = fork(HOST_ENTRY, [], {
    cwd: projectRoot,
    env: options.env ?? process.env,
    execArgv: HOST_ENTRY.endsWith('.ts') ? ['--import', 'tsx'] : [],
    // Structured clone, as Electron's utility-process port.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // A send racing the child's death reports here; the exit listener handles the death itself.
  child.on('error', () => undefined);
  return {
    child,
    port: {
      send: (message) => void child.send(message as never),
      onMessage(listener) {
        child.on('message', listener);
        return () => void child.off('message', listener);
      },
    },
    onExit(listener) {
      child.once('exit', (code, signal) => listener(signal ? `killed by ${signal}` : `exit code ${code}`));
    },
    kill: () => void child.kill('SIGKILL'),
  };
}
