/**
 * The services host: builds the workstation's services (store, classifier, batches, reports) in
 * its own process and answers the main process over the message layer. Requests are validated
 * with the contract here, by the same dispatcher the app used in-process; service events and
 * internal errors go back as notes; dialogs and the data-folder choice are calls back to the shell.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { Settings } from '#common/domain';
import { createAppServices, type AppServices, type BootstrapConfig, type Dialogs } from '../app-services.ts';
import { createDispatcher, type Dispatcher } from '../ipc/handlers.ts';
import type { Classifier } from '../model/types.ts';
import type { LoadClassifier } from '../services/model.ts';
import { createPeer, HOST_METHODS, HOST_NOTES, HostConfig, InvokeBody, SHELL_METHODS, type MessagePort, type Peer } from './messages.ts';

type ClassifierSpec = NonNullable<z.output<typeof HostConfig>['classifier']>;

/** Loads a classifier factory named by the config (tests); the app never sets one. It also gets the model folder to load (null: shipped). */
async function classifierFrom(spec: ClassifierSpec): Promise<LoadClassifier> {
  const url = spec.module.startsWith('file:') ? spec.module : isAbsolute(spec.module) ? pathToFileURL(spec.module).href : null;
  if (!url) throw new Error(`the classifier module must be an absolute path: ${spec.module}`);
  const mod = (await import(url)) as Record<string, unknown>;
  const factory = mod[spec.export];
  if (typeof factory !== 'function') throw new Error(`${spec.module} has no function ${spec.export}`);
  return (settings, model) => (factory as (s: Settings, options: unknown, model: { dir: string | null }) => Promise<Classifier>)(settings, spec.options, model);
}

function shellDialogs(peer: Peer): Dialogs {
  const path = z.string().nullable();
  return {
    pickFolder: async () => path.parse(await peer.call(SHELL_METHODS.pickFolder)),
    pickSavePath: async (defaultName) => path.parse(await peer.call(SHELL_METHODS.pickSavePath, defaultName)),
    openPath: async (file) => void (await peer.call(SHELL_METHODS.openPath, file)),
  };
}

function shellBootstrap(peer: Peer, known: { dataDir?: string | null }): BootstrapConfig {
  return {
    read: () => known,
    write: async (config) => void (await peer.call(SHELL_METHODS.writeBootstrap, config)),
  };
}

export interface ServicesHost {
  /** Closes the services (a running batch stops at an item boundary, the database closes). */
  close(): Promise<void>;
}

/** Serves the services over `port` until `stop` is called; `exit` ends the process. */
export function serveServicesHost(port: MessagePort, options: { exit: (code: number) => void }): ServicesHost {
  let started: Promise<{ services: AppServices; dispatcher: Dispatcher }> | null = null;
  const log = (message: string) => peer.note(HOST_NOTES.log, message);

  async function start(config: z.output<typeof HostConfig>): Promise<{ services: AppServices; dispatcher: Dispatcher }> {
    const services = await createAppServices({
      dataDir: config.dataDir,
      appVersion: config.appVersion,
      reportsDir: config.reportsDir,
      log,
      ...(config.nativeDialogs ? { dialogs: shellDialogs(peer) } : {}),
      ...(config.bootstrap ? { bootstrap: shellBootstrap(peer, config.bootstrap) } : {}),
      ...(config.classifier ? { loadClassifier: await classifierFrom(config.classifier) } : {}),
    });
    services.events.subscribe((name, payload) => peer.note(HOST_NOTES.event, { name, payload }));
    const dispatcher = createDispatcher(services.channels, {
      onInternalError: (channel, err) => {
        log(`dermafuse: ${channel} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        peer.note(HOST_NOTES.internalError, { channel, message: err instanceof Error ? err.message : String(err) });
      },
    });
    return { services, dispatcher };
  }

  async function running(): Promise<{ services: AppServices; dispatcher: Dispatcher }> {
    if (!started) throw new Error('the services have not been started');
    return started;
  }

  const peer = createPeer(port, {
    handlers: {
      async [HOST_METHODS.start](body) {
        if (started) throw new Error('the services are already started');
        started = start(HostConfig.parse(body));
        const { services } = await started;
        return { dataDir: services.store.dataDir, imagesDir: services.store.imagesDir, overlaysDir: services.store.overlaysDir };
      },
      async [HOST_METHODS.invoke](body) {
        const { channel, payload } = InvokeBody.parse(body);
        return (await running()).dispatcher.dispatch(channel, payload);
      },
      async [HOST_METHODS.imageFile](body) {
        const sha256 = z.string().regex(/^[0-9a-f]{64}$/).parse(body);
        return (await running()).services.media.imageFile(sha256);
      },
      async [HOST_METHODS.overlayFile](body) {
        const id = z.number().int().positive().parse(body);
        return (await running()).services.store.overlays.location(id);
      },
      async [HOST_METHODS.stop]() {
        await host.close();
        // Reply first, then leave.
        setImmediate(() => options.exit(0));
        return null;
      },
    },
    onInvalid: (message) => log(`dermafuse: the services host ignored a malformed message: ${JSON.stringify(message)?.slice(0, 200)}`),
  });

  let closing: Promise<void> | null = null;
  const host: ServicesHost = {
    close() {
      closing ??= (async () => {
        const current = await started?.catch(() => null);
        await current?.services.close();
      })();
      return closing;
    },
  };
  peer.note(HOST_NOTES.hello);
  return host;
}
