#!/usr/bin/env bash
# Table 1's four rows for one seed on the committed params (fresh clone of main): G (dvc repro), then
# random, oracle (masks.source) and none (mvt.use_masks false) through the same stages.
# As run (BRANCH=decoys, commit 1fe2975, whose params.yaml carried synthetic-decoys' two settings:
# occlusion_rate 0.4, decoy_rate 0.75). On main the same is `dvc exp run $(mvt-fer preset synthetic-decoys)
# -S seed=S`, then -S masks.source=random|oracle, then -S mvt.use_masks=false.
set -euo pipefail
S=$1; SRC=$(git rev-parse --show-toplevel); OUT=$SRC/results/bounds-decoys
W=$(mktemp -d -t "bounds-s$S.XXXX"); git clone -q -b ${BRANCH:-main} $SRC $W; cd $W
source $SRC/.venv/bin/activate; export NO_ALBUMENTATIONS_UPDATE=1 PYTHONPATH=$W/src
python - <<PY
import re; s=open("params.yaml").read(); s=re.sub(r"^seed: 0", "seed: $S", s, flags=re.M); open("params.yaml","w").write(s)
PY
save() { mkdir -p $OUT/seed$S-$1; cp metrics/{train,eval,masks}.json $OUT/seed$S-$1/; [ "$1" = G ] && cp metrics/mgn.json $OUT/seed$S-$1/ || true; }
t=$(date +%s); dvc repro -q >/dev/null; echo "seed $S G $(( $(date +%s)-t )) s"; save G
for row in random oracle; do
  sed -i "s/^  source: .*/  source: $row/" params.yaml
  t=$(date +%s); python stages/masks.py >/dev/null && python stages/train_mvt.py >/dev/null && python stages/evaluate.py >/dev/null
  echo "seed $S $row $(( $(date +%s)-t )) s"; save $row
done
sed -i "s/^  source: .*/  source: generator/; s/^  use_masks: true/  use_masks: false/" params.yaml
t=$(date +%s); python stages/train_mvt.py >/dev/null && python stages/evaluate.py >/dev/null; echo "seed $S none $(( $(date +%s)-t )) s"; save none
