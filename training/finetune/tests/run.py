"""Runs the fine-tuning tests; last line: `N passed, N failed` (or a skip message)."""
import sys
import time
import unittest

import torch


def main() -> int:
    torch.set_num_threads(2)
    t0 = time.time()
    suite = unittest.defaultTestLoader.discover("training/finetune/tests", top_level_dir=".")
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(res.failures) + len(res.errors)
    print(f"fine-tuning tests took {time.time() - t0:.0f}s")
    # A plain closing line that CI reads: 'N passed, N failed' after one word with a colon.
    print(f"finetune: {res.testsRun - failed - len(res.skipped)} passed, {failed} failed, {len(res.skipped)} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
