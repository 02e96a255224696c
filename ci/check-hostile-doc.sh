#!/usr/bin/env bash
# docs/hostile.md's table must be the catalogue svsm-emu prints (emu/hostile.c).
#   ci/check-hostile-doc.sh SVSM_EMU DOC
set -euo pipefail
emu=$1
doc=$2
want=$("$emu" run --hostile list --markdown)
have=$(sed -n '/^| name | the host |/,/^$/p' "$doc" | sed '/^$/d')
if [ "$want" != "$have" ]; then
	echo "check-hostile-doc: $doc's table differs from 'svsm-emu run --hostile list --markdown':" >&2
	diff <(echo "$want") <(echo "$have") >&2 || true
	exit 1
fi
echo "check-hostile-doc: $(echo "$want" | tail -n +3 | wc -l) misbehaviours, docs/hostile.md up to date"
