"""Progress for ``manage.py backup`` / ``restore``: a tqdm bar per stage on a terminal,
plain lines (a few per stage) when the output goes to a log or a pipe."""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

STAGE_UNITS = {"copy": "page", "restore": "page", "pg_restore": "step"}  # else bytes
PLAIN_EVERY_SECONDS = 5.0


class StageProgress:
    """A ``Progress`` callable: ``reporter(stage, done, total)``. Call ``close()`` at the end."""

    def __init__(self, stream: TextIO, *, interactive: bool | None = None) -> None:
        self._stream = stream
        self._interactive = stream.isatty() if interactive is None else interactive
        self._stage: str | None = None
        self._bar: tqdm | None = None
        self._last_line = 0.0
        self._done = 0
        self._total: int | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self._stage:
            self.close()
            self._start(stage, total)
        self._done, self._total = done, total
        if self._bar is not None:
            if total is not None and self._bar.total != total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)
        elif time.monotonic() - self._last_line >= PLAIN_EVERY_SECONDS:
            self._line()

    def _start(self, stage: str, total: int | None) -> None:
        self._stage = stage
        unit = STAGE_UNITS.get(stage, "B")
        if self._interactive:
            self._bar = tqdm(
                total=total,
                desc=stage.capitalize(),
                unit=unit,
                unit_scale=unit == "B",
                file=self._stream,
                leave=True,
            )
        else:
            self._stream.write(f"{stage}: started\n")
            self._last_line = time.monotonic()

    def _line(self) -> None:
        unit = f"{STAGE_UNITS[self._stage]}s" if self._stage in STAGE_UNITS else "bytes"
        of = f" of {self._total}" if self._total is not None else ""
        self._stream.write(f"{self._stage}: {self._done}{of} {unit}\n")
        self._stream.flush()
        self._last_line = time.monotonic()

    def close(self) -> None:
        """End the current stage: close its bar, or print its final count."""
        if self._bar is not None:
            self._bar.close()
        elif self._stage is not None:
            self._line()
        self._bar = None
        self._stage = None
