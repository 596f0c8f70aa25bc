#!/usr/bin/env bash
# framebench on an offline GPU machine: the GPU table in one call, the rest in an optional second.
# See docs/gpu.md ("an offline GPU machine").
#
#   there:  FRAMEBENCH_COMMIT=<sha> FRAMEBENCH_DIRTY=0|1 OUT=<folder that comes back> bash scripts/gpu-session.sh
#   here:   tar xzf <that folder>/gpu-session.tgz          (then commit; a second call carries it back)
#
# Steps, in priority order. The first call (GPU_SESSION_SECONDS, default 420 while a core step is
# pending) does the core ones, then whatever else fits; the second (default 240) does the rest:
#   core  env          versions, nvidia-smi
#         conformance  the conformance suite's GPU cases, torch (every mode) and JAX (both) side by side,
#                      and, beside them, one throughput-only run of each compiled cell (torch compile,
#                      JAX jit and scan) into a scratch folder that is thrown away: it fills the compile
#                      cache, so every measured run of those cells loads its compiled code
#         gpu          torch x {lenet, mlp} x {eager, compile, graph, epoch-graph} and JAX x {lenet,
#                      mlp} x {jit, scan}, fp32, seeds 0-5 (seed 0 trains all 10 epochs), interleaved
#   rest  profile      python -m impls.torch.profile: where each mode's step time goes
#         tf32         torch and JAX on the GPU with TF32 on, its own setup
#         cpu          torch and JAX on this machine's CPU (a second CPU machine)
#         absent       TensorFlow and MXNet (and any other framework not installed here): skip records
#         native       torch on the GPU fed by torchvision's DataLoader, 0 and 4 workers
#         keras        Keras 3 on JAX and on torch (keras-jax, keras-torch), every mode, fp32, seeds 0-5;
#                      Keras is pure Python: its wheel and the few it needs beyond what the machine has
#                      travel in .wheels/ (scripts/gpu-wheels.sh fetches them; carry: [".data", ".wheels"])
#   every call ends with "report": results/REPORT.md, summary.csv and the figures rendered.
# At the start it prints each pending step's estimate against the time left; a step whose estimate
# does not fit in what is left is refused in one line (the next call tries it again); a step that
# overruns its estimate is stopped at the deadline like Ctrl-C, which keeps every finished run (the
# next call goes on with --resume). After EVERY step what is finished is archived into
# $OUT/gpu-session.tgz (records, logs, step outputs) with $OUT/session.log, so a call killed at its
# limit still brings back every finished run. Finished steps leave done-<step> markers in
# results/gpu-session/<gpu>/ and their measured seconds in costs.tsv there, which later estimates use.
#
# Knobs (environment): GPU_SESSION_SECONDS (this call's budget), GPU_SESSION_EST_<step> (an
# estimate in seconds, "-" in the name as "_"), GPU_SESSION_RESULTS (default results),
# GPU_SESSION_CACHE (compile and peak caches; default $TMPDIR/framebench-cache, never archived),
# PYTHON, DATA. GPU_SESSION_STUB replaces every step's command by `bash -c "$GPU_SESSION_STUB" _ STEP`
# (tests of this script; GPU_SESSION_PID is this script's process id).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder whose files come back}
DATA=${DATA:-.data/fashion-mnist}
RESULTS=${GPU_SESSION_RESULTS:-results}
CACHE=${GPU_SESSION_CACHE:-${TMPDIR:-/tmp}/framebench-cache}
start=$(date +%s)
: "${FRAMEBENCH_COMMIT:?set FRAMEBENCH_COMMIT=<git rev-parse HEAD> (the copied tree has no .git)}"
export FRAMEBENCH_COMMIT FRAMEBENCH_DIRTY=${FRAMEBENCH_DIRTY:-1}
# A cell's six runs share one warm compile cache and one peak measurement (docs/gpu.md, "what each run
# still pays"); both live outside the tree and are never archived.
export FRAMEBENCH_COMPILE_CACHE=$CACHE/compile FRAMEBENCH_PEAK_CACHE=$CACHE/peak
export GPU_SESSION_PID=$$

[ -f "$DATA/t10k-labels-idx1-ubyte.gz" ] || { echo "error: no Fashion-MNIST in $DATA; carry it: mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .data/fashion-mnist/ (carry: [\".data\"])" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-$//')
[ -n "$gpu" ] || { echo "error: nvidia-smi sees no GPU; run this on the lent GPU machine" >&2; exit 2; }
STATE=$RESULTS/gpu-session/$gpu
mkdir -p "$STATE" "$OUT" "$CACHE"
log=$STATE/session.log

# --- the steps and their estimates (seconds on one H200, 16 cores: docs/gpu.md, "Will the first call fit") ---
CORE=(env conformance gpu)
REST=(profile tf32 cpu absent native keras)
# gpu: 72 forked runs, docs/gpu.md "Will the first call fit"; tf32 is estimated by what gpu took.
# keras: 60 runs (5 modes x 2 models x 6 seeds), started fresh (Keras has no preload), about 8-9 s each
declare -A EST=([env]=10 [conformance]=90 [gpu]=290 [profile]=45 [tf32]=290 [cpu]=240 [absent]=15
                [native]=120 [keras]=520 [report]=25)
# Matrices keep every finished run and go on with --resume, so one whose estimate does not fit still
# starts while RESUMABLE_MIN seconds are left (the longest single run, seed 0's, is well under it).
RESUMABLE=" gpu tf32 cpu native keras "
RESUMABLE_MIN=${GPU_SESSION_RESUMABLE_MIN:-60}
ARCHIVE_SECONDS=5  # kept back besides the report's estimate: the last archive
WIND_DOWN=10       # a step stopped at its deadline gets this long to write what it finished

elapsed() { echo $(( $(date +%s) - start )); }
say() { echo "[$(elapsed)s] $*" | tee -a "$log"; }
done_step() { [ -f "$STATE/done-$1" ]; }
measured() { awk -F'\t' -v s="$1" '$1 == s { t = $2 } END { if (t != "") print t }' "$STATE/costs.tsv" 2>/dev/null; }
# estimate NAME: an explicit GPU_SESSION_EST_<name>, else what this machine took for the same runs
# (tf32 repeats the gpu step's runs at another precision), else the table above.
estimate() {
  local var="GPU_SESSION_EST_${1//-/_}"
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if [ "$1" = tf32 ] && [ -n "$(measured gpu)" ]; then measured gpu; return; fi
  echo "${EST[$1]}"
}

pending=()
core_pending=0
for name in "${CORE[@]}"; do done_step "$name" || { pending+=("$name"); core_pending=1; }; done
for name in "${REST[@]}"; do done_step "$name" || pending+=("$name"); done
BUDGET=${GPU_SESSION_SECONDS:-$([ $core_pending = 1 ] && echo 420 || echo 240)}
RESERVE=$(( $(estimate report) + ARCHIVE_SECONDS + WIND_DOWN ))
left() { echo $(( BUDGET - RESERVE - $(elapsed) )); }

archive() {
  local base part parts=()
  base=$(basename "$RESULTS")
  for part in runs logs gpu-session REPORT.md summary.csv figures; do
    if [ -e "$RESULTS/$part" ]; then parts+=("$base/$part"); fi
  done
  cp "$log" "$OUT/session.log"
  tar czf "$OUT/gpu-session.tgz.part" -C "$(dirname "$RESULTS")" "${parts[@]}" 2>>"$log" \
    && mv "$OUT/gpu-session.tgz.part" "$OUT/gpu-session.tgz"
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
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible to torch"
print("cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", gpu)
EOF
}
# torch's and JAX's suites and the cache warm-up side by side: they check numbers, nothing here is
# timed, and the GPU has room for all three. Only the suites decide the step's exit status.
conformance() {
  local fw pids=() rc=0
  for fw in torch jax; do
    # the suite's GPU cases (their ids name the device); its CPU cases and the implementations' unit
    # tests (CPU and fakes) are what `nox -s tests` checks on every CPU machine
    FRAMEBENCH_FRAMEWORK=$fw "$PY" -m pytest -q -rs -p no:cacheprovider -k gpu tests/conformance \
      >"$STATE/conformance-$fw.txt" 2>&1 &
    pids+=($!)
  done
  # One throughput-only run per compiled cell, records in a scratch folder that is never archived.
  "$PY" -m bench run --data-dir "$DATA" --results "$CACHE/warm-up" --frameworks torch,jax --devices gpu \
    --modes compile,jit,scan --seeds 0 --accuracy-seeds 0 --budget 0 --start fork --quiet >"$STATE/cache-warm-up.txt" 2>&1 &
  local warm=$!
  # Background jobs ignore SIGINT: at the deadline they are stopped here, before the next step times
  # anything (bench run keeps its finished runs on SIGTERM as on Ctrl-C).
  trap 'kill -TERM "${pids[@]}" "$warm" 2>/dev/null; wait; exit 130' INT TERM
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  wait "$warm" || echo "cache warm-up: rc $? (the measured runs then compile for themselves)"
  tail -n 3 "$STATE"/conformance-*.txt
  return $rc
}
# Every run is its own process, forked from a server that imported the framework once (docs/gpu.md, "What
# each run still pays"); a framework without a fork-safe preload (Keras, absent ones) starts fresh.
# --budget 0: the fixed design (seeds 0-5 per cell, in randomized rounds), whose cost the step
# estimates above were measured for; this call's own deadline bounds it, not a race's budget.
bench() { "$PY" -m bench run --data-dir "$DATA" --results "$RESULTS" --resume --budget 0 --start fork "$@"; }
absent_frameworks() {
  "$PY" -c 'import impls; print(",".join(n for n in ("tensorflow", "mxnet", "paddle") if n in impls.registry()))'
}
# Keras and what it needs beyond this machine's Python (torch, jax, numpy, rich are here), installed
# from the carried wheels into the cache, outside the tree; a Python that already has keras uses it.
keras_site() {
  local site=$CACHE/keras-site
  export PYTHONPATH="$site:$PYTHONPATH"
  "$PY" -c 'import keras' 2>/dev/null && return 0
  compgen -G ".wheels/keras-*.whl" >/dev/null || {
    echo "error: no Keras wheels in .wheels/; on a machine with PyPI run scripts/gpu-wheels.sh, then carry .wheels" >&2
    return 2
  }
  "$PY" -m pip install --quiet --no-index --no-deps --target "$site" .wheels/*.whl
}
render() {
  "$PY" -m bench report --results "$RESULTS" --out "$RESULTS/REPORT.md" --figures "$RESULTS/figures" \
    && "$PY" -m bench report --results "$RESULTS" --format csv
}
run_step() {
  if [ -n "${GPU_SESSION_STUB:-}" ]; then bash -c "$GPU_SESSION_STUB" _ "$1"; return; fi
  case $1 in
    env) env_facts ;;
    conformance) conformance ;;
    gpu) bench --frameworks torch,jax --devices gpu --modes all ;;
    profile) "$PY" -m impls.torch.profile --device gpu --data-dir "$DATA" ;;
    tf32) bench --frameworks torch,jax --devices gpu --modes all --precision tf32 ;;
    cpu) bench --frameworks torch,jax --devices cpu --modes all ;;
    absent) bench --frameworks "$(absent_frameworks)" --devices gpu --missing skip ;;
    native) local w rc=0
            for w in 0 4; do
              bench --frameworks torch --devices gpu --modes eager,graph --input native --loader-workers $w || rc=1
            done
            return $rc ;;
    keras) keras_site && bench --frameworks keras-jax,keras-torch --devices gpu --modes all ;;
    report) render ;;
  esac
}
export PY DATA RESULTS STATE CACHE
export -f env_facts conformance bench absent_frameworks keras_site render run_step

# step NAME: refused in one line if its estimate does not fit in the time left (a matrix: if less
# than RESUMABLE_MIN is left); else run until the deadline; a marker and its cost when it finished;
# the archive refreshed in every case it ran.
step() {
  local name=$1 est t0 rc spent
  est=$(estimate "$name")
  local t; t=$(left)
  [ "$name" = report ] && t=$(( BUDGET - ARCHIVE_SECONDS - $(elapsed) ))
  [ "$t" -gt 0 ] || t=0
  if [ "$est" -gt "$t" ] && { [[ $RESUMABLE != *" $name "* ]] || [ "$t" -lt "$RESUMABLE_MIN" ]; }; then
    say "$name: refused: needs ~${est}s (estimate), ${t}s left in this call; the next call tries it"
    return 0
  fi
  if [ "$t" -lt 1 ]; then say "$name: refused: no time left in this call"; return 0; fi
  if [ "$est" -gt "$t" ]; then
    say "$name: start (~${est}s estimated, ${t}s left: the deadline keeps its finished runs, the next call goes on)"
  else
    say "$name: start (~${est}s estimated, ${t}s left)"
  fi
  t0=$(date +%s)
  # timeout signals its whole process group: the runner and its child see the Ctrl-C.
  timeout -s INT -k "$WIND_DOWN" "$t" bash -c 'run_step "$1"' _ "$name" >"$STATE/$name.txt" 2>&1
  rc=$?
  spent=$(( $(date +%s) - t0 ))
  if [ $rc -eq 124 ] || [ $rc -eq 130 ] || [ $rc -eq 137 ]; then
    say "$name: cut by the deadline after ${spent}s (rc $rc); finished runs kept, the next call goes on"
  else
    [ "$name" = report ] || { echo "$rc" >"$STATE/done-$name"; printf '%s\t%s\t%s\n' "$name" "$spent" "$rc" >>"$STATE/costs.tsv"; }
    say "$name: finished in ${spent}s (estimated ${est}s), rc $rc"
  fi
  archive
}

say "gpu-session on $gpu: budget ${BUDGET}s for this call, ${RESERVE}s of it kept for the report and the archive"
[ ${#pending[@]} -gt 0 ] || say "every step is done (markers in $STATE); rendering the report only"
at=0
for name in "${pending[@]}"; do
  est=$(estimate "$name"); at=$(( at + est ))
  note=""
  if [ $(( at + RESERVE )) -gt "$BUDGET" ]; then
    note="  (past this call: refused unless earlier steps finish sooner)"
    [[ $RESUMABLE == *" $name "* ]] && note="  (past this call: a matrix starts while ${RESUMABLE_MIN}s are left, keeps what finishes)"
  fi
  say "  plan: $(printf '%-12s ~%4ss, done by ~%4ss' "$name" "$est" "$at")$note"
done
say "  plan: $(printf '%-12s ~%4ss, at the end, in the time kept back' report "$(estimate report)")"
archive
for name in "${pending[@]}"; do step "$name"; done
step report
say "archived to \$OUT/gpu-session.tgz ($(elapsed)s of ${BUDGET}s)"
archive
exit 0
