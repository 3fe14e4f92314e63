// The source tree maps `#common/*` to TypeScript files (package.json "imports"); tsc keeps the
// specifier as written, so the compiled tree gets its own package.json that maps it to the
// emitted JavaScript. Node resolves a `#` import through the nearest package.json.
import { writeFileSync } from 'node:fs';

writeFileSync(
  new URL('../dist/package.json', import.meta.url),
  JSON.stringify({ type: 'module', private: true, imports: { '#common/*': './common/*.js' } }, null, 2) + '\n',
);
