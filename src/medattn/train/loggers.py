"""Optional experiment logging: TensorBoard event files and MLflow runs, beside history.csv.

Both are extras (``pip install 'medattn[logging]'``); asking for one that is not installed is a
one-line ConfigError. MLflow logs to ``$MLFLOW_TRACKING_URI`` if set, else to a local store in the
run directory (``RUN/mlruns``, MLflow's file store; no server needed).
"""

import os
from pathlib import Path

from medattn.errors import ConfigError, choose

LOGGERS = ("tensorboard", "mlflow")


class TensorBoardLogger:
    def __init__(self, run: Path, params: dict):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--log tensorboard needs the tensorboard package (pip install 'medattn[logging]')"
            ) from None
        self.writer = SummaryWriter(log_dir=str(run / "tensorboard"))
        self.writer.add_text("config", f"```\n{params}\n```")

    def log(self, row: dict) -> None:
        for key, value in row.items():
            if key != "epoch" and value == value:  # skip NaN
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowLogger:
    def __init__(self, run: Path, params: dict):
        try:
            import mlflow
        except ImportError:
            raise ConfigError("--log mlflow needs the mlflow package (pip install 'medattn[logging]')") from None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri((run / "mlruns").resolve().as_uri())
        mlflow.set_experiment("medattn")
        self.mlflow = mlflow
        self.run = mlflow.start_run(run_name=run.name)
        mlflow.log_params(params)

    def log(self, row: dict) -> None:
        self.mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch" and v == v}, step=row["epoch"])

    def close(self) -> None:
        self.mlflow.end_run()


def open_loggers(names: tuple[str, ...], run: Path, params: dict) -> list:
    """Loggers for ``names`` (``tensorboard``, ``mlflow``), each with ``log(row)`` and ``close()``."""
    classes = {"tensorboard": TensorBoardLogger, "mlflow": MLflowLogger}
    return [classes[choose("logger", name, LOGGERS)](run, params) for name in names]


def flat_params(config: dict, prefix: str = "") -> dict:
    """``{"train.lr": 0.05, ...}`` from the nested run config (values as strings, as MLflow stores them)."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat
