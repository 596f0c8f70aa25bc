"""Fashion-MNIST as numpy arrays, found locally or downloaded, always verified by content.

Resolution order: explicit directory (``--data-dir`` or ``$FRAMEBENCH_DATA``) -> the user cache
(``~/.cache/framebench/fashion-mnist``) -> Debian's ``/usr/share/datasets/fashion-mnist`` (package
``dataset-fashion-mnist``) -> download from the canonical mirror into the user cache with pooch.

Debian recompressed the ``.gz`` files, so archive checksums differ between sources; what is pinned
and verified on every load is the SHA-256 of the *decompressed* IDX bytes, which is identical.
No framework is imported here, and nothing here ever substitutes synthetic data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "FRAMEBENCH_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's canonical mirror
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FIX_HINT = (
    "install it with `apt-get install dataset-fashion-mnist`, or download it with "
    "`python -m bench data --download`, or point --data-dir/$FRAMEBENCH_DATA at the four "
    "*-ubyte.gz files"
)


@dataclass(frozen=True)
class IdxFile:
    """One of the four Fashion-MNIST files and what its content must be."""

    name: str
    shape: tuple[int, ...]
    content_sha256: str  # of the decompressed IDX bytes
    gz_md5: str  # of Zalando's archive (verifies downloads; Debian's archives differ)


FILES: dict[str, IdxFile] = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte.gz",
        (60000, 28, 28),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte.gz",
        (60000,),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte.gz",
        (10000, 28, 28),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "bef4ecab320f06d8554ea6380940ec79",
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte.gz",
        (10000,),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}


class DataError(Exception):
    """Fashion-MNIST is missing, truncated or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """The verified data set: uint8 images N x 28 x 28 and int64 labels N."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: str  # one hash over the four files' decompressed content
    source: str

    @staticmethod
    def as_float(images: np.ndarray) -> np.ndarray:
        """Return images as float32 N x 1 x 28 x 28 in [0, 1] (the harness's canonical input)."""
        return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def parse_idx(raw: bytes, expected_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Parse IDX bytes strictly (magic, dimensions, length) into a uint8 array."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{where}: not an IDX file (bad magic number); {FIX_HINT}")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise DataError(f"{where}: IDX element type 0x{dtype_code:02x}, expected unsigned byte (0x08)")
    if ndim != len(expected_shape):
        raise DataError(f"{where}: IDX file has {ndim} dimensions, expected {len(expected_shape)}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: truncated IDX header; {FIX_HINT}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if shape != expected_shape:
        raise DataError(f"{where}: IDX shape {shape}, expected {expected_shape}; {FIX_HINT}")
    body = len(raw) - header
    expected = int(np.prod(shape))
    if body != expected:
        raise DataError(f"{where}: {body} data bytes, expected {expected} (truncated?); {FIX_HINT}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); the file is corrupt; {FIX_HINT}") from None


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Return the directories searched, in order."""
    if data_dir is not None:
        return [Path(data_dir)]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    return [cache_dir(), DEBIAN_DIR]


def cache_dir() -> Path:
    """Return the user cache directory for downloaded files."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "framebench" / "fashion-mnist"


def find_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the first directory holding all four files, or raise DataError naming the fix."""
    dirs = candidate_dirs(data_dir)
    for directory in dirs:
        present = [f for f in FILES.values() if (directory / f.name).is_file()]
        if len(present) == len(FILES):
            return directory
        if present and (data_dir is not None or os.environ.get(ENV_VAR)):
            missing = sorted(f.name for f in FILES.values() if f not in present)
            raise DataError(f"{directory} lacks {', '.join(missing)}; {FIX_HINT}")
    if data_dir is not None or os.environ.get(ENV_VAR):
        names = ", ".join(f.name for f in FILES.values())
        raise DataError(f"{dirs[0]} does not hold the Fashion-MNIST files ({names}); {FIX_HINT}")
    searched = ", ".join(str(d) for d in dirs)
    raise DataError(f"Fashion-MNIST not found (searched {searched}); {FIX_HINT}")


# Data sets verified by ``preload`` in this process (a fork server's), by directory and the files'
# size and modification time: its forked runs train on those verified bytes without reading them again.
_PRELOADED: dict[tuple, Dataset] = {}


def _files_key(directory: Path) -> tuple:
    stats = [(directory / spec.name).stat() for spec in FILES.values()]
    return (str(directory.resolve()), *((st.st_size, st.st_mtime_ns) for st in stats))


def preload(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load and verify the data once for the processes this one forks: a later ``load`` of the same
    unchanged files (same directory, sizes, modification times) returns these verified arrays."""
    dataset = load(data_dir, allow_download=False)
    _PRELOADED[_files_key(Path(dataset.source))] = dataset
    return dataset


def load(data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> Dataset:
    """Find (or, with no directory given, download), decompress, verify and parse the four files
    (or, in a process forked after ``preload``, return the arrays verified there)."""
    try:
        directory = find_dir(data_dir)
    except DataError:
        if data_dir is not None or os.environ.get(ENV_VAR) or not allow_download:
            raise
        directory = download()
    if _PRELOADED:
        try:
            preloaded = _PRELOADED.get(_files_key(directory))
        except OSError:
            preloaded = None
        if preloaded is not None:
            return preloaded
    arrays: dict[str, np.ndarray] = {}
    combined = hashlib.sha256()
    for key, spec in FILES.items():
        path = directory / spec.name
        raw = _read_gz(path)
        digest = hashlib.sha256(raw).hexdigest()
        arrays[key] = parse_idx(raw, spec.shape, str(path))
        if digest != spec.content_sha256:
            raise DataError(
                f"{path}: content SHA-256 {digest[:12]}... does not match Fashion-MNIST's "
                f"{spec.content_sha256[:12]}... (corrupt or a different data set); {FIX_HINT}"
            )
        combined.update(digest.encode())
    return Dataset(
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"].astype(np.int64),
        sha256=combined.hexdigest(),
        source=str(directory),
    )


def download(target: Path | None = None) -> Path:
    """Download the four files from the canonical mirrors into the cache, verified; return the dir."""
    import pooch  # only needed for downloads

    target = Path(target or cache_dir())
    target.mkdir(parents=True, exist_ok=True)
    for spec in FILES.values():
        errors = []
        for mirror in MIRRORS:
            try:
                pooch.retrieve(
                    url=mirror + spec.name,
                    known_hash=f"md5:{spec.gz_md5}",
                    fname=spec.name,
                    path=target,
                    progressbar=False,
                )
                break
            except Exception as exc:  # noqa: BLE001 - any mirror failure: try the next one
                errors.append(f"{mirror}: {exc}".splitlines()[0])
        else:
            raise DataError(
                f"could not download {spec.name} ({'; '.join(errors)}); "
                "install it with `apt-get install dataset-fashion-mnist` instead"
            )
    load(target, allow_download=False)  # verify content, not just the archives
    return target
