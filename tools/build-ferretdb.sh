#!/usr/bin/env bash
# Builds FerretDB v1 (MongoDB wire protocol over SQLite) from the Go module proxy.
# `go install ...@v1.24.2` cannot be used as is here: it asks the proxy for the module's
# version list (refused), and a binary built as a dependency panics on its empty
# build/version/version.txt. So: download the exact version (checksum-verified against
# sum.golang.org), write version.txt as FerretDB's own `task gen-version` would, build.
set -euo pipefail
version=v1.24.2
out=$(realpath -m "${1:?usage: build-ferretdb.sh OUTPUT_BINARY}")
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
src=$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@$version" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
echo "$version" > "$work/src/build/version/version.txt"
# Patch (one line, upstream bug in v1's SQLite backend): the unique _id index is built on
# the expression _ferretdb_sjson->"_id", but lookups and updates filter on
# _ferretdb_sjson->'$._id'. SQLite uses an expression index only for the same expression,
# so every find/update by _id scanned the whole table (~30 ms per update at 5,000
# documents, growing with the collection). Make the queries use the index's expression.
meta="$work/src/internal/backends/sqlite/metadata/metadata.go"
cat > "$work/fix.sed" <<'SED'
s|IDColumn = DefaultColumn + "->'\$\._id'"|IDColumn = DefaultColumn + `->"_id"`|
SED
sed -i -f "$work/fix.sed" "$meta"
grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$meta" || { echo "FerretDB patch did not apply" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
(cd "$work/src" && GOFLAGS=-buildvcs=false go build -o "$out" ./cmd/ferretdb)
echo "built $out ($("$out" --version 2>&1 | head -1))"
