"""The reference engine is NumPy-only and exports what it documents."""

import os
import subprocess
import sys
from pathlib import Path

import rnnlab.reference

SRC = Path(__file__).resolve().parents[2] / "src"


def test_importing_reference_does_not_import_torch():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = "import rnnlab.reference, sys; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_public_names():
    for name in rnnlab.reference.__all__:
        assert getattr(rnnlab.reference, name).__doc__, name
    assert {"rnn_forward", "lstm_backward", "gru_forward", "gradcheck", "tbptt"} <= set(
        rnnlab.reference.__all__
    )
