"""Identity of a weights file: which exact checkpoint produced or was used by something.

A record is a plain dict (JSON- and ``weights_only``-safe) with the absolute ``file``, its ``sha256`` and the
``epoch`` stored in it (when known). Two records name the same weights when their hashes agree, wherever the
file lives (a copied run directory keeps its identity).
"""

from __future__ import annotations

import os

from dassl.run_state import file_identity


def file_sha256(path: str) -> str:
    """The file's sha256 (computed once per process while the file is unchanged)."""
    return file_identity(path)["sha256"]


def checkpoint_identity(path: str, epoch: int | None = None) -> dict:
    """``{"file", "sha256", "epoch"}`` of a checkpoint file (FileNotFoundError naming it when missing)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} not found")
    return {"file": os.path.abspath(path), "sha256": file_sha256(path),
            "epoch": None if epoch is None else int(epoch)}


def same_weights(a: dict | None, b: dict | None) -> bool:
    """True when both records exist and hash to the same content."""
    return bool(isinstance(a, dict) and isinstance(b, dict) and a.get("sha256") and
                a.get("sha256") == b.get("sha256"))


def describe(identity) -> str:
    """One line naming a record, for messages (``<none recorded>`` for a missing or foreign record)."""
    if not isinstance(identity, dict) or "file" not in identity:
        return "<no weights recorded>" if not identity else f"<unverifiable record {identity!r}>"
    epoch = identity.get("epoch")
    sha = str(identity.get("sha256", ""))[:12]
    return f"{identity['file']} (sha256 {sha}…{'' if epoch is None else f', epoch {epoch}'})"
