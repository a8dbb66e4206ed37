#!/bin/bash
# The default first audit of one of the seed-26 zoo's models, with θ_o, on a fresh store, then a later
# audit of another release of the same θ_o on that store, with the labelleak that `python -m labelleak`
# imports and its default --threads and --workers. Without the optional arguments: the MNIST BatchNorm
# CNN, NegGrad+ of class 4 first, fine-tune of class 9 later.
# usage: timing.sh OUT MODELS TAG [DATASET ARCH FIRST LATER]
#   MODELS: the zoo's models folder of DATASET and ARCH (e.g. mnist-singles/models)
#   FIRST, LATER: the two releases, as the zoo names them (e.g. neggrad_plus_f4 finetune_f9)
set -e
OUT=$1; MODELS=$2; TAG=$3; DATASET=${4:-mnist}; ARCH=${5:-bn_cnn}; FIRST=${6:-neggrad_plus_f4}; LATER=${7:-finetune_f9}
d=$OUT/$TAG; rm -rf $d; mkdir -p $d
for audit in first later; do
  case $audit in
    first) T=$FIRST ;;
    later) T=$LATER ;;
  esac
  /usr/bin/time -f "%e wall %U user %S sys" -o $d/$audit-time.txt python -m labelleak audit \
    --model-factory benchmarks/zoo_models.py:${ARCH}_g28 --weights $MODELS/${DATASET}_${ARCH}_$T.safetensors \
    --original $MODELS/${DATASET}_${ARCH}_original.safetensors --dataset $DATASET \
    --cache $d/store --quiet --json $d/$audit-audit.json > $d/$audit-out.txt
  echo "$TAG $audit: $(cat $d/$audit-time.txt)"
done
rm -rf $d/store
