#!/usr/bin/env bash
# Checks the GPU-machine scripts on a machine without a GPU, so that the few minutes of a lent GPU
# are not spent on a broken script or an incomplete kit:
#   - bash -n and shellcheck (when installed) on tools/device_kit.sh and tools/device_check.sh;
#   - tools/bench/torch_gpu_bench.py compiles and runs (--device cpu --tiny, one step);
#   - tools/device_kit.sh builds a kit with kit.cmake under its size limit, and fails over it;
#   - tools/device_check.sh refuses: without OUTDIR (exit 2), without a GPU (exit 3, at once),
#     without the kit (exit 4, with the hint to run tools/device_kit.sh);
#   - a rehearsal of tools/device_check.sh from end to end with a fake nvidia-smi (the CUDA build
#     and test_cuda, whose GPU tests skip themselves, where nvcc is installed; else WIN_CUDA=OFF and
#     test_config) and the PyTorch peer on the CPU, in a mount namespace where the
#     system's copies of everything the kit carries (the -dev packages' headers, static and
#     link-time libraries, CMake packages, MPI's; also Google Benchmark) are hidden by overlay
#     whiteouts and CMake is told to ignore the /usr prefixes: win and a gtest binary configure,
#     build, link and run from the kit alone, which travels as its archive and is unpacked by
#     device_check.sh; test_dist runs at 2 ranks under the kit's relocated mpiexec. Then: every dependency in CMakeCache.txt is the kit's,
#     no compile or link command names /usr for them, and win's NEEDED libraries are the kit's or
#     glibc/gcc's, found without LD_LIBRARY_PATH (the kit's RPATH).
# What the rehearsal cannot show: anything that needs the GPU (test_cuda's GPU tests, the
# benchmarks), the GPU machine's own toolchain (its CMake, g++, CUDA libraries) and base system (its
# glibc must be >= what the kit's MANIFEST.txt says, 2.34 here).
# The runtime libraries (.so.N) of the hidden packages stay visible, since this machine's PyTorch
# needs them; the NEEDED check covers that gap.
#
#   tests/jobs/check_device_scripts.sh       (several minutes on two cores: it builds win)
#   DEVICE_SCRIPTS_WORK=DIR keeps the kit and build there between runs (incremental rebuilds).
#
# Prints every failed check and exits 1 if there was one.
# shellcheck disable=SC2015  # `[[ test ]] && pass ... || fail ...`: pass always succeeds
set -euo pipefail

root=$(cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok:   $*"; }
t_start=$SECONDS
elapsed() { echo "$((SECONDS - t_start)) s"; }

if [[ -n ${DEVICE_SCRIPTS_WORK:-} ]]; then
  work=$DEVICE_SCRIPTS_WORK
  mkdir -p -- "$work"
  work=$(cd -- "$work" && pwd)
else
  work=$(mktemp -d)
  trap 'rm -rf -- "$work"' EXIT
fi
kit_sh=tools/device_kit.sh
check_sh=tools/device_check.sh
bench_py=tools/bench/torch_gpu_bench.py

# ---- syntax and lint ----------------------------------------------------------------------------
for s in "$kit_sh" "$check_sh" "$0"; do
  if out=$(bash -n "$s" 2>&1); then pass "bash -n $(basename "$s")"; else fail "bash -n $s: $out"; fi
done
if command -v shellcheck >/dev/null; then
  for s in "$kit_sh" "$check_sh" "$0"; do
    if out=$(shellcheck -x "$s" 2>&1); then pass "shellcheck $(basename "$s")"; else
      fail "shellcheck $s:"$'\n'"$out"
    fi
  done
else
  echo "skip: shellcheck not installed, lint skipped"
fi

# ---- the PyTorch peer ---------------------------------------------------------------------------
py=""
for c in ${PYTHON:+"$PYTHON"} /usr/bin/python3 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then
    py=$c
    break
  fi
done
if out=$(python3 -m py_compile "$bench_py" 2>&1); then pass "py_compile $bench_py"; else
  fail "py_compile $bench_py: $out"
fi
if [[ -z $py ]]; then
  fail "no Python with torch (python3-torch; PYTHON=...): $bench_py not run"
else
  rc=0
  out=$("$py" "$bench_py" --device cpu --steps 1 --warmup 0 --tiny --out "$work/torch_tiny.txt" 2>&1) || rc=$?
  if [[ $rc -eq 0 ]] && grep -Eq '^\| resnet50 \| 2 \| eager \| [0-9.]+ \|' "$work/torch_tiny.txt" &&
    grep -Eq '^\| bert-base \| 2 \| eager \| [0-9.]+ \|' "$work/torch_tiny.txt"; then
    pass "$bench_py --tiny on the CPU: a table with both workloads ($(elapsed))"
  else
    fail "$bench_py --tiny: exit $rc, output:"$'\n'"$out"
  fi
  rc=0
  out=$("$py" "$bench_py" --device cpu --steps 1 --warmup 0 --tiny --compile on 2>&1) || rc=$?
  # torch.compile: a row per workload whatever happens (measured, failed or unavailable).
  [[ $rc -eq 0 && $(grep -c '| compile |' <<<"$out") -eq 2 ]] &&
    pass "$bench_py --compile on: a compile row per workload" ||
    fail "$bench_py --compile on: exit $rc, output:"$'\n'"$out"
  rc=0
  out=$("$py" "$bench_py" --workloads nope 2>&1) || rc=$?
  [[ $rc -eq 2 && $out == *"unknown workload"* ]] && pass "$bench_py refuses an unknown workload" ||
    fail "$bench_py --workloads nope: exit $rc: $out"
fi

# ---- the kit ------------------------------------------------------------------------------------
kit=$work/kit
rc=0
out=$(bash "$kit_sh" "$kit" 2>&1) || rc=$?
echo "$out" | tail -1
if [[ $rc -eq 0 ]]; then pass "device_kit.sh ($(elapsed))"; else fail "device_kit.sh: exit $rc:"$'\n'"$out"; fi
for f in kit.cmake MANIFEST.txt cmake/FindHDF5.cmake include/hdf5/hdf5.h include/toml++/toml.h \
  include/oneapi/dnnl/dnnl.hpp include/gtest/gtest.h include/jpeglib.h include/jconfig.h \
  include/png.h include/zlib.h lib/x86_64-linux-gnu/libdnnl.so.2 lib/x86_64-linux-gnu/libhdf5.a \
  lib/x86_64-linux-gnu/libOpenCL.so.1 lib/x86_64-linux-gnu/cmake/dnnl/dnnl-config.cmake \
  include/openmpi/mpi.h bin/mpiexec mpi_env.sh lib/x86_64-linux-gnu/libmpi.so.40 \
  lib/x86_64-linux-gnu/openmpi3/mca_btl_vader.so share/openmpi/help-mpi-api.txt; do
  [[ -e $kit/$f ]] || fail "the kit lacks $f"
done
kit_bytes=$(stat -c %s -- "$kit.tar.xz" 2>/dev/null || echo 0)
((kit_bytes > 0 && kit_bytes <= 40 * 1048576)) && pass "packed kit $((kit_bytes / 1048576)) MiB <= 40 MiB" ||
  fail "packed kit $kit_bytes bytes, limit 40 MiB"
[[ $out == *MiB* ]] && pass "device_kit.sh prints the size" || fail "device_kit.sh printed no size: $out"
rc=0
out=$(DEVICE_KIT_LIMIT_MIB=1 bash "$kit_sh" "$work/kit_small" 2>&1) || rc=$?
[[ $rc -eq 1 && $out == *"over the 1 MiB limit"* ]] && pass "device_kit.sh fails over its size limit" ||
  fail "device_kit.sh with a 1 MiB limit: exit $rc: $out"
rm -rf -- "$work/kit_small"

# ---- device_check.sh's refusals -------------------------------------------------------------------
mkdir -p "$work/bin"
cat >"$work/bin/nvidia-smi" <<'EOF'
#!/usr/bin/env bash
# A fake nvidia-smi for the rehearsal: one Hopper GPU.
case "$*" in
  -L) echo "GPU 0: Fake H100 for the rehearsal (UUID: GPU-00000000-0000-0000-0000-000000000000)" ;;
  *compute_cap*--format=csv,noheader*) echo "9.0" ;;
  *name*--format=csv,noheader*) echo "Fake H100" ;;
  *) printf 'name, compute_cap\nFake H100, 9.0\n' ;;
esac
EOF
cat >"$work/bin/nvidia-smi-broken" <<'EOF'
#!/usr/bin/env bash
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
exit 9
EOF
chmod +x "$work/bin/nvidia-smi" "$work/bin/nvidia-smi-broken"

rc=0
out=$(bash "$check_sh" 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *usage* ]] && pass "device_check.sh without OUTDIR: exit 2" || fail "no OUTDIR: exit $rc: $out"
t0=$SECONDS
rc=0
out=$(DEVICE_CHECK_NVIDIA_SMI=/nonexistent/nvidia-smi bash "$check_sh" "$work/out_nogpu" 2>&1) || rc=$?
[[ $rc -eq 3 && $out == *"no NVIDIA GPU here"* && $((SECONDS - t0)) -le 5 ]] &&
  pass "device_check.sh without nvidia-smi: exit 3 at once: $out" || fail "no nvidia-smi: exit $rc in $((SECONDS - t0)) s: $out"
rc=0
out=$(DEVICE_CHECK_NVIDIA_SMI="$work/bin/nvidia-smi-broken" bash "$check_sh" "$work/out_nogpu" 2>&1) || rc=$?
[[ $rc -eq 3 && $out == *"couldn't communicate"* ]] && pass "device_check.sh with a failing nvidia-smi: exit 3" ||
  fail "failing nvidia-smi: exit $rc: $out"
rc=0
out=$(DEVICE_CHECK_NVIDIA_SMI="$work/bin/nvidia-smi" DEVICE_KIT_DIR="$work/nokit" bash "$check_sh" "$work/out_nokit" 2>&1) || rc=$?
[[ $rc -eq 4 && $out == *"run tools/device_kit.sh on the build machine and carry build-devkit"* ]] &&
  pass "device_check.sh without the kit: exit 4 with the hint" || fail "no kit: exit $rc: $out"

# ---- the rehearsal, with the system's copies hidden ---------------------------------------------
# Packages whose files the kit replaces (or the device build must not need: Google Benchmark).
hide_pkgs=(libhdf5-dev libaec-dev libdnnl-dev libtomlplusplus-dev libgtest-dev libgmock-dev googletest
  libjpeg62-turbo-dev libjpeg-dev libpng-dev zlib1g-dev opencl-c-headers opencl-clhpp-headers
  ocl-icd-opencl-dev libbenchmark-dev libopenmpi-dev mpi-default-dev libhdf5-openmpi-dev libhdf5-mpi-dev)
ov=$work/overlay
rm -rf -- "$ov"
mkdir -p "$ov/inc/upper" "$ov/inc/work" "$ov/lib/upper" "$ov/lib/work"
hidden=0
npkgs=0
if command -v dpkg-query >/dev/null; then
  for p in "${hide_pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || continue
    npkgs=$((npkgs + 1))
    while read -r f; do
      case $f in
        /usr/include/*) up=$ov/inc/upper/${f#/usr/include/} ;;
        /usr/lib/x86_64-linux-gnu/*) up=$ov/lib/upper/${f#/usr/lib/x86_64-linux-gnu/} ;;
        *) continue ;;
      esac
      [[ -L $f || -f $f ]] || continue # directories stay (emptied)
      # Only the -dev packages' own files: the runtime libraries (.so.N, in other packages) stay
      # visible, since this machine's PyTorch links them.
      mkdir -p -- "$(dirname -- "$up")"
      mknod "$up" c 0 0 2>/dev/null && hidden=$((hidden + 1))
    done < <(dpkg -L "$p")
  done
fi
echo "rehearsal: hiding $hidden files of $npkgs installed packages; building win (several minutes) ..."

# With the CUDA toolkit here, the rehearsal is the device build itself (WIN_CUDA=ON, test_cuda,
# whose GPU tests report themselves skipped); without it, WIN_CUDA=OFF and test_config.
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  target=test_cuda
  rehearsal_cmake="-DCMAKE_IGNORE_PREFIX_PATH=/usr;/ -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF"
else
  target=test_config
  rehearsal_cmake="-DWIN_CUDA=OFF -DCMAKE_IGNORE_PREFIX_PATH=/usr;/;/usr/local -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF"
fi
echo "rehearsal: $( [[ $target == test_cuda ]] && echo "CUDA build (nvcc found)" || echo "CPU build (no nvcc)"), test target $target"
# The kit as it travels: only the archive, which device_check.sh unpacks.
ukit=$work/kit_unpacked
rm -rf -- "$ukit"
cp -- "$kit.tar.xz" "$ukit.tar.xz"
rehearsal_env=(
  DEVICE_CHECK_NVIDIA_SMI="$work/bin/nvidia-smi"
  DEVICE_KIT_DIR="$ukit"
  DEVICE_CHECK_RANKS_TARGETS=test_dist
  DEVICE_CHECK_BUILD_DIR="$work/build"
  DEVICE_CHECK_CMAKE_ARGS="$rehearsal_cmake"
  DEVICE_CHECK_TEST_TARGET="$target"
  DEVICE_CHECK_TORCH_ARGS="--device cpu --tiny --steps 1 --warmup 0"
  DEVICE_CHECK_SKIP_WIN_BENCH=1 DEVICE_CHECK_SKIP_RUNS=1 DEVICE_CHECK_SKIP_SANITIZER=1
  DEVICE_CHECK_BUDGET_S=3000 DEVICE_CHECK_CONFIGURE_S=300 DEVICE_CHECK_BUILD_S=2400
  DEVICE_CHECK_TEST_S=120 DEVICE_CHECK_BENCH_S=120
  ${py:+PYTHON="$py"}
)
rout=$work/out
rm -rf -- "$rout"
# shellcheck disable=SC2016  # expanded by the inner bash
inner='set -e
mount -t overlay overlay -o "lowerdir=/usr/include,upperdir=$1/inc/upper,workdir=$1/inc/work" /usr/include
mount -t overlay overlay -o "lowerdir=/usr/lib/x86_64-linux-gnu,upperdir=$1/lib/upper,workdir=$1/lib/work" /usr/lib/x86_64-linux-gnu
[ ! -e /usr/include/hdf5/serial/hdf5.h ] && [ ! -e /usr/include/toml++/toml.h ] || { echo "overlay did not hide the headers" >&2; exit 99; }
shift
exec "$@"'
t0=$SECONDS
rc=0
isolated=0
if [[ $hidden -gt 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  isolated=1
  unshare -m --propagation private bash -c "$inner" inner "$ov" \
    env "${rehearsal_env[@]}" bash "$check_sh" "$rout" >"$work/rehearsal.log" 2>&1 || rc=$?
else
  echo "WARNING: no mount namespace (not root, or no unshare): the system's -dev files stay" \
    "visible; only CMake's search is kept off /usr (a weaker check)" >&2
  env "${rehearsal_env[@]}" bash "$check_sh" "$rout" >"$work/rehearsal.log" 2>&1 || rc=$?
fi
echo "rehearsal: exit $rc in $((SECONDS - t0)) s (log: $work/rehearsal.log)"
if [[ $rc -eq 0 ]]; then
  pass "device_check.sh rehearsal (kit only$( ((isolated)) && echo ", system copies hidden")): exit 0"
else
  fail "device_check.sh rehearsal: exit $rc; its output:"$'\n'"$(tail -n 60 "$work/rehearsal.log")"
fi
for f in env.txt build.log "$target.xml" "$target.log" bench.txt torch_gpu.txt summary.md; do
  [[ -s $rout/$f ]] || fail "rehearsal: $f missing or empty"
done
summary=$(cat "$rout/summary.md" 2>/dev/null || true)
[[ $summary == *"# win device check: PASS"* ]] && pass "summary.md: PASS" || fail "summary.md: no PASS"
[[ $summary =~ $target:\ ([0-9]+)\ tests:\ ([0-9]+)\ passed,\ 0\ failed ]] && ((BASH_REMATCH[1] > 0)) &&
  pass "summary.md: ${BASH_REMATCH[0]}" || fail "summary.md: no $target counts with 0 failed"
[[ $summary == *"| configure | ok |"* && $summary == *"| build | ok |"* && $summary == *"| tests | ok |"* &&
  $summary == *"| torch | ok |"* ]] && pass "summary.md: phase table" || fail "summary.md: phase table incomplete"
[[ -f $ukit/kit.cmake ]] && pass "device_check.sh unpacked the kit from its archive" ||
  fail "device_check.sh did not unpack $ukit.tar.xz"
[[ $summary == *"| ranks test_dist x2 | ok |"* ]] &&
  pass "summary.md: test_dist at 2 ranks with the kit's mpiexec" ||
  fail "summary.md: no passing 2-rank test_dist; ranks.log:"$'\n'"$(tail -n 30 "$rout/ranks.log" 2>/dev/null)"
grep -Eq 'win bench --workload resnet50: (not built yet|skipped)' "$rout/bench.txt" 2>/dev/null &&
  pass "bench.txt: win bench resnet50 not built yet / skipped" || fail "bench.txt: $(cat "$rout/bench.txt" 2>/dev/null)"
grep -Eq '^\| bert-base \| 2 \| eager \| [0-9.]+ \|' "$rout/torch_gpu.txt" 2>/dev/null &&
  pass "torch_gpu.txt: PyTorch table" || fail "torch_gpu.txt: no bert-base row"
grep -q 'Fake H100' "$rout/env.txt" 2>/dev/null && grep -q 'nvcc' "$rout/env.txt" &&
  pass "env.txt: GPU and nvcc" || fail "env.txt lacks the GPU or nvcc lines"

# ---- everything came from the kit ---------------------------------------------------------------
cache=$work/build/CMakeCache.txt
not_kit=0
for v in HDF5_C_LIBRARY HDF5_INCLUDE_DIR JPEG_LIBRARY_RELEASE JPEG_INCLUDE_DIR PNG_LIBRARY_RELEASE \
  PNG_PNG_INCLUDE_DIR ZLIB_LIBRARY_RELEASE ZLIB_INCLUDE_DIR dnnl_DIR GTest_DIR tomlplusplus_DIR \
  OpenCL_LIBRARY OpenCL_INCLUDE_DIR MPI_C_HEADER_DIR MPI_mpi_LIBRARY MPIEXEC_EXECUTABLE; do
  val=$(sed -n "s/^$v:[A-Z]*=//p" "$cache" 2>/dev/null)
  [[ $val == "$ukit"/* ]] || { fail "CMakeCache: $v=$val is not in the kit"; not_kit=1; }
done
((not_kit == 0)) && pass "CMakeCache: every dependency from the kit"
if [[ -f $work/build/compile_commands.json ]]; then
  bad=$(grep -Eo '(-I|-isystem )/usr/[^ "]*' "$work/build/compile_commands.json" | grep -v /usr/local/cuda |
    sort -u || true)
  [[ -z $bad ]] && pass "compile commands: no -I/-isystem under /usr (but CUDA's)" || fail "compile commands include: $bad"
fi
links=$(find "$work/build" \( -name build.ninja -o -name link.txt \) -exec cat {} + 2>/dev/null |
  grep -Eo '(/usr/[^ ]*/lib(hdf5|dnnl|jpeg|png|z\.|sz|aec|gtest|gmock|tomlplusplus|OpenCL|mpi)[^ ]*|-l(hdf5[a-z_]*|dnnl|jpeg|png|png16|z|sz|aec|gtest|gmock|tomlplusplus|OpenCL|mpi)\b)' |
  sort -u || true)
[[ -z $links ]] && pass "link commands: the kit's libraries by their kit paths only" || fail "link commands name: $links"
win=$work/build/bin/win
if [[ -x $win ]]; then
  needed=$(readelf -d "$win" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  base_re='^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libz|ld-linux-x86-64)\.so'
  cuda_re='^lib(cudart|cublas|cublasLt|cudnn|nccl|cuda)\.so' # the GPU machine's CUDA
  for n in $needed; do
    [[ $n =~ $base_re || $n =~ $cuda_re || -e $ukit/lib/x86_64-linux-gnu/$n ]] ||
      fail "win needs $n, neither the kit's nor glibc/gcc's nor CUDA's"
  done
  pass "win NEEDED: $(echo "$needed" | tr '\n' ' ')"
  resolved=$(env -u LD_LIBRARY_PATH ldd "$win")
  for n in libdnnl.so.2 libtomlplusplus.so.3 libOpenCL.so.1 libmpi.so.40; do
    grep -q "$n => $ukit/lib/x86_64-linux-gnu/$n" <<<"$resolved" && pass "without LD_LIBRARY_PATH $n comes from the kit" ||
      fail "without LD_LIBRARY_PATH: $(grep "$n" <<<"$resolved" || echo "$n not loaded")"
  done
  rc=0
  out=$(env -u LD_LIBRARY_PATH "$win" version 2>&1) || rc=$?
  [[ $rc -eq 0 ]] && pass "win version runs: $(head -1 <<<"$out")" || fail "win version: exit $rc: $out"
else
  fail "rehearsal built no $win"
fi

echo "total $(elapsed)"
if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
