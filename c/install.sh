#!/usr/bin/env bash
# Builds fibra's C libraries (release) and installs them for C and C++ builds:
#
#   c/install.sh [PREFIX]        (default /usr/local)
#
#   PREFIX/include/fibra.h
#   PREFIX/lib/libfibra.a        static library
#   PREFIX/lib/libfibra.so       shared library
#   PREFIX/lib/pkgconfig/fibra.pc
#
# Then `pkg-config --cflags --libs fibra` works (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
# if PREFIX is not a system prefix), and so does CMake's pkg_check_modules; see the
# README's "C ABI" section. Linux (and other ELF Unix) only.
set -euo pipefail

prefix="${1:-/usr/local}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release --lib
target_dir="${CARGO_TARGET_DIR:-target}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
prefix="$(cd "$prefix" && pwd)"
install -m 644 include/fibra.h "$prefix/include/fibra.h"
install -m 644 "$target_dir/release/libfibra.a" "$prefix/lib/libfibra.a"
install -m 755 "$target_dir/release/libfibra.so" "$prefix/lib/libfibra.so"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" c/fibra.pc.in \
    >"$prefix/lib/pkgconfig/fibra.pc"
echo "installed fibra $version C ABI under $prefix"
