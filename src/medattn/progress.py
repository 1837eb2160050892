"""Progress bars with ETA for long library calls, as ``progress(done, total)`` callbacks."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_callback(description_: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total, description=None)`` driving one bar on stderr (a no-op when ``quiet``
    or when stderr is not a terminal, so logs and pipes get no control characters)."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda done, total, description=None: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description_, total=None)
        yield lambda done, total, description=None: bar.update(
            task, completed=done, total=total, description=description or description_
        )
