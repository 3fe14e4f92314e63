// `npm run build` starts here: tsc never deletes what it no longer emits, so a file moved out of
// electron/ (to training/, say) would otherwise stay in dist/ and be packed into the installers.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
