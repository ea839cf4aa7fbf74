#!/usr/bin/env bash
# All of win's GPU checking in one command, for a lent GPU machine (one H100/H200, 16 cores; cmake,
# g++, nvcc with cuBLAS/cuDNN/NCCL and PyTorch, but none of Debian's -dev packages and no network):
# device time is short, so one prepared run does everything, inside 8 minutes, and leaves its
# results as files.
#
#   tools/device_check.sh OUTDIR
#
# Needs the device kit next to the tree: run tools/device_kit.sh on the build machine and carry
# build-devkit.tar.xz (unpacked here into build-devkit when that folder is not there; tree, archive
# and data: 64 MiB together). Phases, each under `timeout` so that the whole run
# stays inside DEVICE_CHECK_BUDGET_S (default 450 s); a phase that fails or times out is recorded
# and the run goes on:
#   env        OUTDIR/env.txt: nvidia-smi -L, nvcc --version, compilers, PyTorch, where cuDNN/NCCL are
#   configure  cmake -C build-devkit/kit.cmake -DWIN_CUDA=ON (MPI from the kit, whose
#   build      mpi_env.sh is sourced first), CUDA architecture from nvidia-smi's compute
#              capability; build targets win, test_cuda and DEVICE_CHECK_RANKS_TARGETS (test_dist
#              test_app) on all cores (OUTDIR/build.log)
#   tests      build-gpu/tests/test_cuda --gtest_output=xml:OUTDIR/test_cuda.xml (OUTDIR/test_cuda.log)
#   memcheck   the GPU tests (filter *cuda*:*Cuda*) under compute-sanitizer --tool memcheck
#              (OUTDIR/memcheck.log; DEVICE_CHECK_SKIP_SANITIZER=1 skips, _SANITIZER_S caps: 90)
#   ranks      several ranks on this GPU, with the kit's mpiexec: test_dist at 2 ranks (gradient
#              sums, device communicators: ranks sharing a GPU take the host path) and test_app's
#              RunRanks.* (whole runs at 2 and 4 ranks, RunRanks.OnGpus* with run.device = cuda)
#              (OUTDIR/ranks.log; DEVICE_CHECK_SKIP_RANKS=1 skips, _RANKS_S caps: 120)
#   win bench  win bench --workload resnet50|bert-base --device cuda --precision P for P in
#              DEVICE_CHECK_PRECISIONS (bf16 fp32), for each workload that `win bench --help`
#              lists, else "not built yet"; then --profile runs (GPU time per op; bf16 twice,
#              deterministic and measured algorithms, and fp32;
#              DEVICE_CHECK_SKIP_PROFILE=1 skips them) (OUTDIR/bench.txt)
#   runs       win run of the small decks (MLP, ResNet, BERT) with run.device = "cuda", then the
#              same on this machine's CPU; both must finish (OUTDIR/runs.md: their reports;
#              OUTDIR/runs.log). Needs data/*_small carried; DEVICE_CHECK_SKIP_RUNS=1 skips them,
#              DEVICE_CHECK_RUN_DEVICES (cuda cpu) picks the devices.
#   torch      tools/bench/torch_gpu_bench.py, the PyTorch peer of G1/G2 on the same GPU: eager
#              bf16 autocast and eager fp32 without TF32 (torch.compile with
#              DEVICE_CHECK_TORCH_ARGS="--compile on"); OUTDIR/torch_gpu.txt, a markdown table;
#              OUTDIR/torch_gpu.log. DEVICE_CHECK_SKIP_TORCH=1 skips it.
# and OUTDIR/summary.md: GPU, date, phase table (status, seconds, time limit), test counts from the
# gtest XML, the benchmark tables, and win against PyTorch as ratios (tools/bench_table.py, also
# OUTDIR/table.md).
#
# Exit codes: 0 every phase that ran passed; 1 a phase failed or timed out (summary.md says which);
# 2 usage; 3 no NVIDIA GPU here (nvidia-smi missing or failing: nothing else is tried);
# 4 the device kit is missing.
#
# Settings (environment), for a rehearsal on a CPU machine (tests/jobs/check_device_scripts.sh) or a
# rerun: DEVICE_KIT_DIR (build-devkit), DEVICE_CHECK_BUILD_DIR (build-gpu), DEVICE_CHECK_NVIDIA_SMI
# (nvidia-smi), DEVICE_CHECK_CUDA_ARCH (from the GPU), DEVICE_CHECK_CMAKE_ARGS (more configure
# arguments, split at spaces; they come last, so -DWIN_CUDA=OFF wins), DEVICE_CHECK_TEST_TARGET
# (test_cuda), DEVICE_CHECK_TORCH_ARGS (more torch_gpu_bench.py arguments, e.g. --tiny),
# DEVICE_CHECK_BENCH_ARGS (win bench arguments: --steps 10 --warmup 2; a ResNet-50 step took
# seconds on an H200),
# DEVICE_CHECK_BUDGET_S (450) and the phase caps DEVICE_CHECK_CONFIGURE_S (60), _BUILD_S (210),
# _TEST_S (60), _BENCH_S (240: each win bench run gets a quarter), _RUNS_S (150, all runs); the
# PyTorch phase gets what is left. PYTHON: the Python with torch.
# DEVICE_CHECK_SKIP_WIN_BENCH=1 skips the win benchmarks that exist (a CPU rehearsal cannot run them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ $# -ne 1 || $1 == -* ]]; then
  echo "usage: tools/device_check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p -- "$1"
out=$(cd -- "$1" && pwd)

smi=${DEVICE_CHECK_NVIDIA_SMI:-nvidia-smi}
kit=${DEVICE_KIT_DIR:-$root/build-devkit}
build=${DEVICE_CHECK_BUILD_DIR:-$root/build-gpu}
test_target=${DEVICE_CHECK_TEST_TARGET:-test_cuda}
budget=${DEVICE_CHECK_BUDGET_S:-450}
read -ra extra_cmake <<<"${DEVICE_CHECK_CMAKE_ARGS:-}"
read -ra extra_torch <<<"${DEVICE_CHECK_TORCH_ARGS:-}"
read -ra extra_bench <<<"${DEVICE_CHECK_BENCH_ARGS:---steps 10 --warmup 2}"
deadline=$((SECONDS + budget))
reserve=10 # seconds kept for summary.md

# ---- preconditions: a GPU, then the kit -----------------------------------------------------------
if ! command -v "$smi" >/dev/null 2>&1; then
  echo "device_check: no NVIDIA GPU here: '$smi' not found (run this on the GPU machine)" >&2
  exit 3
fi
if ! gpu_list=$("$smi" -L 2>&1) || [[ $gpu_list != *GPU* ]]; then
  echo "device_check: no NVIDIA GPU here: '$smi -L' says: $gpu_list" >&2
  exit 3
fi
# The kit travels packed (tools/device_kit.sh): unpacked once, with Python's tarfile where this
# machine has no xz.
if [[ ! -f $kit/kit.cmake && -f $kit.tar.xz ]]; then
  echo "device_check: unpacking $kit.tar.xz"
  rm -rf -- "$kit"
  mkdir -p -- "$kit"
  if ! { command -v xz >/dev/null && tar -xJf "$kit.tar.xz" -C "$kit" --strip-components=1; }; then
    python3 - "$kit.tar.xz" "$kit" <<'EOF' || true
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        top, _, rest = m.name.partition("/")
        if rest:
            m.name = rest
            t.extract(m, sys.argv[2])
EOF
  fi
fi
if [[ ! -f $kit/kit.cmake ]]; then
  echo "device_check: no device kit at $kit (kit.cmake missing, no $kit.tar.xz): run" \
    "tools/device_kit.sh on the build machine and carry build-devkit.tar.xz" >&2
  exit 4
fi
kit=$(cd -- "$kit" && pwd)
kitlib=$kit/lib/x86_64-linux-gnu
# Open MPI from the kit (an older kit has none: then a one-rank build).
mpi=0
mpi_flag=(-DWIN_MPI=OFF)
if [[ -f $kit/mpi_env.sh && -x $kit/bin/mpiexec ]]; then
  # shellcheck source=/dev/null
  source "$kit/mpi_env.sh"
  mpi=1
  mpi_flag=()
fi
read -ra ranks_targets <<<"${DEVICE_CHECK_RANKS_TARGETS:-test_dist test_app}"
((mpi)) || ranks_targets=()

# The Python that has PyTorch (the GPU image's plain python3 does).
py=""
for c in ${PYTHON:+"$PYTHON"} python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then
    py=$c
    break
  fi
done
any_py=${py:-$(command -v python3 || true)}

# ---- phases -------------------------------------------------------------------------------------
phases=()
declare -A p_status p_secs p_limit p_log
failed=0

# phase_limit CAP: the time limit a phase starting now gets (0: no time left)
phase_limit() {
  local left=$((deadline - SECONDS - reserve))
  ((left < $1)) && { echo $((left > 0 ? left : 0)); return; }
  echo "$1"
}
# run_phase NAME LIMIT LOG CMD...: runs CMD under timeout, output appended to LOG; records status.
run_phase() {
  local name=$1 limit=$2 log=$3 rc=0 t0=$SECONDS
  shift 3
  phases+=("$name")
  p_limit[$name]=$limit
  p_log[$name]=$(basename -- "$log")
  if ((limit < 5)); then
    p_status[$name]="skipped: time budget spent"
    p_secs[$name]=0
    echo "== $name: skipped, time budget spent" | tee -a "$log"
    failed=1
    return 1
  fi
  echo "== $name (limit ${limit} s): $*" | tee -a "$log"
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  p_secs[$name]=$((SECONDS - t0))
  if ((rc == 0)); then
    p_status[$name]="ok"
  elif ((rc == 124 || rc == 137)); then
    p_status[$name]="TIMED OUT after ${limit} s"
    failed=1
  else
    p_status[$name]="FAILED (exit $rc)"
    failed=1
  fi
  echo "== $name: ${p_status[$name]} in ${p_secs[$name]} s" | tee -a "$log"
  return "$rc"
}
note_phase() { # NAME STATUS LOG: a phase that was not run
  phases+=("$1")
  p_status[$1]=$2
  p_secs[$1]=0
  p_limit[$1]=""
  p_log[$1]=$3
}

# ---- env ----------------------------------------------------------------------------------------
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cc=$("$smi" --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' ' || true)
arch=${DEVICE_CHECK_CUDA_ARCH:-${cc//./}}
arch=${arch:-90}
[[ $arch =~ ^[0-9]+$ ]] || arch=90
gpu_name=$("$smi" --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
gpu_name=${gpu_name:-$(head -1 <<<"$gpu_list")}

# cuDNN and NCCL: the toolkit folder or the system first, else PyTorch's pip wheels (nvidia.*).
cuda_args=()
ld_extra=""
pip_nvidia=""
[[ -n $py ]] && pip_nvidia=$("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null || true)
locate_cuda_lib() { # WHAT HEADER LIBNAME INCVAR LIBVAR
  local inc="" lib="" d
  for d in /usr/local/cuda/include /usr/local/cuda/targets/x86_64-linux/include /usr/include \
    /usr/include/x86_64-linux-gnu; do
    [[ -f $d/$2 ]] && { inc=$d; break; }
  done
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    if [[ -e $d/lib$3.so ]]; then lib=$d/lib$3.so; break; fi
    lib=$(find "$d" -maxdepth 1 -name "lib$3.so.[0-9]*" 2>/dev/null | sort -V | head -1)
    [[ -n $lib ]] && break
  done
  if [[ -z $inc || -z $lib ]] && [[ -n $pip_nvidia ]]; then
    local h l
    # shellcheck disable=SC2086  # one folder a line
    h=$(find $pip_nvidia -maxdepth 4 -name "$2" 2>/dev/null | head -1)
    # shellcheck disable=SC2086
    l=$(find $pip_nvidia -maxdepth 4 -name "lib$3.so*" 2>/dev/null | sort -V | head -1)
    if [[ -n $h && -n $l ]]; then
      inc=$(dirname -- "$h")
      lib=$l
    fi
  fi
  if [[ -n $inc && -n $lib ]]; then
    cuda_args+=("-D$4=$inc" "-D$5=$lib")
    [[ :$ld_extra: == *":$(dirname -- "$lib"):"* ]] || ld_extra+=":$(dirname -- "$lib")"
    echo "$1: $inc/$2, $lib"
  else
    echo "$1: NOT FOUND ($2 / lib$3.so) in the CUDA toolkit, the system or PyTorch's wheels"
  fi
}

{
  echo "# device_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null || echo '?')"
  echo "tree: $root ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
  echo
  echo "\$ $smi -L"
  echo "$gpu_list"
  echo
  "$smi" --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  echo "CUDA architecture for the build: $arch"
  echo
  echo "\$ nvcc --version"
  "$nvcc" --version 2>&1 || echo "nvcc: not found"
  echo
  echo "cmake: $(cmake --version 2>&1 | head -1)"
  echo "c++: $(c++ --version 2>&1 | head -1)"
  echo "glibc: $(ldd --version 2>&1 | head -1)"
  echo "os: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
  echo "cpus: $(nproc)"
  if [[ -n $py ]]; then
    echo "python: $py: $("$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1)"
  else
    echo "python: no Python with PyTorch found (PYTHON, python3, /usr/bin/python3)"
  fi
  locate_cuda_lib cuDNN cudnn.h cudnn WIN_CUDNN_INCLUDE WIN_CUDNN_LIB
  locate_cuda_lib NCCL nccl.h nccl WIN_NCCL_INCLUDE WIN_NCCL_LIB
  echo
  echo "kit: $kit"
  sed -n '1,/^Files:/p' "$kit/MANIFEST.txt" 2>/dev/null | sed '$d' || echo "(no MANIFEST.txt)"
} >"$out/env.txt" 2>&1
# locate_cuda_lib ran in the { } above, in this shell: cuda_args and ld_extra are set.
kenv=(env "LD_LIBRARY_PATH=$kitlib$ld_extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

# ---- configure and build ------------------------------------------------------------------------
: >"$out/build.log"
gen=()
[[ ! -f $build/CMakeCache.txt ]] && command -v ninja >/dev/null && gen=(-G Ninja)
built=0
if run_phase configure "$(phase_limit "${DEVICE_CHECK_CONFIGURE_S:-60}")" "$out/build.log" \
  "${kenv[@]}" cmake -S "$root" -B "$build" "${gen[@]}" -C "$kit/kit.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DWIN_CUDA=ON "${mpi_flag[@]}" -DWIN_TESTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cuda_args[@]}" "${extra_cmake[@]}"; then
  if run_phase build "$(phase_limit "${DEVICE_CHECK_BUILD_S:-210}")" "$out/build.log" \
    "${kenv[@]}" cmake --build "$build" -j "$(nproc)" --target win "$test_target" \
    "${ranks_targets[@]}"; then
    built=1
  fi
else
  note_phase build "not run: configure failed" build.log
fi
missing_libs=""
if [[ -x $build/bin/win ]]; then
  missing_libs=$("${kenv[@]}" ldd "$build/bin/win" 2>&1 | grep 'not found' || true)
fi

# ---- tests --------------------------------------------------------------------------------------
xml=$out/$test_target.xml
rm -f -- "$xml"
test_bin=$build/tests/$test_target
if ((built)) && [[ -x $test_bin ]]; then
  run_phase tests "$(phase_limit "${DEVICE_CHECK_TEST_S:-60}")" "$out/$test_target.log" \
    "${kenv[@]}" "$test_bin" --gtest_output="xml:$xml" || true
else
  note_phase tests "not run: $test_target not built" "$test_target.log"
fi

# ---- memory checking ----------------------------------------------------------------------------
# The GPU parity and fixture tests again under compute-sanitizer's memcheck: an out-of-bounds
# read that happens to land in mapped memory passes a test but not this (it is how the crossed
# batch strides of cuda_gemm were found). CUDA API errors are not reported: CudaCheck.* provokes
# one on purpose.
if ((built)) && [[ -x $test_bin && -z ${DEVICE_CHECK_SKIP_SANITIZER:-} ]]; then
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [[ -x $sanitizer ]]; then
    run_phase memcheck "$(phase_limit "${DEVICE_CHECK_SANITIZER_S:-90}")" "$out/memcheck.log" \
      "${kenv[@]}" "$sanitizer" --tool memcheck --report-api-errors no --error-exitcode 9 \
      --print-limit 20 "$test_bin" \
      --gtest_filter='*cuda*:*Cuda*' || true
  else
    note_phase memcheck "not run: no compute-sanitizer" memcheck.log
  fi
fi

# ---- several ranks ------------------------------------------------------------------------------
# With the kit's Open MPI: the multi-rank tests on this one GPU. NCCL needs a GPU per rank, so
# here the ranks share the GPU and take the host-staged path; the NCCL tests report themselves
# skipped with that reason.
if ((built && mpi)) && [[ -z ${DEVICE_CHECK_SKIP_RANKS:-} ]]; then
  ranks_cap=${DEVICE_CHECK_RANKS_S:-120}
  ranks_t0=$SECONDS
  : >"$out/ranks.log"
  for t in "${ranks_targets[@]}"; do
    left_ranks=$((ranks_cap - (SECONDS - ranks_t0)))
    ((left_ranks < 5)) && left_ranks=0
    case $t in
      test_dist)
        run_phase "ranks test_dist x2" "$(phase_limit "$left_ranks")" "$out/ranks.log" \
          "${kenv[@]}" "$kit/bin/mpiexec" -n 2 --oversubscribe --allow-run-as-root \
          "$build/tests/test_dist" || true
        ;;
      test_app)
        run_phase "ranks RunRanks" "$(phase_limit "$left_ranks")" "$out/ranks.log" \
          "${kenv[@]}" "$build/tests/test_app" --gtest_filter='RunRanks.*' || true
        ;;
      *) note_phase "ranks $t" "unknown target in DEVICE_CHECK_RANKS_TARGETS" ranks.log ;;
    esac
  done
elif ((built)); then
  note_phase ranks "$( ((mpi)) && echo "skipped (DEVICE_CHECK_SKIP_RANKS)" || echo "not run: the kit has no MPI")" ranks.log
fi

# ---- win bench on the GPU -----------------------------------------------------------------------
: >"$out/bench.txt"
if [[ -x $build/bin/win ]]; then
  help=$("${kenv[@]}" "$build/bin/win" bench --help 2>&1 || true)
  bench_cap=${DEVICE_CHECK_BENCH_S:-240}
  for w in resnet50 bert-base; do
    if ! grep -qw -- "$w" <<<"$help"; then
      echo "win bench --workload $w: not built yet (win bench --help does not list it)" >>"$out/bench.txt"
      note_phase "win bench $w" "not built yet" bench.txt
    elif [[ -n ${DEVICE_CHECK_SKIP_WIN_BENCH:-} ]]; then
      echo "win bench --workload $w: skipped (DEVICE_CHECK_SKIP_WIN_BENCH)" >>"$out/bench.txt"
      note_phase "win bench $w" "skipped (DEVICE_CHECK_SKIP_WIN_BENCH)" bench.txt
    else
      for prec in ${DEVICE_CHECK_PRECISIONS:-bf16 fp32}; do
        run_phase "win bench $w $prec" "$(phase_limit $((bench_cap / 4)))" "$out/bench.txt" \
          "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda --precision "$prec" \
          "${extra_bench[@]}" || true
      done
      # Attention composed of bf16 tensor-core products against the fused fp32 kernels.
      if [[ $w == bert-base ]] && grep -q -- --composed-attention <<<"$help"; then
        run_phase "win bench $w bf16 composed attention" "$(phase_limit $((bench_cap / 4)))" \
          "$out/bench.txt" "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda \
          --precision bf16 --composed-attention "${extra_bench[@]}" || true
      fi
      # bf16 activations (convolutional models only; experimental until measured here), with
      # its profile.
      if [[ $w == resnet50 ]] && grep -q -- --bf16-activations <<<"$help"; then
        run_phase "win bench $w bf16 activations" "$(phase_limit $((bench_cap / 4)))" \
          "$out/bench.txt" "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda \
          --precision bf16 --bf16-activations "${extra_bench[@]}" || true
        [[ -n ${DEVICE_CHECK_SKIP_PROFILE:-} ]] ||
          run_phase "win bench $w bf16 activations profile" "$(phase_limit $((bench_cap / 4)))" \
            "$out/bench.txt" "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda \
            --precision bf16 --bf16-activations --profile --steps 3 --warmup 1 || true
      fi
      # Where the GPU time goes (per-op CUDA events), a few steps in bf16 with deterministic
      # algorithms (the default) and with measured ones, and in fp32.
      if [[ -z ${DEVICE_CHECK_SKIP_PROFILE:-} ]]; then
        run_phase "win bench $w profile nondeterministic" "$(phase_limit $((bench_cap / 4)))" \
          "$out/bench.txt" "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda \
          --precision bf16 --profile --nondeterministic --steps 3 --warmup 1 || true
        run_phase "win bench $w profile" "$(phase_limit $((bench_cap / 4)))" "$out/bench.txt" \
          "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda --precision bf16 \
          --profile --steps 3 --warmup 1 || true
        run_phase "win bench $w profile fp32" "$(phase_limit $((bench_cap / 4)))" \
          "$out/bench.txt" "${kenv[@]}" "$build/bin/win" bench --workload "$w" --device cuda \
          --precision fp32 --profile --steps 2 --warmup 1 || true
      fi
    fi
  done
else
  echo "win was not built: no win benchmarks" >>"$out/bench.txt"
  note_phase "win bench" "not run: win not built" bench.txt
fi

# ---- whole runs on the GPU ----------------------------------------------------------------------
# The small decks end to end with run.device = "cuda", each then on this machine's CPU for
# comparison (same deck, same seed): both must finish; their reports go to OUTDIR/runs.md. The
# datasets are the ones tools/fetch_data.sh small makes (carry data/*_small).
: >"$out/runs.md"
if [[ -x $build/bin/win && -z ${DEVICE_CHECK_SKIP_RUNS:-} ]]; then
  runs_cap=${DEVICE_CHECK_RUNS_S:-150}
  runs_t0=$SECONDS
  for deck in fashion_mnist_mlp_small fashion_mnist_resnet_small sotu_bert_small; do
    data_dir=data/fashion_mnist_small
    [[ $deck == sotu* ]] && data_dir=data/sotu_small
    if [[ ! -d $data_dir ]]; then
      echo "## $deck: not run ($data_dir missing: carry it)" >>"$out/runs.md"
      note_phase "run $deck" "not run: $data_dir missing" runs.md
      continue
    fi
    for dev in ${DEVICE_CHECK_RUN_DEVICES:-cuda cpu}; do
      left_runs=$((runs_cap - (SECONDS - runs_t0)))
      ((left_runs < 5)) && left_runs=0
      rdir=$build/runs-$dev
      rm -rf -- "${rdir:?}/$deck"
      run_phase "run $deck $dev" "$(phase_limit "$left_runs")" "$out/runs.log" \
        "${kenv[@]}" "$build/bin/win" run "inputs/$deck.toml" --set "run.dir=$rdir" \
        --set "run.device=$dev" || true
      {
        echo "## $deck on $dev: ${p_status["run $deck $dev"]} in ${p_secs["run $deck $dev"]} s"
        echo
        if [[ -f $rdir/$deck/report.md ]]; then cat "$rdir/$deck/report.md"; else echo "(no report.md)"; fi
        echo
      } >>"$out/runs.md"
    done
  done
else
  echo "whole runs skipped (win not built, or DEVICE_CHECK_SKIP_RUNS)" >>"$out/runs.md"
fi

# ---- the PyTorch peer ---------------------------------------------------------------------------
: >"$out/torch_gpu.log"
if [[ -n ${DEVICE_CHECK_SKIP_TORCH:-} ]]; then
  echo "skipped (DEVICE_CHECK_SKIP_TORCH)" >"$out/torch_gpu.txt"
  note_phase torch "skipped (DEVICE_CHECK_SKIP_TORCH)" torch_gpu.log
elif [[ -n $py ]]; then
  lim=$(phase_limit 100000)
  rm -f -- "$out/torch_gpu.txt"
  run_phase torch "$lim" "$out/torch_gpu.log" \
    "$py" tools/bench/torch_gpu_bench.py --device cuda --fp32 --compile off --out "$out/torch_gpu.txt" \
    --budget-s $((lim > 20 ? lim - 15 : 5)) "${extra_torch[@]}" || true
else
  echo "no Python with PyTorch found: no PyTorch peer" >"$out/torch_gpu.txt"
  note_phase torch "not run: no PyTorch" torch_gpu.log
  failed=1
fi

# ---- summary ------------------------------------------------------------------------------------
tests_line="not run"
if [[ -f $xml && -n $any_py ]]; then
  tests_line=$("$any_py" - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
passed = failed = skipped = disabled = 0
bad = []
for tc in root.iter("testcase"):
    name = "%s.%s" % (tc.get("classname"), tc.get("name"))
    if tc.find("failure") is not None or tc.find("error") is not None:
        failed += 1
        bad.append(name)
    elif tc.get("result") == "skipped" or tc.find("skipped") is not None:
        skipped += 1
    elif tc.get("status") == "notrun" or tc.get("result") == "suppressed":
        disabled += 1
    else:
        passed += 1
print("%d tests: %d passed, %d failed, %d skipped, %d disabled%s" % (
    passed + failed + skipped + disabled, passed, failed, skipped, disabled,
    ("; failed: " + ", ".join(bad)) if bad else ""))
EOF
  ) || tests_line="the XML could not be read"
  [[ $tests_line == *", 0 failed"* ]] || failed=1
elif [[ ${p_status[tests]:-} == ok || ${p_status[tests]:-} == FAILED* || ${p_status[tests]:-} == TIMED* ]]; then
  tests_line="no XML written (the test binary crashed or was stopped)"
  failed=1
fi

{
  echo "# win device check: $( ((failed)) && echo FAIL || echo PASS)"
  echo
  echo "- GPU: $gpu_name (compute capability ${cc:-?}; built for sm_$arch)"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $((SECONDS)) s in all, budget $budget s"
  echo "- tree: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no git')"
  echo "- build: $( ((built)) && echo "ok ($build)" || echo "FAILED or not run (build.log)")"
  if [[ -n $missing_libs ]]; then
    echo "- win's libraries not found at run time:"
    while read -r line; do echo "    $line"; done <<<"$missing_libs"
  fi
  echo "- $test_target: $tests_line"
  echo
  echo "| phase | status | seconds | limit (s) | log |"
  echo "| --- | --- | --- | --- | --- |"
  for ph in "${phases[@]}"; do
    echo "| $ph | ${p_status[$ph]} | ${p_secs[$ph]} | ${p_limit[$ph]} | ${p_log[$ph]} |"
  done
  echo
  echo "## win bench (GPU)"
  echo
  echo '```'
  cat "$out/bench.txt"
  echo '```'
  echo
  echo "## Whole runs (GPU, then CPU)"
  echo
  grep -E '^## ' "$out/runs.md" 2>/dev/null || echo "(none)"
  echo
  echo "## PyTorch peer"
  echo
  if [[ -s $out/torch_gpu.txt ]]; then cat "$out/torch_gpu.txt"; else echo "(no table: see torch_gpu.log)"; fi
  echo
  echo "## win against PyTorch (tools/bench_table.py)"
  echo
  if [[ -s $out/torch_gpu.txt && -s $out/bench.txt ]] &&
    python3 "$root/tools/bench_table.py" "$out" >"$out/table.md" 2>&1; then
    cat "$out/table.md"
  else
    echo "(no table: $(cat "$out/table.md" 2>/dev/null || echo 'no bench.txt or torch_gpu.txt'))"
  fi
  if [[ ${p_status[build]:-ok} != ok ]]; then
    echo
    echo "## Build log (last 40 lines)"
    echo
    echo '```'
    tail -n 40 "$out/build.log"
    echo '```'
  fi
} >"$out/summary.md"

cat "$out/summary.md"
exit "$failed"
