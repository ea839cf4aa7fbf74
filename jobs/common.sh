# shellcheck shell=bash
# jobs/common.sh: the logic that jobs/win_run.sbatch and jobs/win_stage.sbatch share. It is
# sourced, not run: the refusal to run outside Slurm, the environment of the ranks, the srun
# launch, and what an exit code means for the job (75 = win checkpointed on SIGUSR1 and stopped:
# requeue the job so it resumes; anything else non-zero is a real failure and is passed on).
#
# Settings, all optional, taken from the environment of `sbatch` (sbatch exports it by default):
#   WIN_ROOT          the repository; the ranks run there, so the decks' relative paths (data/...,
#                     runs/...) mean what they mean for tools/run.sh. Default: the parent of jobs/.
#   WIN_BIN           the win executable. Default: $WIN_ROOT/${BUILD_DIR:-build}/bin/win, where
#                     tools/build.sh puts it.
#   WIN_SRUN_MPI      srun's --mpi plugin (default pmix; pmi2 also works; set it empty to use the
#                     cluster's MpiDefault). Without one, srun starts N unrelated one-rank copies,
#                     which win refuses.
#   WIN_SRUN_ARGS     more srun options, split on spaces, e.g. "--cpu-bind=cores".
#   WIN_MAX_REQUEUES  stop requeueing after this many restarts (SLURM_RESTART_COUNT); default 100.
#                     A guard against a loop, e.g. a --time shorter than the --signal lead.

# ---- environment knobs (uncomment what your site needs) -----------------------------------------
# HDF5 takes flock()/fcntl locks on the files it opens; Lustre and NFS mounts without locking make
# every open fail ("unable to lock file"). Checkpoints are still atomic (temp name + rename).
# export HDF5_USE_FILE_LOCKING=FALSE
# NCCL (CUDA backend): print warnings (INFO for the chosen transports and rings when debugging).
# export NCCL_DEBUG=WARN
# NCCL: the network interface(s) for its bootstrap and socket transport, e.g. ib0 or eth0.
# export NCCL_SOCKET_IFNAME=ib0
# NCCL: which InfiniBand HCAs (and ports) to use, e.g. mlx5_0:1,mlx5_1:1.
# export NCCL_IB_HCA=mlx5_0
# OpenMP (oneDNN's CPU threads): keep each rank's threads on the cores srun gave it.
# export OMP_PROC_BIND=close OMP_PLACES=cores
# --------------------------------------------------------------------------------------------------

WIN_JOBS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WIN_ROOT=${WIN_ROOT:-$(dirname -- "$WIN_JOBS_DIR")}
WIN_STAGES=(wide narrow finetune merge eval vanilla kd)

# win_job_error SCRIPT MESSAGE...: a usage or setup error of the job itself (exit 2, like win).
win_job_error() {
  local script=$1
  shift
  echo "$script: error: $*" >&2
  exit 2
}

# win_require_slurm SCRIPT USAGE: refuse to run outside a Slurm allocation.
win_require_slurm() {
  if [[ -z ${SLURM_JOB_ID:-} ]]; then
    echo "$1: error: not running under Slurm (SLURM_JOB_ID is unset)." >&2
    echo "$1: submit it with: $2" >&2
    echo "$1: without Slurm, run win directly: tools/run.sh DECK.toml, or" \
      "mpiexec -n N build/bin/win run DECK.toml" >&2
    exit 2
  fi
}

# win_check_stage SCRIPT STAGE: STAGE must be one of win's stages.
win_check_stage() {
  local s
  for s in "${WIN_STAGES[@]}"; do
    [[ $2 == "$s" ]] && return 0
  done
  win_job_error "$1" "unknown stage '$2'; expected one of: ${WIN_STAGES[*]}"
}

# win_launch SCRIPT DECK [WIN_RUN_ARGS...]: srun `win run DECK` on every task of the job, then
# exit the batch script with the job's verdict (win_finish). Never returns.
win_launch() {
  local script=$1 deck=$2
  shift 2
  [[ -f $deck ]] || win_job_error "$script" "deck '$deck' not found (relative paths are taken" \
    "from the submission directory, $PWD)"
  deck=$(realpath -- "$deck")
  [[ -d $WIN_ROOT ]] || win_job_error "$script" "WIN_ROOT '$WIN_ROOT' is not a directory"
  local build=${BUILD_DIR:-build}
  [[ $build == /* ]] || build=$WIN_ROOT/$build
  local bin=${WIN_BIN:-$build/bin/win}
  [[ -x $bin ]] || win_job_error "$script" "no win executable at '$bin': build it" \
    "(tools/build.sh) or set WIN_BIN"
  command -v srun >/dev/null || win_job_error "$script" "srun not found on PATH"

  # One rank per task, SLURM_CPUS_PER_TASK threads each (1 when sbatch had no -c). srun no
  # longer inherits -c from sbatch (Slurm >= 22.05), so it is passed on explicitly.
  local threads=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$threads
  local -a srun_args=(--kill-on-bad-exit=1 "--cpus-per-task=$threads")
  local mpi=${WIN_SRUN_MPI-pmix}
  [[ -z $mpi ]] || srun_args+=("--mpi=$mpi")
  local -a extra=()
  read -r -a extra <<<"${WIN_SRUN_ARGS:-}"
  srun_args+=("${extra[@]}")
  # run.threads first, so that a --set run.threads=... of the caller still wins.
  local -a cmd=(srun "${srun_args[@]}" "$bin" run "$deck" --set "run.threads=$threads" "$@")

  cd -- "$WIN_ROOT" || win_job_error "$script" "cannot cd to WIN_ROOT '$WIN_ROOT'"
  echo "$script: job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on" \
    "${SLURM_JOB_NUM_NODES:-?} node(s), ${SLURM_NTASKS:-?} task(s) x $threads thread(s)," \
    "in $PWD, $(date '+%F %T')"
  printf '%s: ' "$script"
  printf '%q ' "${cmd[@]}"
  echo
  # --kill-on-bad-exit=1: a rank that dies takes the others down instead of leaving them blocked
  # in a collective. It also fires on exit 75, but only after every rank reached the collective
  # stop and checkpointed; the SIGTERM that Slurm then sends the others is caught by win's stop
  # handler, so they still exit 75 (srun reports a signal-killed task over any exit code).
  local rc=0
  "${cmd[@]}" || rc=$?
  win_finish "$script" "$rc"
}

# win_finish SCRIPT RC: exit 0 on success; on 75 requeue the job and exit 0 (a requeued job is not
# a failed one); otherwise exit RC, so Slurm records the failure with win's exit code.
win_finish() {
  local script=$1 rc=$2
  echo "$script: win exited with code $rc at $(date '+%F %T')"
  if [[ $rc -ne 75 ]]; then
    exit "$rc"
  fi
  local max=${WIN_MAX_REQUEUES:-100} restarts=${SLURM_RESTART_COUNT:-0}
  [[ $max =~ ^[0-9]+$ ]] || win_job_error "$script" "WIN_MAX_REQUEUES='$max' is not a number"
  [[ $restarts =~ ^[0-9]+$ ]] || restarts=0
  if ((restarts >= max)); then
    echo "$script: checkpointed and stopped, but the job was already restarted $restarts time(s)" \
      "(WIN_MAX_REQUEUES=$max): not requeueing; resubmit to continue" >&2
    exit 75
  fi
  if ! scontrol requeue "$SLURM_JOB_ID"; then
    echo "$script: checkpointed and stopped, but 'scontrol requeue $SLURM_JOB_ID' failed (was the" \
      "job submitted with --requeue?); resubmit to continue from the checkpoint" >&2
    exit 75
  fi
  echo "$script: checkpointed and stopped; job $SLURM_JOB_ID requeued, it resumes from the newest" \
    "checkpoint"
  exit 0
}
