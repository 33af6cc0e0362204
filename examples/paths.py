"""Where the examples find files: bundled data beside each example, user paths from the repo."""

from __future__ import annotations

from pathlib import Path

# The engine may run from any folder, so nothing here depends on the current directory.
REPO_ROOT = Path(__file__).resolve().parent.parent


def input_path(value: object, default: Path | None = None) -> Path | None:
    """The file a task input names: absolute as given, relative to the repository root (so
    `examples/data_cleanup/data/orders_corrected.csv` works wherever the engine runs), or
    `default` when the input is absent or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path
