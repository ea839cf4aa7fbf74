#!/usr/bin/env bash
# Checks the Slurm batch scripts in jobs/ without a Slurm cluster: syntax (bash -n), shellcheck
# when it is installed, the refusal to run outside Slurm, and the exit-code contract under a fake
# Slurm (fake srun and scontrol first on PATH): win's 75 (checkpointed and stopped) must requeue
# the job and end the batch script with 0; any other code must pass through without a requeue.
#
#   tests/jobs/check_scripts.sh [JOBS_DIR]      (default: the repository's jobs/)
#
# Prints every failed check and exits 1 if there was one.
# shellcheck disable=SC2015  # `[[ test ]] && pass ... || fail ...`: pass always succeeds
set -euo pipefail

jobs_dir=$(cd -- "${1:-$(dirname -- "$0")/../../jobs}" && pwd)
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok:   $*"; }

shopt -s nullglob
scripts=("$jobs_dir"/*.sbatch "$jobs_dir"/*.sh)
shopt -u nullglob
[[ ${#scripts[@]} -gt 0 ]] || {
  echo "FAIL: no *.sbatch or *.sh in $jobs_dir" >&2
  exit 1
}
for f in win_run.sbatch win_stage.sbatch common.sh; do
  [[ -f $jobs_dir/$f ]] || fail "missing $jobs_dir/$f"
done

# ---- syntax and lint ----------------------------------------------------------------------------
for s in "${scripts[@]}"; do
  if out=$(bash -n "$s" 2>&1); then pass "bash -n $(basename "$s")"; else fail "bash -n $s: $out"; fi
done
if command -v shellcheck >/dev/null; then
  for s in "${scripts[@]}"; do
    if out=$(shellcheck -x "$s" 2>&1); then
      pass "shellcheck $(basename "$s")"
    else
      fail "shellcheck $s:"$'\n'"$out"
    fi
  done
else
  echo "skip: shellcheck not installed, lint skipped"
fi
for s in "$jobs_dir"/*.sbatch; do
  for d in '--requeue' '--open-mode=append' '--signal=USR1@' '--output=' '--time=' \
    '--nodes=' '--ntasks-per-node=' '--cpus-per-task='; do
    grep -q "^#SBATCH ${d}" "$s" || fail "$(basename "$s"): no '#SBATCH ${d}...' line"
  done
done

# ---- a fake Slurm -------------------------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
mkdir -p "$tmp/bin"
# srun: records its arguments (one per line) and OMP_NUM_THREADS, then exits with FAKE_SRUN_RC if
# set, else drops its own options and runs the command (the fake win below).
cat >"$tmp/bin/srun" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" >"$FAKE_LOG/srun.args"
echo "${OMP_NUM_THREADS-unset}" >"$FAKE_LOG/srun.omp"
if [[ -n ${FAKE_SRUN_RC:-} ]]; then exit "$FAKE_SRUN_RC"; fi
while [[ $# -gt 0 && $1 == -* ]]; do shift; done
exec "$@"
EOF
# scontrol: appends its arguments to a file, exits with FAKE_SCONTROL_RC (default 0).
cat >"$tmp/bin/scontrol" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG/scontrol.calls"
exit "${FAKE_SCONTROL_RC:-0}"
EOF
# win: exits with FAKE_WIN_RC (default 0).
cat >"$tmp/bin/win" <<'EOF'
#!/usr/bin/env bash
exit "${FAKE_WIN_RC:-0}"
EOF
chmod +x "$tmp/bin/srun" "$tmp/bin/scontrol" "$tmp/bin/win"
echo '[run]' >"$tmp/deck.toml"

# run_job NAME SCRIPT ARGS...: run a batch script under the fake Slurm; sets rc, out, err and
# leaves the fakes' records in $tmp/NAME/.
run_job() {
  local name=$1 script=$2
  shift 2
  mkdir -p "$tmp/$name"
  rc=0
  (cd "$tmp" && env -u SLURM_RESTART_COUNT -u WIN_ROOT -u BUILD_DIR -u WIN_SRUN_ARGS \
    PATH="$tmp/bin:$PATH" FAKE_LOG="$tmp/$name" SLURM_JOB_ID=1 SLURM_CPUS_PER_TASK=3 \
    WIN_BIN="$tmp/bin/win" "${JOB_ENV[@]}" bash "$jobs_dir/$script" "$@") \
    >"$tmp/$name/out" 2>"$tmp/$name/err" || rc=$?
  out=$(<"$tmp/$name/out")
  err=$(<"$tmp/$name/err")
}
JOB_ENV=()
scontrol_calls() { cat "$tmp/$1/scontrol.calls" 2>/dev/null || true; }
srun_has() { grep -qxF -- "$2" "$tmp/$1/srun.args" 2>/dev/null; }
expect_rc() { # NAME WANT
  if [[ $rc -eq $2 ]]; then pass "$1: exit $rc"; else
    fail "$1: exit $rc, expected $2"$'\n'"  stdout: $out"$'\n'"  stderr: $err"
  fi
}

# ---- the guard ----------------------------------------------------------------------------------
rc=0
err=$(env -u SLURM_JOB_ID bash "$jobs_dir/win_run.sbatch" "$tmp/deck.toml" 2>&1 >/dev/null) || rc=$?
out=""
expect_rc "outside Slurm" 2
[[ $err == *"not running under Slurm (SLURM_JOB_ID is unset)"* ]] && pass "guard message" ||
  fail "guard message missing; stderr: $err"

# ---- exit codes ---------------------------------------------------------------------------------
JOB_ENV=(FAKE_SRUN_RC=75)
run_job stop75 win_run.sbatch "$tmp/deck.toml" --set wide.epochs=2
expect_rc "srun exits 75" 0
[[ $(scontrol_calls stop75) == "requeue 1" ]] && pass "75 -> scontrol requeue 1" ||
  fail "75: scontrol calls '$(scontrol_calls stop75)', expected 'requeue 1'"

JOB_ENV=(FAKE_SRUN_RC=3)
run_job fail3 win_run.sbatch "$tmp/deck.toml"
expect_rc "srun exits 3" 3
[[ -z $(scontrol_calls fail3) ]] && pass "3 -> no requeue" ||
  fail "3: scontrol was called: $(scontrol_calls fail3)"

JOB_ENV=(FAKE_SRUN_RC=0)
run_job ok0 win_run.sbatch "$tmp/deck.toml"
expect_rc "srun exits 0" 0
[[ -z $(scontrol_calls ok0) ]] && pass "0 -> no requeue" || fail "0: scontrol was called"

# Through srun to the (fake) win binary: win's own 75 requeues.
JOB_ENV=(FAKE_WIN_RC=75)
run_job win75 win_run.sbatch "$tmp/deck.toml"
expect_rc "win exits 75 through srun" 0
[[ $(scontrol_calls win75) == "requeue 1" ]] && pass "win 75 -> scontrol requeue 1" ||
  fail "win 75: scontrol calls '$(scontrol_calls win75)'"

JOB_ENV=(FAKE_SRUN_RC=75 FAKE_SCONTROL_RC=1)
run_job requeue_fails win_run.sbatch "$tmp/deck.toml"
expect_rc "75 with a failing scontrol requeue" 75

JOB_ENV=(FAKE_SRUN_RC=75 SLURM_RESTART_COUNT=5 WIN_MAX_REQUEUES=5)
run_job too_many win_run.sbatch "$tmp/deck.toml"
expect_rc "75 after WIN_MAX_REQUEUES restarts" 75
[[ -z $(scontrol_calls too_many) ]] && pass "no requeue past WIN_MAX_REQUEUES" ||
  fail "requeued past WIN_MAX_REQUEUES"

# ---- the srun command line ----------------------------------------------------------------------
for a in --kill-on-bad-exit=1 --cpus-per-task=3 --mpi=pmix "$tmp/bin/win" run "$tmp/deck.toml" \
  run.threads=3 wide.epochs=2; do
  srun_has stop75 "$a" || fail "srun arguments lack '$a': $(tr '\n' ' ' <"$tmp/stop75/srun.args")"
done
[[ $(<"$tmp/stop75/srun.omp") == 3 ]] && pass "OMP_NUM_THREADS=SLURM_CPUS_PER_TASK" ||
  fail "OMP_NUM_THREADS was '$(<"$tmp/stop75/srun.omp")', expected 3"

# ---- usage errors -------------------------------------------------------------------------------
JOB_ENV=()
run_job nodeck win_run.sbatch
expect_rc "win_run.sbatch without a deck" 2
run_job missingdeck win_run.sbatch "$tmp/nope.toml"
expect_rc "win_run.sbatch with a missing deck" 2
[[ $err == *"nope.toml"*"not found"* ]] && pass "missing deck named" || fail "stderr: $err"
JOB_ENV=(WIN_BIN="$tmp/no-such-win")
run_job nobin win_run.sbatch "$tmp/deck.toml"
expect_rc "no win executable" 2

# ---- win_stage.sbatch ---------------------------------------------------------------------------
JOB_ENV=(FAKE_SRUN_RC=0)
run_job stage_ok win_stage.sbatch narrow "$tmp/deck.toml" --set narrow.restarts=2
expect_rc "win_stage.sbatch narrow" 0
args=$(tr '\n' ' ' <"$tmp/stage_ok/srun.args" 2>/dev/null || true)
[[ $args == *" run $tmp/deck.toml "*"--stages narrow "* && $args == *"narrow.restarts=2"* ]] &&
  pass "win_stage.sbatch runs 'win run DECK ... --stages narrow'" || fail "stage srun args: $args"
JOB_ENV=(FAKE_SRUN_RC=75)
run_job stage75 win_stage.sbatch wide "$tmp/deck.toml"
expect_rc "win_stage.sbatch, srun exits 75" 0
[[ $(scontrol_calls stage75) == "requeue 1" ]] && pass "stage 75 -> scontrol requeue 1" ||
  fail "stage 75: scontrol calls '$(scontrol_calls stage75)'"
JOB_ENV=()
run_job stage_bad win_stage.sbatch widen "$tmp/deck.toml"
expect_rc "win_stage.sbatch with an unknown stage" 2
[[ $err == *"unknown stage 'widen'"*"wide narrow finetune merge eval vanilla kd"* ]] &&
  pass "unknown stage message" || fail "unknown stage message: $err"
[[ ! -e $tmp/stage_bad/srun.args ]] || fail "srun ran for an unknown stage"
run_job stage_nodeck win_stage.sbatch narrow
expect_rc "win_stage.sbatch without a deck" 2
rc=0
env -u SLURM_JOB_ID bash "$jobs_dir/win_stage.sbatch" wide "$tmp/deck.toml" >/dev/null 2>&1 || rc=$?
out="" err=""
expect_rc "win_stage.sbatch outside Slurm" 2

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
