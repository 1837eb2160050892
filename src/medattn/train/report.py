"""Live training progress: one bar per epoch with loss, images/s and ETA, and a line per epoch."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Reporter:
    """Progress display for ``train_run``: a live bar per epoch on a terminal, and one line per
    epoch always (``quiet`` or a non-terminal stderr: the lines only); ``file`` sends the lines to a
    log file instead (study runs)."""

    def __init__(self, quiet: bool = False, file=None):
        self.console = Console(stderr=True) if file is None else Console(file=file, width=120)
        self.quiet = quiet or not self.console.is_terminal  # no live bar in logs and pipes
        self.progress: Progress | None = None

    def epoch(self, epoch: int, epochs: int, steps: int):
        if self.quiet:
            return None
        columns = (
            TextColumn(f"epoch {epoch + 1}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[speed]:.0f} img/s  ETA"),
            TimeRemainingColumn(),
        )
        self.progress = Progress(*columns, console=self.console, transient=True)
        self.progress.start()
        task = self.progress.add_task("train", total=steps, loss=float("nan"), speed=0.0)
        return lambda step, total, loss, speed: self.progress.update(task, completed=step, loss=loss, speed=speed)

    def epoch_done(self, row: dict) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        self.console.print(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
            f"val AUC {row['val_auc_roc']:.3f}, lr {row['lr']:.2g}, {row['images_per_second']:.0f} img/s",
            highlight=False,
            soft_wrap=True,
        )

    def data_losses(self, dropped: int, excluded: int, total: int, listing) -> None:
        """One line when files are left out: how many of ``total`` and where they are listed."""
        if dropped or excluded:
            self.console.print(
                f"data: {dropped} of {total} files dropped (cannot be used), {excluded} excluded by the duplicates "
                f"policy; listed in {listing}",
                highlight=False,
                soft_wrap=True,  # a path broken over lines cannot be copied
            )
