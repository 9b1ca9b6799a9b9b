#!/usr/bin/env bash
# How the shipped default inverter (src/unembed/shipped/minilm) is trained: `unembed train` with
# fixed options; only the step counts are sized to a time budget, from a short throughput probe.
#
#   benchmarks/train_default_inverter.sh RUN_DIR HYPOTHESIZER_SECONDS CORRECTOR_SECONDS [train options]
#
# 1. probe: RUN_DIR.probe builds the corpus and embeds it (both reused by the real run), then trains
#    the hypothesizer for PROBE_STEPS steps; its examples/s sets the step counts (the corrector is
#    assumed to run at CORRECTOR_SPEED x the hypothesizer's rate: 0.55 measured on CPU).
# 2. the real run in RUN_DIR (resumable: rerun the same command).
# A prebuilt corpus in RUN_DIR/corpus (carried to a machine without the corpus packages) is used.
set -euo pipefail
run=$1; hyp_seconds=$2; cor_seconds=$3; shift 3
unembed=${UNEMBED:-unembed}
batch=${BATCH:-256}
options=(--model small --batch-size "$batch" --lr 1e-3 --lr-pretrained 3e-4 --warmup-steps 500
         --eval-every 1000 --save-every 2000 --export-dtype int8 "$@")
probe=$run.probe
mkdir -p "$run" "$probe"
if [ -d "$run/corpus" ] && [ ! -d "$probe/corpus" ]; then cp -r "$run/corpus" "$probe/corpus"; fi
if [ ! -f "$run/train_config.json" ]; then
  $unembed train --out "$probe" "${options[@]}" --hypothesizer-steps "${PROBE_STEPS:-300}" \
      --corrector-steps 0 --eval-every 0 --save-every 100000 --resume
  [ -d "$run/embeddings" ] || cp -r "$probe/embeddings" "$run/embeddings"
  [ -d "$run/corpus" ] || cp -r "$probe/corpus" "$run/corpus"
  read -r hyp_steps cor_steps < <(python3 - "$probe" "$hyp_seconds" "$cor_seconds" "$batch" "${CORRECTOR_SPEED:-0.55}" <<'PY'
import json, sys
probe, hs, cs, batch, ratio = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rate = [json.loads(l) for l in open(f"{probe}/log.jsonl")][-1]["examples_per_second"]
print(max(1, int(hs * rate / batch)), int(cs * rate * ratio / batch))
PY
)
  echo "probe: $(tail -1 "$probe/log.jsonl"); hypothesizer $hyp_steps steps, corrector $cor_steps steps"
  echo "$hyp_steps $cor_steps" > "$run/steps.txt"
fi
read -r hyp_steps cor_steps < "$run/steps.txt"
$unembed train --out "$run" "${options[@]}" --hypothesizer-steps "$hyp_steps" --corrector-steps "$cor_steps" --resume
