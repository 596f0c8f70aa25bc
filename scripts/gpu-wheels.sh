#!/usr/bin/env bash
# The wheels the GPU session's keras step installs on an offline GPU machine (Python 3.12, x86-64
# Linux, with torch, jax and its ml_dtypes, numpy, rich and packaging already there): Keras 3.15.1
# and what it needs beyond those, no dependencies resolved. Into .wheels/ (ignored by git; carry it
# with the data: carry [".data", ".wheels"]). Needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_VERSION=${GPU_PYTHON_VERSION:-3.12}
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest .wheels \
  --python-version "$PYTHON_VERSION" --implementation cp --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  keras==3.15.1 absl-py namex h5py optree
ls -l .wheels
du -sh .wheels
