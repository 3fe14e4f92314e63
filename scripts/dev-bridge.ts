/**
 * Serves the built renderer and the real handlers over the HTTP test bridge, for a manual look
 * in a browser: `npx vite build --config renderer/vite.config.ts && npx tsx scripts/dev-bridge.ts`.
 * Options: --data DIR (default: a fresh temporary folder), --port N (default 5199).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAppServices } from '../electron/app-services.ts';
import { projectRoot } from '../electron/util/paths.ts';
import { createDispatcher } from '../electron/ipc/handlers.ts';
import { startHttpBridge } from '../test/bridge/http-bridge.ts';

const { values } = parseArgs({ options: { data: { type: 'string' }, port: { type: 'string', default: '5199' } } });
const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'dermafuse-dev-'));

const services = await createAppServices({ dataDir, appVersion: 'dev' });
const bridge = await startHttpBridge({
  dispatcher: createDispatcher(services.channels, { onInternalError: (channel, err) => console.error(`[${channel}]`, err) }),
  events: services.events,
  media: services.media,
  staticDir: join(projectRoot, 'renderer', 'dist'),
  port: Number(values.port),
});
console.log(`dermafuse dev bridge: ${bridge.url}  (data: ${dataDir})`);

const stop = async () => {
  await bridge.close();
  await services.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
