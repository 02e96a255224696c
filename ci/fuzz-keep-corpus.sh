#!/bin/bash
# Minimise a campaign's corpus and keep it as seeds of the target:
#   ci/fuzz-keep-corpus.sh TARGET ENGINE_BINARY CORPUS_DIR...
# libFuzzer's -merge=1 keeps the smallest set of inputs with the same coverage features as
# the committed seeds plus the given corpora; the new ones are written to
# fixtures/fuzz/TARGET/campaign-<sha1> (harness/fuzz/gen_corpus.py leaves them alone).
# `make test` replays them like every other seed.
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 TARGET ENGINE_BINARY CORPUS_DIR..." >&2
	exit 2
fi
target=$1
bin=$2
shift 2
seeds=fixtures/fuzz/$target
[ -d "$seeds" ] || { echo "$0: no seed corpus $seeds" >&2; exit 2; }
[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"
# The committed seeds go first: merge keeps them (they define the baseline) and adds only
# inputs with new features.
cp "$seeds"/* "$work/out/"
before=$(ls "$work/out" | wc -l)
"$bin" -merge=1 -max_len=512 "$work/out" "$@" > "$work/merge.log" 2>&1 || {
	tail -20 "$work/merge.log" >&2
	exit 1
}
added=0
for f in "$work/out"/*; do
	name=$(basename "$f")
	if [ ! -e "$seeds/$name" ]; then
		cp "$f" "$seeds/campaign-$name"
		added=$((added + 1))
	fi
done
echo "$target: $before seeds, $added campaign inputs added to $seeds"
