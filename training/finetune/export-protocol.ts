/**
 * Writes the data protocol (training/data/protocol.ts, the single definition) as CSV for
 * the Python fine-tuning step. Usage:
 *   npx tsx training/finetune/export-protocol.ts <out.csv> [--holdout ham10000|isic2017|isic9]
 * Columns: id,source,file,group,label,role,evalSet,sha256 (file is an absolute path).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { buildProtocol, SOURCES, type Source } from '../data/protocol.ts';

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let out: string | undefined;
  let holdOut: Source | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--holdout') {
      const v = args[++i];
      if (!v || !(SOURCES as readonly string[]).includes(v)) throw new Error(`--holdout must be one of ${SOURCES.join(', ')}`);
      holdOut = v as Source;
    } else if (a.startsWith('--')) {
      throw new Error(`unknown option ${a}`);
    } else {
      out = a;
    }
  }
  if (!out) throw new Error('usage: export-protocol.ts <out.csv> [--holdout <source>]');
  const protocol = await buildProtocol({
    holdOut,
    onProgress: (stage, done, total) => {
      if (done % 2000 === 0 || done === total) process.stderr.write(`${stage} ${done}/${total}\n`);
    },
  });
  const cols = ['id', 'source', 'file', 'group', 'label', 'role', 'evalSet', 'sha256'] as const;
  const lines = [cols.join(',')];
  for (const it of protocol.items) {
    lines.push([it.id, it.source, resolve(it.file), it.group, it.label, it.role, it.evalSet, it.sha256].map(csvField).join(','));
  }
  const path = resolve(out);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${lines.join('\n')}\n`);
  renameSync(`${path}.tmp`, path);
  process.stderr.write(`wrote ${protocol.items.length} items (${protocol.removed.length} removed) to ${path}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
