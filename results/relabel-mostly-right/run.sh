#!/bin/bash
# A classifier that is mostly right: no decoys, cue_noise 0.2; noise 0.3; relabel (linear, the ablation's gate) vs none; 3 seeds.
# Run from the repository root, with its .venv built; works in a temporary clone (in $TMPDIR).
set -e
REPO=$(git rev-parse --show-toplevel); WORK=$(mktemp -d -t relprobe.XXXX)
git clone -q "$REPO" "$WORK/ws" && cd "$WORK/ws"
export PATH=$REPO/.venv/bin:$PATH PYTHONPATH=$WORK/ws/src
for seed in 0 1 2; do
 for rel in true false; do
  python - "$seed" "$rel" <<'PY'
import sys
from ruamel.yaml import YAML
y = YAML(); p = y.load(open("params.yaml"))
p["seed"] = int(sys.argv[1]); p["prepare"]["noise_rate"] = 0.3
s = p["prepare"]["synthetic"]; s["cue_noise"] = 0.2; s["n_train"] = 4200
p["mvt"]["use_masks"] = False; p["mvt"]["monitor_test"] = True
r = p["relabel"]; r["enabled"] = sys.argv[2] == "true"; r["fn"] = "linear"; r["start_epoch"] = 2; r["min_train_acc"] = 0.45; r["delta"] = 0.4
y.dump(p, open("params.yaml", "w"))
PY
  [ "$rel" = true ] && python stages/prepare.py > $WORK/prep-$seed.log 2>&1
  t0=$(date +%s); python stages/train_mvt.py > $WORK/train-s$seed-$rel.log 2>&1; python stages/evaluate.py > /dev/null 2>&1
  mkdir -p $WORK/out/s$seed-$rel && cp metrics/train.json metrics/eval.json plots/train/curves.csv $WORK/out/s$seed-$rel/
  echo "seed $seed relabel $rel $(( $(date +%s) - t0 )) s"
 done
done
