"""The reproducibility manifest: what produced an output folder.

Written at the start of every run and updated at the end; a resumed run refuses to mix results of a
different config into the same folder (the config hash must match).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from clauselens.config import ConfigError, ExperimentConfig
from clauselens.rules.isolation import manifest_entry
from clauselens.store import Store

MANIFEST = "manifest.json"
PACKAGES = (
    "clauselens",
    "torch",
    "transformers",
    "peft",
    "bitsandbytes",
    "accelerate",
    "tokenizers",
    "sentence-transformers",
    "duckdb",
    "pandas",
    "scipy",
    "statsmodels",
    "ifcopenshell",
    "ray",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str:
    """The commit of the clauselens checkout, with `+dirty` when it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def start_manifest(
    store: Store, cfg: ExperimentConfig, *, allow_config_change: bool = False
) -> dict[str, Any]:
    """Write (or resume) the manifest; refuse a folder that holds a run of another config."""
    path = store.root / MANIFEST
    old = store.read_json(MANIFEST) if path.exists() else None
    if old and old.get("config_hash") != cfg.config_hash() and not allow_config_change:
        raise ConfigError(
            f"{store.root}: output folder holds a run of a different config (hash {old.get('config_hash')}, "
            f"this config {cfg.config_hash()}); choose another output_dir or pass --allow-config-change"
        )
    manifest = {
        "name": cfg.name,
        "config": cfg.model_dump(mode="json"),
        "config_file": cfg.source_path,
        "config_hash": cfg.config_hash(),
        "seeds": cfg.seeds,
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "sandbox": manifest_entry(),
        "argv": sys.argv,
        "started": (old or {}).get("started", _now()),
        "resumed": [*(old or {}).get("resumed", []), _now()] if old else [],
        "finished": None,
    }
    store.write_json(MANIFEST, manifest)
    return manifest


def finish_manifest(store: Store, **extra: Any) -> None:
    manifest = store.read_json(MANIFEST)
    manifest.update(finished=_now(), **extra)
    store.write_json(MANIFEST, manifest)
