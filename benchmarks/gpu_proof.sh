#!/usr/bin/env bash
# The GPU proof in one device call (about 5-8 minutes on one H100/H200, no network).
#
# Carry: tmp/gpu_wheels (bitsandbytes, peft, pydantic wheels the device image lacks; see
# benchmarks/results/gpu_train_2026-11-25_not_run.md for how to download them), tmp/gpu_stub (empty
# duckdb / ifcopenshell stand-ins when those are absent) and tmp/clauselens-cache/tokenizers (the real
# Qwen tokenizer, `clauselens.models.families.tokenizer_dir("qwen3")` fetched here once, 11 MB).
# Output: $OUT/env.log, $OUT/gpu_proof.log, $OUT/gpu_proof.json; commit them under benchmarks/results/.
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CLAUSELENS_CACHE=$PWD/tmp/clauselens-cache
OUT=${OUT:-$PWD/gpu_proof_out}; mkdir -p "$OUT"
if ls tmp/gpu_wheels/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    tmp/gpu_wheels/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src
python3 -c "import duckdb, ifcopenshell" 2>/dev/null || export PYTHONPATH=$PYTHONPATH:$PWD/tmp/gpu_stub
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch,transformers,peft,bitsandbytes as b;print('torch',torch.__version__,'cuda',torch.version.cuda,'transformers',transformers.__version__,'peft',peft.__version__,'bnb',b.__version__)"
} 2>&1 | tee "$OUT/env.log"
timeout 480 python3 benchmarks/gpu_proof.py --out "$OUT" --steps 30 2>&1 | grep -v -i -e warn -e "it/s" | tee "$OUT/gpu_proof.log"
