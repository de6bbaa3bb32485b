#!/usr/bin/env bash
# Install what the tests need and run the whole suite (lint, types, tests).
# Works on a fresh Debian / Raspberry Pi OS machine: installs Mosquitto and python3-venv with apt-get
# when they are missing, makes a virtual environment in .venv, installs Hausmeister with its test extras.
# Extra arguments go to pytest, e.g. ./test.sh -k mqtt
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then missing+=(mosquitto); fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi
if ! command -v openssl >/dev/null 2>&1; then missing+=(openssl); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff format --check hub devices rules web tests bench
.venv/bin/ruff check hub devices rules web tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
