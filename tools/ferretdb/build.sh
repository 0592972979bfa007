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
# modernc.org/libc, the C library that SQLite runs on, with a memcmp that compares words,
# not bytes (see that patch's header); FerretDB is built against the patched copy.
libc=modernc.org/libc@$(cd "$work/src" && go list -m -f '{{.Version}}' modernc.org/libc)
libc_src=$(cd "$work/src" && go mod download -json "$libc" \
           | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$libc_src" "$work/libc" && chmod -R u+w "$work/libc"
(cd "$work/libc" && git apply -p1 "$here/modernc-libc-${libc#*@}.patch")
(cd "$work/src" && go mod edit -replace "modernc.org/libc=$work/libc")
mkdir -p "$(dirname "$out")"
(cd "$work/src" && GOFLAGS=-buildvcs=false go build -o "$out" ./cmd/ferretdb)
echo "built $out ($("$out" --version 2>&1 | head -1))"
