/**
 * Serves the built renderer and the real services (in their host process, as in the app) over
 * the HTTP test bridge, for a manual look in a browser:
 * `npx vite build --config renderer/vite.config.ts && npx tsx scripts/dev-bridge.ts`.
 * Options: --data DIR (default: a fresh temporary folder), --port N (default 5199).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServicesClient } from '../electron/services-host/client.ts';
import { forkNodeHost } from '../electron/services-host/node-host.ts';
import { projectRoot } from '../electron/util/paths.ts';
import { startHttpBridge } from '../test/bridge/http-bridge.ts';

const { values } = parseArgs({ options: { data: { type: 'string' }, port: { type: 'string', default: '5199' } } });
const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'dermafuse-dev-'));

const client = createServicesClient({
  spawn: () => forkNodeHost(),
  config: { dataDir, appVersion: 'dev' },
  onInternalError: (channel, err) => console.error(`[${channel}]`, err.message),
});
await client.ready();
const bridge = await startHttpBridge({
  dispatcher: client,
  events: client.events,
  media: client.media,
  staticDir: join(projectRoot, 'renderer', 'dist'),
  port: Number(values.port),
});
console.log(`dermafuse dev bridge: ${bridge.url}  (data: ${dataDir})`);

const stop = async () => {
  await bridge.close();
  await client.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
