#!/usr/bin/env bash
# Create .venv with everything qa-bot needs: the CPU build of PyTorch first (any other torch spec pulls
# gigabytes of CUDA wheels), then the package with all extras and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[all,dev]'
echo "Installed qa-bot $(.venv/bin/qa-bot --version | awk '{print $NF}') into .venv"
