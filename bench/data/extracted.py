"""Named datasets that come as one archive: download (resumed), check, extract, record (see
:mod:`bench.data.datasets` for the layout of the data root and the rules).

``<data root>/<name>/`` is complete when its :data:`~bench.data.datasets.CONTENTS_FILE` exists (written
into the fresh folder before it is renamed into place) and every image it lists has its sha256.
``<data root>/.records/<name>.json`` is what the first download gave (the archive's sha256 and size,
every image's sha256): where nobody publishes a checksum it is the only thing that ties later
downloads to the first one, and a download that differs from it is refused.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from bench.api.files import atomic_write_text, sha256_file
from bench.data.archives import ArchiveError, extract_images, remove_folder
from bench.data.download import DownloadError, download_first
from bench.data.manifests import CONTENTS_FILE, DatasetError, DatasetImage, Manifest, sources

__all__ = ["read_contents", "record_path", "resolve_archive_dataset"]

#: The folder of ``<data root>`` that keeps each dataset's record of its first download.
RECORDS = ".records"
#: The folder of ``<data root>`` that holds archives while they download and until they are extracted.
DOWNLOADS = ".downloads"


def record_path(root: Path, name: str) -> Path:
    return root / RECORDS / f"{name}.json"


def archive_path(root: Path, manifest: Manifest) -> Path:
    return root / DOWNLOADS / manifest.name / manifest.archive.file_name


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_contents(folder: Path) -> dict | None:
    """The contents file of an extracted dataset folder (``archive``: file, sha256, size; ``images``: name
    -> sha256), or None when the folder has none (not extracted, or not completely)."""
    return _read_json(folder / CONTENTS_FILE)


def _how_to_fill(manifest: Manifest, root: Path) -> str:
    archive = manifest.archive
    checksum = f"sha256 {archive.sha256}" if archive.sha256 else "no published checksum"
    return (f"Put the archive {archive.url} ({checksum}) at {archive_path(root, manifest)} and run again (it is "
            f"checked and extracted from there), or point --data-dir / $BENCH_DATA at a folder that contains "
            f"'{manifest.name}/' made by codec-bench")  # fmt: skip


def _folder_problem(folder: Path, contents: dict, record: dict | None) -> str | None:
    """Why the extracted ``folder`` (its contents file read as ``contents``) cannot be used, or None."""
    images = contents.get("images")
    if not isinstance(images, dict) or not images:
        return f"{folder / CONTENTS_FILE} lists no images"
    if record and isinstance(record.get("images"), dict) and record["images"] != images:
        return (f"{folder} holds other images than the first download recorded in "
                f"{record_path(folder.parent, folder.name)}")  # fmt: skip
    for name, expected in images.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        actual = sha256_file(path)
        if actual != expected:
            return f"{path} has sha256 {actual}, expected {expected} (a different or damaged copy)"
    return None


def _images(folder: Path, contents: dict) -> tuple[DatasetImage, ...]:
    return tuple(DatasetImage(name, folder / name, sha) for name, sha in sorted(contents["images"].items()))


def resolve_archive_dataset(manifest: Manifest, root: Path, offline: bool) -> tuple[tuple[DatasetImage, ...], dict]:
    """The images of the archive dataset ``manifest`` in ``root/<name>/``, downloaded, checked and
    extracted first when that folder is missing, incomplete or damaged, and what its contents file says
    of the archive they came from (file, sha256, size); :class:`DatasetError` (one line) when they
    cannot be had."""
    folder = root / manifest.name
    record = _read_json(record_path(root, manifest.name))
    contents = read_contents(folder)
    if contents is not None:
        problem = _folder_problem(folder, contents, record)
        if problem is None:
            return _images(folder, contents), contents.get("archive", {})
    elif folder.exists():
        problem = f"{folder} is not a complete extraction (no {CONTENTS_FILE})"
    else:
        problem = f"{folder} is missing"
    archive = _fetch_archive(manifest, root, problem, offline)
    archive_sha = sha256_file(archive)  # once: checked against the record, then written with the images
    _check_against_record(manifest, root, archive, archive_sha, record)
    contents = _extract(manifest, root, archive, archive_sha, record)
    archive.unlink(missing_ok=True)
    return _images(folder, contents), contents["archive"]


def _fetch_archive(manifest: Manifest, root: Path, problem: str, offline: bool) -> Path:
    """The archive of ``manifest``, checked (size and published sha256): the copy in the downloads folder,
    else downloaded (resumed); :class:`DatasetError` saying ``problem`` and what went wrong."""
    spec, path = manifest.archive, archive_path(root, manifest)
    if path.is_file() and (spec.size is None or path.stat().st_size == spec.size):
        if not spec.sha256 or sha256_file(path) == spec.sha256:
            return path
        path.unlink()  # not the published archive: download it
    if not offline:
        size = f" ({spec.size / 2**20:,.0f} MiB)" if spec.size else ""
        print(f"{manifest.name}: downloading {spec.file_name}{size} into {path.parent}", file=sys.stderr)
    try:
        return download_first(sources(manifest, spec.file_name, spec.url, spec.mirrors), path,
                              sha256=spec.sha256 or "", size=spec.size, resume=True,
                              desc=f"{manifest.name} {spec.file_name}", offline=offline)  # fmt: skip
    except DownloadError as exc:
        raise DatasetError(f"{problem}; {exc}. {_how_to_fill(manifest, root)}") from None


def _check_against_record(manifest: Manifest, root: Path, archive: Path, actual: str, record: dict | None) -> None:
    """Refuse (and delete) an ``archive`` (its sha256 ``actual``) other than the one the first download recorded."""
    recorded = (record or {}).get("archive", {})
    if not recorded.get("sha256"):
        return
    if actual != recorded["sha256"]:
        archive.unlink(missing_ok=True)
        raise DatasetError(
            f"{manifest.name}: the archive downloaded now has sha256 {actual}, but the first download (recorded "
            f"{recorded.get('date', '?')} in {record_path(root, manifest.name)}) had {recorded['sha256']}: the "
            "publisher changed it or a mirror serves another file, so it is refused; delete that record only if "
            "the change is expected (results measured on the two are not comparable)"
        )


def _extract(manifest: Manifest, root: Path, archive: Path, archive_sha: str, record: dict | None) -> dict:
    """Extract the images of ``archive`` (its sha256 ``archive_sha``) into a fresh folder, check their
    number (and the record's sha256s), write the contents file, rename the folder to ``root/<name>``;
    record a first download. Returns the contents file's document."""
    partial = root / f".{manifest.name}.partial-{secrets.token_hex(4)}"
    try:
        try:
            paths = extract_images(archive, partial, manifest.archive.members)
        except ArchiveError as exc:
            archive.unlink(missing_ok=True)  # checked, yet refused: a new download is the only way on
            raise DatasetError(f"{manifest.name}: {exc}") from None
        if len(paths) != manifest.image_count:
            archive.unlink(missing_ok=True)
            raise DatasetError(
                f"{manifest.name}: {archive.name} holds {len(paths)} images matching "
                f"{', '.join(manifest.archive.members)}, not the {manifest.image_count} of the split; refused"
            )
        images = {path.name: sha256_file(path) for path in paths}
        recorded = (record or {}).get("images")
        if isinstance(recorded, dict) and recorded != images:
            raise DatasetError(f"{manifest.name}: the images extracted now differ from those the first download "
                               f"recorded in {record_path(root, manifest.name)}; refused")  # fmt: skip
        contents = {"dataset": manifest.name, "archive": {"file": archive.name, "sha256": archive_sha,
                    "size": archive.stat().st_size}, "images": images}  # fmt: skip
        atomic_write_text(partial / CONTENTS_FILE, json.dumps(contents, indent=1) + "\n")
        _replace_folder(partial, root / manifest.name)
    finally:
        remove_folder(partial)
    if record is None:
        from bench.store.provenance import timestamp

        first = {**contents, "archive": {**contents["archive"], "date": timestamp(),
                 "checksum": manifest.checksum}}  # fmt: skip
        atomic_write_text(record_path(root, manifest.name), json.dumps(first, indent=1) + "\n")
    return contents


def _replace_folder(new: Path, folder: Path) -> None:
    """Rename ``new`` to ``folder``, moving an existing (incomplete or damaged) ``folder`` aside first."""
    if folder.exists() or folder.is_symlink():
        old = folder.with_name(f".{folder.name}.old-{secrets.token_hex(4)}")
        os.replace(folder, old)
        remove_folder(old)
    os.replace(new, folder)
