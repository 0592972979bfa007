#!/usr/bin/env bash
# Builds FerretDB v1 (MongoDB wire protocol over SQLite) from the Go module proxy.
# `go install ...@v1.24.2` cannot be used as is here: it asks the proxy for the module's
# version list (refused), and a binary built as a dependency panics on its empty
# build/version/version.txt. So: download the exact version (checksum-verified against
# sum.golang.org), write version.txt as FerretDB's own `task gen-version` would, build.
set -euo pipefail
version=v1.24.2
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build-ferretdb.sh OUTPUT_BINARY}")
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
src=$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@$version" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
echo "$version" > "$work/src/build/version/version.txt"
# The project's patch series (patches/NNNN-name.patch, in order; each says what it
# changes, why, and which test pins it): fixes of wrong answers first, speed-ups after.
for patch in "$here"/patches/*.patch; do
  (cd "$work/src" && git apply -p1 "$patch")
done
# A dependency of FerretDB's, patched: the version FerretDB requires, downloaded, with
# modernc-NAME-VERSION.patch applied, and FerretDB built against that copy.
patch_dependency() {
  local module=$1 name=${1##*/} version dir
  version=$(cd "$work/src" && go list -m -f '{{.Version}}' "$module")
  dir=$(cd "$work/src" && go mod download -json "$module@$version" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp -r "$dir" "$work/$name" && chmod -R u+w "$work/$name"
  (cd "$work/$name" && git apply -p1 "$here/modernc-$name-$version.patch")
  (cd "$work/src" && go mod edit -replace "$module=$work/$name")
}
# modernc.org/libc, the C library that SQLite runs on, with a memcmp that compares words,
# not bytes; modernc.org/sqlite, the SQLite driver, keeping prepared statements for reuse
# (see each patch's header).
patch_dependency modernc.org/libc
patch_dependency modernc.org/sqlite
mkdir -p "$(dirname "$out")"
(cd "$work/src" && GOFLAGS=-buildvcs=false go build -o "$out" ./cmd/ferretdb)
echo "built $out ($("$out" --version 2>&1 | head -1))"
