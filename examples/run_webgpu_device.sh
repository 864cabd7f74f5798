#!/usr/bin/env bash
# Issue 7's speed bars on the GPU machine: WebGPU through wgpu over Vulkan on the NVIDIA GPU,
# against aotc's CUDA backend in the same run (examples/bench_webgpu.py). From the repo root,
# with the carry directory made by examples/prepare_webgpu_carry.sh (wheels/ and debs/):
#   bash examples/run_webgpu_device.sh             # CARRY=.carry_webgpu (else .webgpu_carry)
#   WEBGPU_SCRIPT=examples/tune_webgpu_model.py bash examples/run_webgpu_device.sh ARGS...
# Writes $OUT/adapter.txt, $OUT/bench_webgpu.log and $OUT/bench_webgpu.json; exits 3 when
# the adapter wgpu finds is not the NVIDIA GPU through Vulkan.
set -uo pipefail
CARRY=${CARRY:-.carry_webgpu}
[ -d "$CARRY" ] || CARRY=.webgpu_carry
OUT=${OUT:-/tmp/webgpu_out}
mkdir -p "$OUT"
for f in "$CARRY"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/webgpu_site \
    "$CARRY"/wheels/*.whl || exit 1
export PYTHONPATH="/tmp/webgpu_site:$PWD" PYTHONUNBUFFERED=1 XDG_RUNTIME_DIR=/tmp/xdg
mkdir -p "$XDG_RUNTIME_DIR"
if [ -z "${VK_DRIVER_FILES:-}" ]; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
               /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
    done
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}" | tee "$OUT/adapter.txt"
python3 - <<'PY' 2>&1 | tee -a "$OUT/adapter.txt"
import sys
import wgpu
adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
info = dict(adapter.info) if adapter is not None else {}
print("adapter:", info)
if adapter is not None:
    print("limits:", {k: v for k, v in adapter.limits.items() if "compute" in k})
name = " ".join(str(info.get(k, "")) for k in ("vendor", "device", "description")).lower()
sys.exit(0 if "nvidia" in name and info.get("backend_type") == "Vulkan" else 3)
PY
status=${PIPESTATUS[0]}
if [ "$status" != 0 ]; then echo "not the NVIDIA GPU through Vulkan (see $OUT/adapter.txt)"; exit 3; fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv | tee -a "$OUT/adapter.txt"
if [ -n "${WEBGPU_SCRIPT:-}" ]; then      # another script under the same setup (its own args)
    timeout 540 python3 "$WEBGPU_SCRIPT" "$@" 2>&1 | tee "$OUT/webgpu_script.log"
else
    timeout 540 python3 examples/bench_webgpu.py --json "$OUT/bench_webgpu.json" "$@" 2>&1 | tee "$OUT/bench_webgpu.log"
fi
exit "${PIPESTATUS[0]}"
