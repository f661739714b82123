#!/bin/sh
# Builds the convolution kernels for ARM64 with Debian's cross compiler and
# runs tests/ops/arm64_conv_check.c (every path against the reference) under
# qemu-user. Needs: apt-get install gcc-aarch64-linux-gnu qemu-user
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/hyperrep-arm64
mkdir -p "$out"
src=$root/src
aarch64-linux-gnu-gcc -O2 -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wno-unused-parameter \
  -Werror -D_POSIX_C_SOURCE=200809L -I"$root/include" -I"$src" \
  "$root/tests/ops/arm64_conv_check.c" "$src"/ops/conv*.c "$src/core/ctx.c" "$src/core/error.c" "$src/core/tensor.c" \
  -static -lpthread -lm -o "$out/conv_check"
qemu-aarch64 "$out/conv_check"
