#!/bin/bash
# first and second audit per architecture and --shadow-methods-per-set choice, each choice on a fresh
# store, 2 threads; usage: timing.sh OUT MODELS DATASET FIRST SECOND "ARCHS" "CHOICES"
set -e
OUT=$1; MODELS=$2; DATASET=$3; F1=$4; F2=$5; ARCHS=$6; CHOICES=$7
for arch in $ARCHS; do
  for choice in $CHOICES; do
    d=$OUT/$choice-$arch; rm -rf $d; mkdir -p $d
    for n in 1 2; do
      f=$F1; [ $n = 2 ] && f=$F2
      /usr/bin/time -f "%e wall %U user %S sys" -o $d/time$n.txt labelleak audit --model-factory benchmarks/zoo_models.py:${arch}_g28 \
        --weights $MODELS/${DATASET}_${arch}_retrain_f$f.safetensors --original $MODELS/${DATASET}_${arch}_original.safetensors \
        --dataset $DATASET --json $d/audit$n.json --threads 2 --cache $d/store --quiet --shadow-methods-per-set $choice > $d/out$n.txt
    done
    rm -rf $d/store
    echo "$choice $arch: $(cat $d/time1.txt) | $(cat $d/time2.txt)"
  done
done
