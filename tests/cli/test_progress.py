"""The hand-written progress bar: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from vouchers.cli import Progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Pretend to be a terminal."""
        return True


def test_progress_draws_on_a_terminal() -> None:
    stream = Terminal()
    bar = Progress("import", 4, stream=stream)
    for _ in range(4):
        bar.advance()
    bar.close()
    assert "\\rimport [" in repr(stream.getvalue())
    assert stream.getvalue().rstrip().endswith("100% 4/4")


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress("import", 4, stream=stream)
    bar.update(2)
    bar.close()
    assert stream.getvalue() == ""
