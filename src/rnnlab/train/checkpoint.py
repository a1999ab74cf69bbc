"""Checkpoints: one self-describing safetensors file per save, and run-directory bookkeeping.

File layout. A checkpoint is ONE `.safetensors` file, so a single atomic rename publishes it:

- tensors `model.<name>` (the model's state_dict), `optim.<path>` (every tensor inside the
  optimizer's state_dict, e.g. `optim.state.0.exp_avg`, `optim.state.0.step`) and
  `extra.<name>` (the caller's extra tensors, e.g. `extra.carry.0` for a TBPTT carry);
- header metadata `"rnnlab"`: a JSON document
  `{"format": "rnnlab-checkpoint", "version": 1, "optimizer_state": ..., "tensors": ...,
  **meta}` where `meta` is the caller's (config, vocab, step, metrics, rng, data position,
  elapsed time, ...), `optimizer_state` is the optimizer's state_dict with each tensor replaced
  by `{"$tensor": name}` (tuples as `{"$tuple": [...]}`, dicts with non-string keys as
  `{"$dict": [[key, value], ...]}`), and `tensors` lists every tensor's dtype, shape and CRC-32;
- header metadata `"rnnlab.crc32"`: the CRC-32 of the `"rnnlab"` document's UTF-8 bytes.

The checksums make any flipped or truncated byte a clear `CheckpointError` on load instead
of silently wrong weights. Every tensor is saved as its own contiguous CPU copy, so tensors
that share memory (tied weights such as a decoder sharing the embedding matrix) are stored
once per name and come back as independent tensors; `load_state_dict` then copies each into
the (still tied) parameter.

Run directories keep `RUN/step-00001234.safetensors` files and `RUN/latest.json`
(`{"path": "step-00001234.safetensors", "step": 1234}`), next to the run's other files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rnnlab.atomic import atomic_path, atomic_write_json
from rnnlab.errors import CheckpointError, InputError

FORMAT = "rnnlab-checkpoint"
VERSION = 1
METADATA_KEY = "rnnlab"
CRC_KEY = "rnnlab.crc32"
LATEST_FILE = "latest.json"
RESERVED_META_KEYS = ("format", "version", "optimizer_state", "tensors")

_NAME_RE = re.compile(r"^step-(\d+)\.safetensors$")
_MAX_LISTED = 10


@dataclass
class Checkpoint:
    """A loaded checkpoint; tensors are on the CPU.

    Attributes:
        model_state: the model's state_dict (names without the `model.` prefix).
        optimizer_state: the optimizer's state_dict, ready for `optimizer.load_state_dict`,
            or None if none was saved.
        extra_tensors: the caller's extra tensors (names without the `extra.` prefix).
        meta: the caller's metadata, as JSON gives it back (tuples become lists).
        path: the file loaded.
    """

    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None
    extra_tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def _cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    """Return a detached, contiguous CPU copy that shares memory with nothing.

    Args:
        tensor: any dense tensor.

    Returns:
        The copy.
    """
    return tensor.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)


def _crc32(tensor: torch.Tensor) -> int:
    """CRC-32 of a contiguous CPU tensor's bytes.

    Args:
        tensor: a contiguous CPU tensor.

    Returns:
        The checksum.
    """
    return zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy())


def _dtype_name(tensor: torch.Tensor) -> str:
    """Name a tensor's dtype as in `torch.<name>` (e.g. "float32").

    Args:
        tensor: any tensor.

    Returns:
        The dtype's name.
    """
    return str(tensor.dtype).removeprefix("torch.")


def _add_tensors(
    out: dict[str, torch.Tensor], prefix: str, tensors: Mapping[str, Any], what: str
) -> None:
    """Copy named tensors into `out` under `prefix`.

    Args:
        out: the flat name → tensor dict being built.
        prefix: e.g. "model.".
        tensors: name → tensor.
        what: the argument's name, for error messages.
    """
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise InputError(
                f"save_checkpoint: {what} must map names to tensors, "
                f"got {name!r}: {type(tensor).__name__}"
            )
        out[prefix + name] = _cpu_copy(tensor)


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn a state_dict value into JSON, moving each tensor into `tensors` under `key`.

    Args:
        value: a tensor, number, bool, str, None, or a list/tuple/dict of these.
        key: the dotted name this value would get as a tensor.
        tensors: the flat name → tensor dict being built.

    Returns:
        The JSON-able encoding (see the module docstring).
    """
    if isinstance(value, torch.Tensor):
        if key in tensors:
            raise InputError(f"save_checkpoint: two optimizer state entries both map to {key}")
        tensors[key] = _cpu_copy(value)
        return {"$tensor": key}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, f"{key}.{k}", tensors) for k, v in value.items()}
        pairs = []
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise InputError(f"save_checkpoint: cannot store the optimizer state key {k!r}")
            pairs.append([k, _encode(v, f"{key}.{k}", tensors)])
        return {"$dict": pairs}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InputError(
        f"save_checkpoint: cannot store optimizer state entry {key} of type {type(value).__name__}"
    )


def _decode(value: Any, tensors: Mapping[str, torch.Tensor], file: Path) -> Any:
    """Invert `_encode`.

    Args:
        value: the JSON encoding.
        tensors: the checkpoint's tensors by full name.
        file: the checkpoint, for error messages.

    Returns:
        The state_dict value.
    """
    if isinstance(value, list):
        return [_decode(v, tensors, file) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and "$tensor" in value:
        name = value["$tensor"]
        if name not in tensors:
            raise CheckpointError(f"{file}: optimizer state refers to a missing tensor {name!r}")
        return tensors[name]
    if len(value) == 1 and "$tuple" in value:
        return tuple(_decode(v, tensors, file) for v in value["$tuple"])
    if len(value) == 1 and "$dict" in value:
        try:
            return {k: _decode(v, tensors, file) for k, v in value["$dict"]}
        except (TypeError, ValueError):
            raise CheckpointError(f"{file}: malformed optimizer state") from None
    return {k: _decode(v, tensors, file) for k, v in value.items()}


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any] | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    meta: Mapping[str, Any],
) -> Path:
    """Write one checkpoint file atomically (layout in the module docstring).

    Args:
        path: the `.safetensors` file to write; missing parent directories are created.
        model_state: `model.state_dict()`.
        optimizer_state: `optimizer.state_dict()`, or None.
        extra_tensors: further named tensors to keep (e.g. a TBPTT carry), or None.
        meta: JSON-serialisable metadata; the keys in `RESERVED_META_KEYS` are taken.

    Returns:
        The path written.

    Raises:
        InputError: a non-tensor in `model_state`/`extra_tensors`, an optimizer state entry
            that cannot be stored, a reserved key in `meta`, or `meta` not JSON-serialisable.
    """
    file = Path(path)
    reserved = sorted(set(meta) & set(RESERVED_META_KEYS))
    if reserved:
        raise InputError(f"save_checkpoint: meta may not use the reserved keys {reserved}")
    tensors: dict[str, torch.Tensor] = {}
    _add_tensors(tensors, "model.", model_state, "model_state")
    _add_tensors(tensors, "extra.", extra_tensors or {}, "extra_tensors")
    encoded_optim = None
    if optimizer_state is not None:
        encoded_optim = _encode(dict(optimizer_state), "optim", tensors)
    manifest = {
        name: {"dtype": _dtype_name(t), "shape": list(t.shape), "crc32": _crc32(t)}
        for name, t in tensors.items()
    }
    doc = {
        **meta,
        "format": FORMAT,
        "version": VERSION,
        "optimizer_state": encoded_optim,
        "tensors": manifest,
    }
    try:
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise InputError(f"save_checkpoint: meta must be JSON-serialisable ({e})") from None
    crc = f"{zlib.crc32(text.encode('utf-8')):08x}"
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as temp:
        save_file(tensors, temp, metadata={METADATA_KEY: text, CRC_KEY: crc})
    return file


def _read_document(
    file: Path, *, tensors: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint's rnnlab document (and its tensors), checking every checksum.

    Args:
        file: the `.safetensors` file.
        tensors: also read (and verify) the tensors; without, only the header is read.

    Returns:
        The parsed document and all tensors by full name (none without `tensors`).
    """
    try:
        with safe_open(file, framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            loaded = {name: f.get_tensor(name) for name in f.keys()} if tensors else {}
    except SafetensorError as e:
        raise CheckpointError(f"{file}: not a readable safetensors checkpoint ({e})") from None
    except OSError as e:
        raise CheckpointError(f"{file}: cannot read the checkpoint ({e.strerror})") from None
    text = header.get(METADATA_KEY)
    if text is None:
        raise CheckpointError(
            f"{file}: a safetensors file but not an rnnlab checkpoint "
            f"(no {METADATA_KEY!r} metadata)"
        )
    if header.get(CRC_KEY) != f"{zlib.crc32(text.encode('utf-8')):08x}":
        raise CheckpointError(f"{file}: the rnnlab metadata is corrupted (checksum mismatch)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file}: the rnnlab metadata is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise CheckpointError(f"{file}: expected format {FORMAT!r}, got {found!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{file}: invalid checkpoint version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format version {version} is newer than this rnnlab reads "
            f"(up to {VERSION}); upgrade rnnlab"
        )
    if tensors:
        _verify_tensors(file, doc.get("tensors"), loaded)
    return doc, loaded


def _verify_tensors(file: Path, manifest: Any, tensors: Mapping[str, torch.Tensor]) -> None:
    """Check the tensors against the document's manifest: names, dtypes, shapes, CRC-32s.

    Args:
        file: the checkpoint, for error messages.
        manifest: the document's `tensors` entry.
        tensors: the tensors read from the file.
    """
    if not isinstance(manifest, dict) or set(manifest) != set(tensors):
        raise CheckpointError(f"{file}: the tensors do not match the checkpoint's manifest")
    for name, tensor in tensors.items():
        entry = manifest[name]
        expected = {"dtype": _dtype_name(tensor), "shape": list(tensor.shape)}
        if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in expected.items()):
            raise CheckpointError(f"{file}: tensor {name} does not match the manifest")
        if entry.get("crc32") != _crc32(tensor):
            raise CheckpointError(f"{file}: tensor {name} is corrupted (checksum mismatch)")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint file, or the latest checkpoint of a run directory.

    Args:
        path: a checkpoint file or a run directory (resolved with `find_checkpoint`).

    Returns:
        The `Checkpoint`, tensors on the CPU.

    Raises:
        CheckpointError: no checkpoint there; the file is not a safetensors file, truncated or
            corrupted; it lacks valid rnnlab metadata; or its format/version is not supported.
            The message names the file.
    """
    file = find_checkpoint(path)
    doc, tensors = _read_document(file)
    groups: dict[str, dict[str, torch.Tensor]] = {"model.": {}, "extra.": {}, "optim.": {}}
    for name, tensor in tensors.items():
        prefix = next((p for p in groups if name.startswith(p)), None)
        if prefix is None:
            raise CheckpointError(
                f"{file}: unexpected tensor {name!r} (expected model./optim./extra.)"
            )
        groups[prefix][name.removeprefix(prefix)] = tensor
    encoded = doc.get("optimizer_state")
    optimizer_state = None if encoded is None else _decode(encoded, tensors, file)
    if optimizer_state is not None and not isinstance(optimizer_state, dict):
        raise CheckpointError(f"{file}: the optimizer state is not a dict")
    meta = {k: v for k, v in doc.items() if k not in RESERVED_META_KEYS}
    return Checkpoint(
        model_state=groups["model."],
        optimizer_state=optimizer_state,
        extra_tensors=groups["extra."],
        meta=meta,
        path=file,
    )


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint (file or run directory) without reading its tensors.

    The metadata's own checksum is verified; the tensors' are not (use `load_checkpoint`).
    """
    file = find_checkpoint(path)
    doc, _ = _read_document(file, tensors=False)
    return {k: v for k, v in doc.items() if k not in RESERVED_META_KEYS}


def checkpoint_name(step: int) -> str:
    """Name the checkpoint file of a step.

    Args:
        step: the optimizer step (>= 0).

    Returns:
        e.g. "step-00001234.safetensors".
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InputError(f"checkpoint_name: expected a step >= 0, got {step!r}")
    return f"step-{step:08d}.safetensors"


def _list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """List the complete step checkpoints in a directory (temporary files are ignored).

    Args:
        directory: a run directory.

    Returns:
        (step, path) pairs sorted by step.
    """
    found = []
    for entry in directory.iterdir():
        match = _NAME_RE.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def has_checkpoints(directory: str | os.PathLike) -> bool:
    """Whether `directory` exists and holds at least one step checkpoint."""
    directory = Path(directory)
    return directory.is_dir() and bool(_list_checkpoints(directory))


def _read_latest(directory: Path) -> Path | None:
    """Resolve `latest.json` in a run directory, if it is valid.

    Args:
        directory: a run directory.

    Returns:
        The file it names if latest.json parses, names a plain file in `directory` and that
        file exists; otherwise None.
    """
    try:
        doc = json.loads((directory / LATEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = doc.get("path") if isinstance(doc, dict) else None
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        return None
    file = directory / name
    return file if file.is_file() else None


def find_checkpoint(path: str | os.PathLike) -> Path:
    """Resolve a checkpoint file or a run directory to one checkpoint file.

    For a directory: the file `latest.json` names when it is valid, else the highest-step
    `step-*.safetensors` file (temporary files are never candidates). A file is returned as
    is (its content is checked by `load_checkpoint`), except `latest.json`, which is resolved.

    Args:
        path: a checkpoint file, a run directory `RUN` or `RUN/latest.json`.

    Returns:
        The checkpoint file.

    Raises:
        CheckpointError: nothing exists at `path`, or the directory holds no checkpoint.
    """
    given = Path(path)
    if given.is_file() and given.name != LATEST_FILE:
        return given
    directory = given.parent if given.is_file() else given
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint file or run directory at {given}")
    latest = _read_latest(directory)
    if latest is not None:
        return latest
    found = _list_checkpoints(directory)
    if found:
        return found[-1][1]
    raise CheckpointError(
        f"no checkpoint in {given}; train with `rnnlab train ... --out {directory}` first"
    )


def save_run_checkpoint(
    run_dir: str | os.PathLike,
    step: int,
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any] | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    meta: Mapping[str, Any],
    keep: int = 2,
) -> Path:
    """Save a step checkpoint into a run directory, point latest.json at it, prune old ones.

    Order (each write atomic): `RUN/step-N.safetensors`, then `RUN/latest.json`, then
    deletion of all but the `keep` newest checkpoints.
    A crash at any point leaves a loadable latest checkpoint. "Newest" is by step, except
    that checkpoints with a higher step than the one just written (left by a run resumed
    from an earlier checkpoint) belong to the abandoned continuation and count as oldest.
    The checkpoint just written and the one latest.json names are never deleted.

    Args:
        run_dir: the run directory (created if missing).
        step: the optimizer step; added to the metadata as "step".
        model_state, optimizer_state, extra_tensors, meta: as for `save_checkpoint`; a
            "step" already in `meta` must equal `step`.
        keep: how many checkpoints to keep (>= 1).

    Returns:
        The checkpoint file written.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InputError(f"save_run_checkpoint: expected keep >= 1, got {keep!r}")
    name = checkpoint_name(step)
    if meta.get("step", step) != step:
        raise InputError(f"save_run_checkpoint: meta step {meta['step']} != step {step}")
    directory = Path(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    file = save_checkpoint(
        directory / name,
        model_state=model_state,
        optimizer_state=optimizer_state,
        extra_tensors=extra_tensors,
        meta={**meta, "step": step},
    )
    atomic_write_json(directory / LATEST_FILE, {"path": name, "step": step})
    protected = {name, getattr(_read_latest(directory), "name", name)}
    others = [(s, p) for s, p in _list_checkpoints(directory) if p.name not in protected]
    others.sort(key=lambda sp: (sp[0] <= step, sp[0]), reverse=True)
    for _, old in others[max(keep - len(protected), 0) :]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return file


def _lookup(mapping: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Find `key` in a mapping, as a literal key or a dotted path into nested mappings.

    Args:
        mapping: e.g. a config dict.
        key: e.g. "hidden" or "model.hidden".

    Returns:
        (found, value).
    """
    if key in mapping:
        return True, mapping[key]
    node: Any = mapping
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _as_json(value: Any) -> Any:
    """Normalise a value as a JSON round trip would (tuples become lists, ...).

    Args:
        value: any value.

    Returns:
        The normalised value (unserialisable leaves become their `str`).
    """
    return json.loads(json.dumps(value, default=str))


def check_compatible(
    current: Mapping[str, Any],
    saved: Mapping[str, Any],
    keys: Iterable[str] | None = None,
    *,
    source: str | os.PathLike = "the checkpoint",
) -> None:
    """Check that settings agree with those saved in a checkpoint, listing every difference.

    Values are compared as JSON stores them, so `(3, 4)` equals `[3, 4]`.

    Args:
        current: the settings now in force (e.g. `dataclasses.asdict(config)`).
        saved: the checkpoint's settings (e.g. `checkpoint.meta["config"]`).
        keys: the keys that must agree, literal or dotted paths into nested dicts; None
            compares every key of either.
        source: the checkpoint's path (or a description), named in the message.

    Raises:
        CheckpointError: e.g. "checkpoint run/…/step-00001000.safetensors does not match the
            current settings:\\n  hidden: checkpoint 512, now 256".
    """
    names = sorted(set(current) | set(saved)) if keys is None else list(keys)
    lines = []
    for key in names:
        in_current, now = _lookup(current, key)
        in_saved, then = _lookup(saved, key)
        if (in_current, _as_json(now)) != (in_saved, _as_json(then)):
            then_text = json.dumps(_as_json(then)) if in_saved else "(missing)"
            now_text = json.dumps(_as_json(now)) if in_current else "(missing)"
            lines.append(f"  {key}: checkpoint {then_text}, now {now_text}")
    if lines:
        raise CheckpointError(
            f"checkpoint {source} does not match the current settings:\n" + "\n".join(lines)
        )


def _listing(names: list[str]) -> str:
    """Join names for a message, eliding all but the first few.

    Args:
        names: the names.

    Returns:
        e.g. "a, b, c" or "a, b, … and 12 more".
    """
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return f"{shown}, … and {more} more" if more > 0 else shown


def check_state_dict(
    model_state: Mapping[str, torch.Tensor],
    checkpoint_state: Mapping[str, torch.Tensor],
    *,
    source: str | os.PathLike = "the checkpoint",
) -> None:
    """Check that checkpoint tensors fit a model: same names and shapes (dtype may differ).

    Args:
        model_state: `model.state_dict()`.
        checkpoint_state: `checkpoint.model_state`.
        source: the checkpoint's path (or a description), named in the message.

    Raises:
        CheckpointError: listing names missing from the checkpoint, names the model does not
            have, and shape mismatches, with a hint when names differ only by a wrapper
            prefix ("module." from DDP, "_orig_mod." from torch.compile).
    """
    missing = sorted(set(model_state) - set(checkpoint_state))
    unexpected = sorted(set(checkpoint_state) - set(model_state))
    mismatched = [
        f"{name}: checkpoint {tuple(checkpoint_state[name].shape)}, "
        f"model {tuple(model_state[name].shape)}"
        for name in sorted(set(model_state) & set(checkpoint_state))
        if checkpoint_state[name].shape != model_state[name].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    lines = [f"checkpoint {source} does not fit the model:"]
    if missing:
        lines.append(f"  missing from the checkpoint ({len(missing)}): {_listing(missing)}")
    if unexpected:
        lines.append(f"  not in the model ({len(unexpected)}): {_listing(unexpected)}")
    if mismatched:
        lines.append(f"  shape mismatch ({len(mismatched)}):")
        lines.extend(f"    {line}" for line in mismatched[:_MAX_LISTED])
        if len(mismatched) > _MAX_LISTED:
            lines.append(f"    … and {len(mismatched) - _MAX_LISTED} more")
    for prefix in ("module.", "_orig_mod."):
        for have, want in ((unexpected, missing), (missing, unexpected)):
            if have and want and sorted(n.removeprefix(prefix) for n in have) == want:
                lines.append(
                    f"  (the names differ only by the prefix {prefix!r}: unwrap the model "
                    "before saving or loading)"
                )
    raise CheckpointError("\n".join(lines))
