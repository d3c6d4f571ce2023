#!/usr/bin/env bash
# Reproduces docs/results.md "Mask bounds", the decoy-set table (Table 1's four rows on `mvt-fer preset
# synthetic-decoys`), one seed per argument: G (the whole pipeline, the MGN as the committed params.yaml
# runs it), random and oracle masks (`masks.source`, the masks / train_mvt / evaluate stages again), and no
# masks (`mvt.use_masks=false`, train_mvt / evaluate again).
#
#   experiments/decoy_bounds.sh 0 1 2        # from anywhere; needs the repository's .venv (make setup)
#
# Works in a temporary clone of the repository's HEAD (mktemp -d; removed at the end, KEEP_WORK=1 keeps it),
# with the clone's own src/ on PYTHONPATH. Every row is one `dvc exp run` in that clone; DVC reruns only the
# stages whose params changed. `dvc exp run -S` edits the clone's params.yaml in place, so every row sets
# every key the rows vary (seed, masks.source, mvt.use_masks) and the preset's flags.
#
# Writes results/bounds-decoys/seed<S>-<row>/{train,eval,masks}.json for the rows G, random, oracle, none,
# plus mgn.json for G (existing files of those rows are overwritten). The none row's masks.json is now G's
# (masks.source=generator; the classifier does not read masks); the committed seed*-none/masks.json are the
# oracle row's, which the first version of this script left in the workspace.
#
# Time (docs/results.md "Mask bounds", the 2-core machine): the G row 248-400 s, the other rows 110-125 s each, so
# about 10-13 minutes per seed. Each row prints its seconds.
set -euo pipefail

usage="usage: $0 SEED [SEED ...]   (writes results/bounds-decoys/seed<S>-{G,random,oracle,none}/)"
if [ "$#" -eq 0 ]; then echo "$usage" >&2; exit 2; fi
if [ "$1" = "-h" ] || [ "$1" = "--help" ]; then echo "$usage"; exit 0; fi
for seed in "$@"; do
  [[ "$seed" =~ ^[0-9]+$ ]] || { echo "$0: seed must be a non-negative integer, got '$seed'" >&2; exit 2; }
done

# shellcheck source=experiments/work_clone.sh
. "$(dirname "${BASH_SOURCE[0]}")/work_clone.sh" decoy-bounds
OUT=$ROOT/results/bounds-decoys

flags=$(mvt-fer preset synthetic-decoys)  # a failure stops here (set -e); inside <<< it would not
read -ra PRESET <<< "$flags"

# run SEED ROW SOURCE USE_MASKS: one row as one DVC experiment, its metrics copied to results/.
run() {
  local seed=$1 row=$2 source=$3 use_masks=$4 dest t0
  t0=$(date +%s)
  dvc exp run -q -n "decoys-s$seed-$row" "${PRESET[@]}" -S "seed=$seed" -S "masks.source=$source" \
    -S "mvt.use_masks=$use_masks" > "$WORK/s$seed-$row.log" 2>&1 \
    || { tail -n 30 "$WORK/s$seed-$row.log" >&2; return 1; }
  echo "seed $seed $row $(($(date +%s) - t0)) s"
  dest=$OUT/seed$seed-$row
  mkdir -p "$dest"
  cp metrics/train.json metrics/eval.json metrics/masks.json "$dest/"
  if [ "$row" = G ]; then cp metrics/mgn.json "$dest/"; fi
}

for seed in "$@"; do
  run "$seed" G generator true
  run "$seed" random random true
  run "$seed" oracle oracle true
  run "$seed" none generator false
done
