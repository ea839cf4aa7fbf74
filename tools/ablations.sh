#!/usr/bin/env bash
# The ablations behind the README's tables, on validation data (data.test unset: eval scores the
# validation split), three seeds each, through tools/experiments.py. WIN-only settings reuse the
# base setting's teacher (same seed) and run only narrow, finetune, merge and eval.
#   tools/ablations.sh mlp|resnet [SEEDS]       (the README's tables: mlp 0,1,2; resnet 0)
# Results accumulate in runs/experiments/results.csv; `tools/experiments.py table` prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:?usage: tools/ablations.sh mlp|resnet [SEEDS]}
SEEDS=${2:-0,1,2}
X="tools/experiments.py run"
WINONLY="--teacher-from base --stages narrow,finetune,merge,eval"

case "$WHAT" in
mlp)
  D=inputs/fashion_mnist_mlp.toml
  # The deck as it was before these ablations chose its defaults (free bridges, KD at T = 4);
  # later --set options win over these.
  X="tools/experiments.py run --set narrow.bridge_mode=free --set kd.kd_temperature=4.0"
  $X $D --setting base --seeds "$SEEDS"
  # Bridge / thin-block initialisation (the paper's Assumption 3.4 against random draws).
  $X $D --setting init_random $WINONLY --seeds "$SEEDS" --set narrow.bridge_init=random
  $X $D --setting init_orthogonal $WINONLY --seeds "$SEEDS" --set narrow.bridge_init=orthogonal
  # Train the whole prefix or only the newest block.
  $X $D --setting newest_block_only $WINONLY --seeds "$SEEDS" --set narrow.train_prefix=false
  # Per-block budget at the same total: growing linearly (59 x i steps), and the split of the
  # 10-epoch budget between imitation and fine-tuning.
  $X $D --setting budget_linear $WINONLY --seeds "$SEEDS" --set narrow.budget=linear \
    --set narrow.steps_per_block=59
  $X $D --setting narrow2_finetune8 $WINONLY --seeds "$SEEDS" --set narrow.steps_per_block=106 \
    --set finetune.epochs=8
  $X $D --setting narrow8_finetune2 $WINONLY --seeds "$SEEDS" --set narrow.steps_per_block=422 \
    --set finetune.epochs=2
  # Bridges: tied (M2 = pinv M1) against free.
  $X $D --setting tied $WINONLY --seeds "$SEEDS" --set narrow.bridge_mode=tied
  # Fine-tune loss.
  $X $D --setting finetune_kd $WINONLY --seeds "$SEEDS" --set finetune.loss=kd
  $X $D --setting finetune_ce_kd $WINONLY --seeds "$SEEDS" --set finetune.loss=ce+kd
  # Merge after narrow (MAP) against after fine-tuning (MAF).
  $X $D --setting map $WINONLY --seeds "$SEEDS" --set merge.when=after_narrow
  # The KD baseline's own knobs, so it is not a straw man.
  $X $D --setting kd_t1 --teacher-from base --stages kd,eval --seeds "$SEEDS" \
    --set kd.kd_temperature=1
  $X $D --setting kd_t2_kdonly --teacher-from base --stages kd,eval --seeds "$SEEDS" \
    --set kd.kd_temperature=2 --set kd.loss=kd
  # Combinations of the best single changes.
  $X $D --setting tied_newest $WINONLY --seeds "$SEEDS" --set narrow.bridge_mode=tied \
    --set narrow.train_prefix=false
  $X $D --setting tied_orthogonal $WINONLY --seeds "$SEEDS" --set narrow.bridge_mode=tied \
    --set narrow.bridge_init=orthogonal
  $X $D --setting tied_newest_orthogonal $WINONLY --seeds "$SEEDS" --set narrow.bridge_mode=tied \
    --set narrow.train_prefix=false --set narrow.bridge_init=orthogonal
  # The chosen defaults (the deck as it is now), and their test-set scores.
  X="tools/experiments.py run"
  $X $D --setting final --seeds "$SEEDS"
  $X $D --setting final --split test --scores-of-val-runs --seeds "$SEEDS"
  X="tools/experiments.py run --set narrow.bridge_mode=free --set kd.kd_temperature=4.0"
  # Teacher width (a new teacher each).
  $X $D --setting widen4 --stages wide,narrow,finetune,merge,eval --seeds "$SEEDS" \
    --set teacher.widen=4
  $X $D --setting widen16 --stages wide,narrow,finetune,merge,eval --seeds "$SEEDS" \
    --set teacher.widen=16
  ;;
resnet)
  # One seed for the ablations (each WIN-only setting costs about 3 minutes here).
  D=inputs/fashion_mnist_resnet.toml
  $X $D --setting base --seeds "$SEEDS"
  $X $D --setting finetune_kd $WINONLY --seeds "$SEEDS" --set finetune.loss=kd \
    --set finetune.kd_temperature=1
  $X $D --setting finetune_ce_kd $WINONLY --seeds "$SEEDS" --set finetune.loss=ce+kd \
    --set finetune.kd_temperature=4
  $X $D --setting tied $WINONLY --seeds "$SEEDS" --set narrow.bridge_mode=tied
  $X $D --setting newest_block_only $WINONLY --seeds "$SEEDS" --set narrow.train_prefix=false
  $X $D --setting init_subsample $WINONLY --seeds "$SEEDS" --set narrow.bridge_init=teacher_subsample
  $X $D --setting init_random $WINONLY --seeds "$SEEDS" --set narrow.bridge_init=random
  $X $D --setting map $WINONLY --seeds "$SEEDS" --set merge.when=after_narrow
  $X $D --setting narrow_sgd_cosine $WINONLY --seeds "$SEEDS" --set narrow.optimizer=sgd \
    --set narrow.lr=0.1 --set narrow.lr_schedule=cosine
  # teacher_subsample won by far; these combine it with the next best changes.
  $X $D --setting subsample_finetune_kd $WINONLY --seeds "$SEEDS" \
    --set narrow.bridge_init=teacher_subsample --set finetune.loss=kd --set finetune.kd_temperature=1
  $X $D --setting subsample_tied $WINONLY --seeds "$SEEDS" \
    --set narrow.bridge_init=teacher_subsample --set narrow.bridge_mode=tied
  # The deciding setting over the three teachers of the `final` runs (README: run those first).
  $X $D --setting init_orthogonal_3seeds --teacher-from final --stages narrow,finetune,merge,eval \
    --seeds 0,1,2 --set narrow.bridge_init=orthogonal
  ;;
*) echo "usage: tools/ablations.sh mlp|resnet [SEEDS]" >&2; exit 2 ;;
esac
tools/experiments.py table runs/experiments/results.csv --split val
