#!/usr/bin/env bash
# Builds the exitstat tool as one static binary (build/exitstat), so that it
# runs in any x86-64 guest or host without its libraries.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_cmd cargo "sudo scripts/install-deps.sh (Debian's cargo-web)"
target=x86_64-unknown-linux-gnu
mkdir -p "$BUILD"
RUSTFLAGS="-C target-feature=+crt-static" run_logged "$BUILD/exitstat.log" "exitstat build" \
	cargo build --manifest-path "$REPO/Cargo.toml" --release --locked --bin exitstat --target "$target"
cp "$REPO/target/$target/release/exitstat" "$BUILD/exitstat"
file "$BUILD/exitstat" | grep -q 'static' || die "$BUILD/exitstat is not static: $(file -b "$BUILD/exitstat")"
echo "exitstat: $BUILD/exitstat"
