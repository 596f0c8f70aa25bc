#!/usr/bin/env bash
# One call of the device tool on the lent GPU machine: measure what is not measured yet, within a
# deadline, and hand everything back as one archive. See README, "Measuring on a GPU machine".
#
#   there:  FRAMEBENCH_COMMIT=<sha> FRAMEBENCH_DIRTY=0|1 bash scripts/gpu-session.sh
#   here:   tar xzf <files_at>/gpu-session.tgz      (then commit; the next call carries it back)
#
# Steps, in priority order; each one that finishes leaves a marker in results/gpu-session/<gpu>/,
# so the next call (which carries the extracted archive back in the tree) goes on with the rest:
#   env            versions, nvidia-smi
#   conformance    the torch suite on the GPU, every mode (the acceptance check), then JAX's
#   torch-gpu      torch x {lenet, mlp} x every mode x seeds 0-5 (0-2 train all 10 epochs), fp32
#   profile        python -m impls.torch.profile: where each mode's step time goes
#   jax-gpu        the same matrix for JAX (jit, scan)
#   tf32           torch and JAX on the GPU with TF32 on, its own setup
#   cpu            torch and JAX on this machine's CPU (a second CPU machine)
#   absent         TensorFlow and MXNet on the GPU: skipped records saying what to install
#   native         torch on the GPU fed by torchvision's DataLoader (pinned memory), 0 and 4 workers
# The runs use --resume, so a matrix cut by the deadline continues where it stopped; the deadline
# (GPU_SESSION_SECONDS, default 540, under the tool's 600 s; less for a last call when the device
# budget left is shorter) interrupts a step like Ctrl-C, which
# keeps every finished run. The report is rendered and the archive written in the time kept back.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder whose files come back (the device tool sets it)}
DATA=${DATA:-.data/fashion-mnist}
BUDGET=${GPU_SESSION_SECONDS:-540}
KEEP=${GPU_SESSION_KEEP:-60}  # seconds kept back for the report and the archive
start=$(date +%s)
: "${FRAMEBENCH_COMMIT:?set FRAMEBENCH_COMMIT=<git rev-parse HEAD> (the copied tree has no .git)}"
export FRAMEBENCH_COMMIT FRAMEBENCH_DIRTY=${FRAMEBENCH_DIRTY:-1}

[ -f "$DATA/t10k-labels-idx1-ubyte.gz" ] || { echo "error: no Fashion-MNIST in $DATA; carry it: mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .data/fashion-mnist/ (carry: [\".data\"])" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-$//')
[ -n "$gpu" ] || { echo "error: nvidia-smi sees no GPU; run this on the lent GPU machine" >&2; exit 2; }
STATE=results/gpu-session/$gpu
mkdir -p "$STATE"
log=$STATE/session.log

left() { echo $(( BUDGET - KEEP - ($(date +%s) - start) )); }
say() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$log"; }

# step NAME COMMAND...: run unless done, within the time left; marker only when it finished.
step() {
  local name=$1; shift
  if [ -f "$STATE/done-$name" ]; then say "$name: done in an earlier call"; return 0; fi
  local t; t=$(left)
  if [ "$t" -lt 20 ]; then say "$name: no time left in this call"; return 0; fi
  say "$name: start (${t}s left)"
  # timeout signals its whole process group: the runner and its child see the Ctrl-C.
  timeout -s INT -k 30 "$t" bash -c '"$@"' _ "$@" >"$STATE/$name.txt" 2>&1
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 130 ] || [ $rc -eq 137 ]; then
    say "$name: cut by the deadline (rc $rc); the next call goes on"; return 0
  fi
  echo "$rc" >"$STATE/done-$name"
  say "$name: finished, rc $rc"
}

env_facts() {
  nvidia-smi
  "$PY" - <<'EOF'
import importlib, platform, sys
print("python", sys.version.split()[0], platform.platform())
for name in ("torch", "torchvision", "triton", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "grain"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:  # noqa: BLE001
        print(name, "unavailable:", type(exc).__name__, exc)
import torch
print("cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name(0))
EOF
}
conformance() {
  local rc=0
  for fw in torch jax; do
    echo "== $fw"
    FRAMEBENCH_FRAMEWORK=$fw "$PY" -m pytest -q -rs -p no:cacheprovider tests/conformance "impls/$fw" || rc=1
  done
  return $rc
}
bench() { "$PY" -m bench run --data-dir "$DATA" --results results --resume "$@"; }
export PY DATA
export -f env_facts conformance bench

step env env_facts
step conformance conformance
step torch-gpu bench --frameworks torch --devices gpu --modes all --accuracy-seeds 3
step profile "$PY" -m impls.torch.profile --device gpu --data-dir "$DATA"
step jax-gpu bench --frameworks jax --devices gpu --modes all --accuracy-seeds 3
step tf32 bench --frameworks torch,jax --devices gpu --modes all --precision tf32
step cpu bench --frameworks torch,jax --devices cpu --modes all
step absent bench --frameworks tensorflow,mxnet --devices gpu --missing skip
step native bench --frameworks torch --devices gpu --modes eager,graph --input native --loader-workers 0
step native-4 bench --frameworks torch --devices gpu --modes eager,graph --input native --loader-workers 4

say "report"
timeout 120 "$PY" -m bench report >>"$log" 2>&1 || say "report failed (see session.log)"
timeout 60 "$PY" -m bench report --format csv >>"$log" 2>&1 || true
tar czf "$OUT/gpu-session.tgz" results/runs results/REPORT.md results/summary.csv results/figures results/gpu-session
cp "$log" "$OUT/session.log"
say "archived to \$OUT/gpu-session.tgz"
