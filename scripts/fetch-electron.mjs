// Electron >= 45 no longer downloads its binary at install time; it fetches it on first launch.
// We fetch it here so a networked clinic build has it ready, but an offline machine (CI, air-gapped
// workstations) must still install cleanly: a failed download is a warning, never an error.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

if (process.env.ELECTRON_SKIP_BINARY_DOWNLOAD || process.env.CI) {
  console.log('dermafuse: skipping the Electron binary download (ELECTRON_SKIP_BINARY_DOWNLOAD or CI set).');
  process.exit(0);
}
let installer;
try {
  installer = createRequire(import.meta.url).resolve('electron/install.js');
} catch {
  process.exit(0); // production install without devDependencies: nothing to fetch
}
const result = spawnSync(process.execPath, [installer], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
if (result.status === 0) {
  console.log('dermafuse: Electron binary ready.');
} else {
  console.warn(
    'dermafuse: the Electron binary could not be downloaded (offline?). The CLI, the tests and `npm run preview` ' +
      '(the workstation in a local browser) work without it; run `node node_modules/electron/install.js` when online to launch the desktop app.',
  );
}
