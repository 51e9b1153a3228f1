#!/usr/bin/env bash
# Chapter 12's controlled comparison: {MLP, conv} x {-ELBO, -L_5}, the same 10 epochs, batch 128,
# learning rate 1e-3 with a cosine decay, latent dimension 32, training seeds 0, 1, 2. Every run
# logs the validation split; nothing is chosen on the test set. Each model is then scored once on
# all 10,000 test digits: seed 0 at k = 1, 100, 1000, the other seeds at k = 1, 100.
# Run from the repository root with full MNIST (VAE_TUTORIAL_DATA); about an hour on 2 CPU cores.
set -euo pipefail
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-10}
declare -A ARCH=(
  [mlp]="--architecture mlp --hidden-dims 200 200"
  [conv]="--architecture conv --hidden-dims 32 64"
)
declare -A OBJECTIVE=([elbo]="" [iw5]="--importance-samples 5")
run() {  # run ARCH OBJECTIVE SEED KS...
  local arch=$1 objective=$2 seed=$3; shift 3
  local name="cmp_${arch}_${objective}_s${seed}"
  if [[ ! -f checkpoints/$name.json ]]; then
    $PY -m vae_tutorial train ${ARCH[$arch]} --latent-dim 32 --epochs "$EPOCHS" \
      --lr-schedule cosine ${OBJECTIVE[$objective]} --seed "$seed" \
      --out "checkpoints/runs/$name.pt" --no-progress
    $PY -m vae_tutorial export "checkpoints/runs/$name.pt" "checkpoints/$name.pt"
  fi
  if ! grep -q '"iwae"' "checkpoints/$name.json"; then
    $PY -m vae_tutorial evaluate "checkpoints/$name.pt" --k "$@" --no-progress
  fi
}
for seed in 0 1 2; do
  ks="1 100"; [[ $seed == 0 ]] && ks="1 100 1000"
  for arch in mlp conv; do
    for objective in elbo iw5; do
      run "$arch" "$objective" "$seed" $ks
    done
  done
done
