"""Progress of a discharge on rank 0: a bar on a terminal, else (batch jobs, ``nohup``,
pipes) a plain line every ``LINE_EVERY_S`` seconds or ``LINE_EVERY_SHARE`` of the
theoretical capacity, with time, voltage, capacity and an estimate of the time left.
"""

from __future__ import annotations

import sys
import time

LINE_EVERY_S = 30.0
LINE_EVERY_SHARE = 0.05


class Progress:
    """Report accepted steps of a discharge (``update``) until ``close``."""

    def __init__(self, total_mAh_cm2: float, enabled: bool = True, stream=None):
        self.total = float(total_mAh_cm2)
        self.stream = stream or sys.stderr
        self.bar = None
        self.lines = False
        self.start = time.monotonic()
        self._last_time, self._last_q = self.start, 0.0
        if not enabled:
            return
        if getattr(self.stream, "isatty", lambda: False)() or "ipykernel" in sys.modules:
            from tqdm.auto import tqdm  # a widget in notebooks, text on terminals

            self.bar = tqdm(total=round(self.total, 3), unit="mAh/cm²", file=self.stream,
                            mininterval=0.5, bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} "
                            "mAh/cm² [{elapsed}] {postfix}")
        else:
            self.lines = True

    def update(self, t: float, q: float, v: float, steps: int) -> None:
        """After an accepted step: time t (s), capacity q (mAh/cm²), voltage v (V)."""
        if self.bar is not None:
            self.bar.n = round(q, 3)
            self.bar.set_postfix_str(f"t={t:.0f} s, V={v:.3f}")
            self.bar.refresh()
        if not self.lines:
            return
        now = time.monotonic()
        if (now - self._last_time < LINE_EVERY_S
                and q - self._last_q < LINE_EVERY_SHARE * self.total):
            return
        rising = q > self._last_q  # charge accumulating (a discharge): a time left
        self._last_time, self._last_q = now, q
        elapsed = now - self.start
        # the run ends at the cut-off, before the theoretical capacity: an upper bound
        left = elapsed * max(self.total - q, 0.0) / q if q > 0 and rising else float("nan")
        print(f"fem-assb: {elapsed / 60:6.1f} min  step {steps:4d}  t = {t:9.1f} s  "
              f"V = {v:.4f} V  {q:.4f} mAh/cm² ({100 * q / self.total:4.1f} % of "
              f"theoretical){_left(left)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _left(seconds: float) -> str:
    """The upper bound of the time left, as a person reads it ('' when unknown)."""
    if not seconds == seconds:  # nan: nothing passed yet
        return ""
    return "  left < 1 min" if seconds < 60 else f"  left ≤ {seconds / 60:.0f} min"
