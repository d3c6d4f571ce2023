# shellcheck shell=bash
# Sourced by the experiment scripts: `. experiments/work_clone.sh NAME` clones the repository's HEAD into
# a temporary folder (removed on exit unless KEEP_WORK=1), enters it, and puts the clone's own src/ and the
# repository's .venv (if any) first. Sets ROOT (the repository) and WORK (the temporary folder).
ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
WORK=$(mktemp -d -t "$1.XXXXXX")
cleanup() { if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work copy kept: $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

git clone -q "$ROOT" "$WORK/repo"
cd "$WORK/repo" || exit
if [ -d "$ROOT/.venv/bin" ]; then export PATH="$ROOT/.venv/bin:$PATH"; fi
export PYTHONPATH="$WORK/repo/src" NO_ALBUMENTATIONS_UPDATE=1
