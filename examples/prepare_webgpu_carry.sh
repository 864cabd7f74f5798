#!/usr/bin/env bash
# Fills a carry directory (default .webgpu_carry/, gitignored) with what the GPU machine lacks to
# run WebGPU through wgpu over Vulkan (examples/run_webgpu_device.sh): CPython 3.12 wheels of
# wgpu and its needs, and Debian's Vulkan loader and glvnd libraries (amd64). About 4.5 MB.
#   bash examples/prepare_webgpu_carry.sh [DIR]
set -euo pipefail
DIR=${1:-.webgpu_carry}
mkdir -p "$DIR/wheels" "$DIR/debs" /tmp/amd64/partial
PY=${PYTHON:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DIR/wheels" wgpu==0.32.0 cffi==2.1.1 pycparser==3.12 rendercanvas==2.7.2
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -q >/dev/null
(cd "$DIR/debs" && apt-get $o download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0)
du -sh "$DIR"
