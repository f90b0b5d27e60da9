"""Silero VAD on onnxruntime: 512-sample windows at 16 kHz (256 at 8 kHz), recurrent state kept per call.

The model comes from an installed ``silero-vad`` package (``pip install --no-deps silero-vad``); it is
located through the package metadata without importing ``silero_vad``, which would import torch.
"""

from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path

import numpy as np
import onnxruntime

from outdial.agent.audio import frame_bytes
from outdial.agent.protocols import FRAME_MS

MODEL_FILE = "silero_vad/data/silero_vad.onnx"
INSTALL_HINT = "pip install --no-deps silero-vad"
_WINDOW = {16000: 512, 8000: 256}
_CONTEXT = {16000: 64, 8000: 32}

_sessions: dict[Path, onnxruntime.InferenceSession] = {}
_sessions_lock = threading.Lock()


class SileroModelMissing(RuntimeError):
    pass


def find_model() -> Path:
    """Path of the silero ONNX model inside the installed ``silero-vad`` distribution."""
    try:
        dist = importlib.metadata.distribution("silero-vad")
    except importlib.metadata.PackageNotFoundError:
        raise SileroModelMissing(
            f"The silero VAD needs the silero-vad model files: `{INSTALL_HINT}` "
            "(--no-deps: the model runs on onnxruntime, torch is not needed)."
        ) from None
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(MODEL_FILE):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise SileroModelMissing(
        f"silero-vad {dist.version} is installed without {MODEL_FILE}; `{INSTALL_HINT}`."
    )


def _session(path: Path) -> onnxruntime.InferenceSession:
    # One session per process: run() is thread-safe and the recurrent state travels with each call.
    with _sessions_lock:
        if path not in _sessions:
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            _sessions[path] = onnxruntime.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        return _sessions[path]


class SileroVAD:
    """Buffers 20 ms frames into model windows; ``feed`` returns the latest window's probability."""

    def __init__(self, sample_rate: int = 16000, model_path: Path | None = None) -> None:
        if sample_rate not in _WINDOW:
            raise ValueError(f"silero VAD supports 8000 and 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self._session = _session(model_path or find_model())
        self._window = _WINDOW[sample_rate]
        self._context_size = _CONTEXT[sample_rate]
        self._frame_bytes = frame_bytes(sample_rate, FRAME_MS)
        self._sr = np.array(sample_rate, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._context_size, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._prob = 0.0

    def feed(self, frame: bytes) -> float:
        if len(frame) != self._frame_bytes:
            raise ValueError(
                f"silero VAD needs {FRAME_MS} ms frames ({self._frame_bytes} bytes), got {len(frame)}"
            )
        self._pending = np.concatenate(
            (self._pending, np.frombuffer(frame, dtype="<i2") / np.float32(32768.0))
        )
        while len(self._pending) >= self._window:
            window, self._pending = self._pending[: self._window], self._pending[self._window :]
            self._prob = self._run(window)
        return self._prob

    def _run(self, window: np.ndarray) -> float:
        x = np.concatenate((self._context, window))[np.newaxis, :]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = window[-self._context_size :]
        return float(out[0][0])
