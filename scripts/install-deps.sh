#!/bin/sh
# Installs exactly the Debian 12 packages hyperrep needs to build, test and
# run its default job. Idempotent: apt-get skips what is already installed.
# Run as root (or through sudo). Extra package names given as arguments are
# installed too (e.g. python3-torch for the PyTorch comparisons in bench/).
set -eu

BUILD="build-essential cmake pkg-config libopenblas-serial-dev libjansson-dev libzip-dev zlib1g-dev libpng-dev libjpeg-dev libinih-dev libssl-dev libevent-dev libopenmpi-dev openmpi-bin"
TEST="libcmocka-dev gnuplot-nox chromium openssl clang libclang-rt-14-dev python3 iproute2"
DATA="dataset-fashion-mnist"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $BUILD $TEST $DATA "$@"
