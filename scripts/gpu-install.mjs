// `npm run gpu:install`: the opt-in for NVIDIA GPUs. onnxruntime-node's npm package carries its
// CPU (and, on Windows, DirectML; on macOS, Core ML) providers; the CUDA provider libraries for
// Linux x64 are too large for npm, and its install script would download them from NuGet on every
// install, which package.json `allowScripts` blocks. This runs that same installer once, on
// purpose, with network access, then says which providers start. Needs the NVIDIA driver and
// the CUDA 12 + cuDNN 9 runtime libraries on the library path. Repeat after `npm ci` or an
// onnxruntime-node upgrade (both replace node_modules/onnxruntime-node).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ortDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..');
const platform = `${process.platform}/${process.arch}`;

if (platform === 'linux/x64') {
  console.log('dermafuse: downloading the CUDA 12 provider libraries for onnxruntime-node (NuGet, a few hundred MB)...');
  const install = spawnSync(process.execPath, [join(ortDir, 'script', 'install.js')], {
    cwd: ortDir,
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
    // '1' forces the platform's add-ons (linux/x64: cuda12). A named value such as 'cuda12' falls through
    // onnxruntime-node 1.30's flag parser as "unset", and then an install from the project root is skipped.
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: '1' },
  });
  if (install.status !== 0) {
    const reason = /^\w*Error: .*$/m.exec(install.stderr ?? '')?.[0] ?? (install.stderr || install.error?.message || `exit status ${install.status}`).trim();
    console.error(
      `dermafuse: the CUDA add-on could not be installed: ${reason}. It needs access to api.nuget.org (or a proxy in GLOBAL_AGENT_HTTPS_PROXY). ` +
        'Nothing changed: the workstation keeps running on the CPU.',
    );
    process.exit(1);
  }
} else {
  console.log(`dermafuse: nothing to download on ${platform}: onnxruntime-node ships its providers for this platform in the npm package.`);
}

console.log('\nExecution providers on this machine:');
const check = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'providers.ts')], { cwd: root, encoding: 'utf8' });
process.stdout.write(check.stdout ?? '');
if (check.status !== 0) {
  process.stderr.write(check.stderr ?? '');
  process.exit(1);
}
if (/^cuda\s+starts/m.test(check.stdout)) {
  console.log("\nCUDA is ready: 'Automatic' in Settings now tries it first (or choose 'CUDA (NVIDIA GPU)'; DERMAFUSE_EP=cuda or --provider cuda for the CLI).");
} else if (platform === 'linux/x64' && !/^cuda\s+no: its provider library is not installed/m.test(check.stdout)) {
  console.log(
    '\nThe CUDA add-on is installed but CUDA does not start here (reason above): install the NVIDIA driver and the CUDA 12 and cuDNN 9 ' +
      'runtime libraries (libcudart.so.12, libcublas.so.12, libcudnn.so.9), then run `npx tsx scripts/providers.ts` to check. Until then the CPU is used.',
  );
}
