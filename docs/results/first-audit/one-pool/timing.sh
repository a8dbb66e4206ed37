#!/bin/bash
# The first audit of the seed-19 zoo's MNIST BatchNorm CNN (Retrain of class 3), each on a fresh store,
# 2 threads, with the labelleak that `python -m labelleak` imports: through an API without θ_o (three
# shadow originals) and, unless AUDITS says otherwise, the default audit with weights and θ_o.
# usage: timing.sh OUT MODELS TAG [AUDITS]   (AUDITS: "api default", the default, or one of them)
set -e
OUT=$1; MODELS=$2; TAG=$3; AUDITS=${4:-api default}
T=mnist_bn_cnn_retrain_f3
for audit in $AUDITS; do
  d=$OUT/$TAG-$audit; rm -rf $d; mkdir -p $d
  case $audit in
    api) args="--access queries --attacks invert-cma,label-reach,noise-frequency,noise-logprob --query-budget 400" ;;
    default) args="--original $MODELS/mnist_bn_cnn_original.safetensors" ;;
    *) echo "unknown audit $audit (api or default)"; exit 2 ;;
  esac
  /usr/bin/time -f "%e wall %U user %S sys" -o $d/time.txt python -m labelleak audit \
    --model-factory benchmarks/zoo_models.py:bn_cnn_g28 --weights $MODELS/$T.safetensors --dataset mnist $args \
    --threads 2 --cache $d/store --quiet --json $d/audit.json > $d/out.txt
  rm -rf $d/store
  echo "$TAG $audit: $(cat $d/time.txt)"
done
