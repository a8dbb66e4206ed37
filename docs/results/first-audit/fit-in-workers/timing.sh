#!/bin/bash
# The default first audit of the seed-26 zoo's MNIST BatchNorm CNN (NegGrad+ of class 4, with θ_o) on a
# fresh store, then a later audit of another release of the same θ_o (fine-tune of class 9) on that
# store, with the labelleak that `python -m labelleak` imports and its default --threads and --workers.
# usage: timing.sh OUT MODELS TAG   (MODELS: the zoo's mnist-singles/models folder)
set -e
OUT=$1; MODELS=$2; TAG=$3
d=$OUT/$TAG; rm -rf $d; mkdir -p $d
for audit in first later; do
  case $audit in
    first) T=mnist_bn_cnn_neggrad_plus_f4 ;;
    later) T=mnist_bn_cnn_finetune_f9 ;;
  esac
  /usr/bin/time -f "%e wall %U user %S sys" -o $d/$audit-time.txt python -m labelleak audit \
    --model-factory benchmarks/zoo_models.py:bn_cnn_g28 --weights $MODELS/$T.safetensors \
    --original $MODELS/mnist_bn_cnn_original.safetensors --dataset mnist \
    --cache $d/store --quiet --json $d/$audit-audit.json > $d/$audit-out.txt
  echo "$TAG $audit: $(cat $d/$audit-time.txt)"
done
rm -rf $d/store
