"""Fashion-MNIST loading: strict IDX parsing, content verification, clear errors."""

from __future__ import annotations

import gzip
import os
import shutil
import struct

import numpy as np
import pytest

from bench import data
from bench.data import FILES, DataError, parse_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_reads_shape_and_values():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(array), (2, 3, 4), "x"), array)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"\x01" + b[1:], "bad magic"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "element type 0x0d"),
        (lambda b: b[:3] + b"\x02" + b[4:], "2 dimensions, expected 3"),
        (lambda b: b[:-1], "data bytes, expected 24"),
        (lambda b: b + b"\x00", "data bytes, expected 24"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b[:4] + struct.pack(">I", 9) + b[8:], "IDX shape (9, 3, 4)"),
    ],
)
def test_parse_idx_rejects_corrupt_input(mutate, message):
    raw = idx_bytes(np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_idx(mutate(raw), (2, 3, 4), "file")


def test_real_data_loads_and_verifies(real_data_dir):
    dataset = data.load(real_data_dir)
    assert dataset.train_images.shape == (60000, 28, 28) and dataset.train_images.dtype == np.uint8
    assert dataset.test_images.shape == (10000, 28, 28)
    assert dataset.train_labels.shape == (60000,) and set(np.unique(dataset.test_labels)) == set(range(10))
    assert np.bincount(dataset.train_labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert len(dataset.sha256) == 64
    floats = data.Dataset.as_float(dataset.test_images[:3])
    assert floats.shape == (3, 1, 28, 28) and floats.dtype == np.float32 and floats.max() <= 1.0


def copy_data(src, dst):
    dst.mkdir(exist_ok=True)
    for spec in FILES.values():
        shutil.copy(src / spec.name, dst / spec.name)
    return dst


def test_recompressed_archives_still_verify(real_data_dir, tmp_path):
    """Content is verified, not archive bytes: a different gzip of the same bytes loads."""
    target = copy_data(real_data_dir, tmp_path / "d")
    name = FILES["test_labels"].name
    raw = gzip.decompress((target / name).read_bytes())
    (target / name).write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    assert data.load(target).sha256 == data.load(real_data_dir).sha256


def test_changed_content_fails_verification(real_data_dir, tmp_path):
    target = copy_data(real_data_dir, tmp_path / "d")
    name = FILES["test_labels"].name
    raw = bytearray(gzip.decompress((target / name).read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one flipped label: valid IDX, wrong content
    (target / name).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(
        DataError, match=r"content SHA-256 .* does not match.*apt-get install dataset-fashion-mnist"
    ):
        data.load(target)


def test_truncated_archive_is_a_clear_error(real_data_dir, tmp_path):
    target = copy_data(real_data_dir, tmp_path / "d")
    path = target / FILES["train_images"].name
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="corrupt"):
        data.load(target)


def test_missing_files_name_the_fix(real_data_dir, tmp_path):
    target = copy_data(real_data_dir, tmp_path / "d")
    (target / FILES["test_images"].name).unlink()
    with pytest.raises(DataError, match=r"lacks t10k-images-idx3-ubyte.gz.*apt-get install"):
        data.load(target)


def test_directory_with_the_wrong_files(tmp_path):
    (tmp_path / "cifar-10.tar.gz").write_bytes(b"x")
    with pytest.raises(DataError, match=r"does not hold the Fashion-MNIST files.*apt-get install"):
        data.load(tmp_path)


def test_nothing_found_offline_is_an_error_not_synthetic_data(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable")

    import pooch

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError, match=r"could not download .*network unreachable.*apt-get install"):
        data.load()


def test_environment_variable_takes_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.candidate_dirs() == [tmp_path]
    assert data.candidate_dirs("/explicit") == [data.Path("/explicit")]
    monkeypatch.delenv(data.ENV_VAR)
    assert data.candidate_dirs()[-1] == data.DEBIAN_DIR


def test_preloaded_data_is_reused_only_while_its_files_are_unchanged(tmp_path, real_data_dir, monkeypatch):
    """What a fork server's children get: the arrays verified once, never stale ones."""
    for spec in data.FILES.values():
        shutil.copy(real_data_dir / spec.name, tmp_path / spec.name)
    monkeypatch.setattr(data, "_PRELOADED", {})
    assert data.load(tmp_path) is not data.load(tmp_path)  # no preload: every load reads and verifies
    verified = data.preload(tmp_path)
    assert data.load(tmp_path) is verified
    os.utime(tmp_path / data.FILES["test_labels"].name, ns=(1, 1))  # the file changed on disk
    again = data.load(tmp_path)
    assert again is not verified and again.sha256 == verified.sha256
