#!/usr/bin/env bash
# Reproduces docs/results.md "Relabeling studies", the probe "With a classifier that is mostly right, precision passes 0.8":
# the ablation's relabel settings (start epoch 2, delta 0.4, gate 0.45, 4,200 training images, test curves)
# on the default set without decoys and with cue_noise 0.2, label noise 0.3, no masks, linear f; relabeling
# on and off, seeds 0, 1, 2.
#
#   experiments/relabel_mostly_right.sh      # from anywhere; needs the repository's .venv (make setup)
#
# Works in a temporary clone of the repository's HEAD (mktemp -d; removed at the end, KEEP_WORK=1 keeps it),
# with the clone's own src/ on PYTHONPATH. Each run sets its params with `dvc exp run -S ... prepare` (which
# writes them into the clone's params.yaml and runs prepare, skipped when the seed's data is already there),
# then runs the stages it needs directly: `python stages/train_mvt.py` and `python stages/evaluate.py` (no
# masks, so no MGN is trained). Every run sets every key the runs vary.
#
# Writes results/relabel-mostly-right/s<seed>-<true|false>/{train.json,eval.json,curves.csv}, then
# results/relabel-mostly-right/summary.txt (experiments/summarize_relabel.py).
#
# Time: not timed (docs/results.md gives no duration); each run prints its seconds.
set -euo pipefail

usage="usage: $0   (no arguments; writes results/relabel-mostly-right/)"
if [ "$#" -gt 0 ]; then
  if [ "$1" = "-h" ] || [ "$1" = "--help" ]; then echo "$usage"; exit 0; fi
  echo "$usage" >&2
  exit 2
fi

# shellcheck source=experiments/work_clone.sh
. "$(dirname "${BASH_SOURCE[0]}")/work_clone.sh" relabel-mostly-right
OUT=$ROOT/results/relabel-mostly-right

SETTINGS=(
  -S prepare.noise_rate=0.3 -S prepare.synthetic.cue_noise=0.2 -S prepare.synthetic.n_train=4200
  -S mvt.use_masks=false -S mvt.monitor_test=true
  -S relabel.fn=linear -S relabel.start_epoch=2 -S relabel.min_train_acc=0.45 -S relabel.delta=0.4
)

# step LOG COMMAND...: run quietly into $WORK/LOG, its tail on failure.
step() {
  local log=$WORK/$1
  shift
  "$@" > "$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }
}

for seed in 0 1 2; do
  for rel in true false; do
    step "prepare-s$seed-$rel.log" dvc exp run -q -n "relabel-s$seed-$rel" -S "seed=$seed" "${SETTINGS[@]}" \
      -S "relabel.enabled=$rel" prepare
    t0=$(date +%s)
    step "train-s$seed-$rel.log" python stages/train_mvt.py
    step "evaluate-s$seed-$rel.log" python stages/evaluate.py
    dest=$OUT/s$seed-$rel
    mkdir -p "$dest"
    cp metrics/train.json metrics/eval.json plots/train/curves.csv "$dest/"
    echo "seed $seed relabel $rel $(($(date +%s) - t0)) s"
  done
done

python "$ROOT/experiments/summarize_relabel.py" "$OUT"
