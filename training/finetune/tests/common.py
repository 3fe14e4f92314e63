import os
import tempfile
import unittest
from pathlib import Path

_tmp = None


def tmp_cache() -> Path:
    """One temporary finetune cache for the whole test process (runs, image caches)."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.TemporaryDirectory(prefix="finetune-tests-")
        os.environ["DERMAFUSE_FINETUNE_CACHE"] = _tmp.name
    return Path(_tmp.name)


TINY = ["--fixtures", "--fixture-count", "8", "--batch", "4", "--draws", "isic9=8", "--cache-size", "160", "--log-every", "1", "--val-limit", "4"]
