/**
 * Child process for the crash-safety test: runs one batch into a database and reports on stdout
 * as it goes, so the parent can SIGKILL it at any moment. Usage:
 *   node --import tsx batch-crash-driver.ts <db> <folder> <calls-log>
 * Env: CRASH_ON_CALL=n  kill itself with SIGKILL inside the n-th classification (between reading
 *      an image and writing its result); CRASH_IN_TX=n  kill itself inside the n-th item's database
 *      transaction, after its image, prediction and overlay rows are written and before COMMIT;
 *      DELAY_MS per image (default 15).
 */
import { appendFileSync } from 'node:fs';
import { runBatch } from '../../electron/batch/run-batch.ts';
import { openStore } from '../../electron/store/store.ts';
import { PixelStatsClassifier } from './pixel-stats-classifier.ts';

const [db, folder, callsLog] = process.argv.slice(2);
if (!db || !folder || !callsLog) throw new Error('usage: batch-crash-driver.ts <db> <folder> <calls-log>');
const crashOn = Number(process.env.CRASH_ON_CALL ?? 0);
let calls = 0;

const classifier = new PixelStatsClassifier({
  delayMs: Number(process.env.DELAY_MS ?? 15),
  beforeClassify: (name) => {
    calls++;
    // Synchronous append: the parent counts classifications even from a run that dies next.
    appendFileSync(callsLog, `${name}\n`);
    if (crashOn && calls === crashOn) process.kill(process.pid, 'SIGKILL');
  },
});
const store = openStore({ file: db, actor: 'crash-driver' });
const crashInTx = Number(process.env.CRASH_IN_TX ?? 0);
if (crashInTx) {
  // completeItem is the last statement of an item's transaction: dying here tests the rollback.
  const completeItem = store.batches.completeItem.bind(store.batches);
  let completions = 0;
  store.batches.completeItem = (itemId, result) => {
    completeItem(itemId, result);
    if (++completions === crashInTx) {
      if (!store.db.inTransaction) throw new Error('expected to be inside the item transaction');
      process.kill(process.pid, 'SIGKILL');
    }
  };
}
process.stdout.write('ready\n');
const result = await runBatch({
  store,
  classifier,
  root: folder,
  onItem: (item) => process.stdout.write(`item ${item.id} ${item.status}\n`),
});
store.close();
process.stdout.write(`finished ${result.job.id} ${result.job.status} ${result.job.done} ${result.job.failed}\n`);
