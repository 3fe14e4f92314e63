// `npm start` runs this first: without the Electron binary (offline install, blocked download)
// electron's launcher would try a download and end in a stack trace. Say what to do instead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

function electronBinary() {
  let pkg;
  try {
    pkg = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { found: false, why: 'the electron package is not installed (devDependencies omitted?)' };
  }
  const pathFile = join(pkg, 'path.txt');
  const executable = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const binary = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, executable || 'electron');
    return existsSync(binary) ? { found: true } : { found: false, why: `${binary} (ELECTRON_OVERRIDE_DIST_PATH) does not exist` };
  }
  if (!executable) return { found: false, why: 'node_modules/electron/path.txt is missing: the binary was never downloaded' };
  const binary = join(pkg, 'dist', executable);
  return existsSync(binary) ? { found: true } : { found: false, why: `${binary} is missing` };
}

const { found, why } = electronBinary();
if (!found) {
  console.error(
    [
      `dermafuse: the Electron binary is not installed (${why}); npm install could not download it, probably because this machine is offline.`,
      'To launch the desktop app, fetch it once with network access: `node node_modules/electron/install.js` (or `npm ci` again when online), then run `npm start` again.',
      'Everything else works meanwhile: the CLI (`npx dermafuse --help`: classify, batch, report, evaluate), and the whole workstation in a local browser with',
      '`npm run preview` (builds the screens, serves them with the real services on a localhost URL it prints; `npm run preview -- --data DIR` opens an existing data folder).',
    ].join(' '),
  );
  process.exit(1);
}
