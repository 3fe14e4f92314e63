/**
 * Which onnxruntime execution providers this installation can start, and why the others cannot:
 * `npx tsx scripts/providers.ts` (also run by `npm run gpu:install`). Exit status 0 either way.
 */
import { explainProviders } from '../electron/model/runtime.ts';

for (const { provider, starts, detail } of await explainProviders()) {
  console.log(`${provider.padEnd(7)} ${starts ? 'starts' : `no: ${detail}`}`);
}
