"""The layer and the functions as layers/store_credit/Makefile ships them: sources with
unchecked-hash .pyc beside them. Lambda cannot write .pyc, so cold-start figures are taken on
this copy; the benches and the import-time guard share it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.harness.template import ROOT


def compiled_copy(root: Path) -> Path:
    """Copy the layer (to ``root/layer``) and the functions (to ``root/functions``), compiled."""
    shutil.copytree(ROOT / "layers" / "store_credit" / "store_credit", root / "layer" / "store_credit")
    shutil.copytree(ROOT / "functions", root / "functions")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(root)],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        check=True,
        capture_output=True,
    )
    return root


def handler_path(root: Path, function: str) -> str:
    """PYTHONPATH for one function of a compiled copy: the layer, then the function's code."""
    return os.pathsep.join([str(root / "layer"), str(root / "functions" / function)])
