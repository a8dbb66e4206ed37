#!/bin/bash
# first and second audit per architecture and attack selection, each selection on a fresh store,
# 2 threads; usage: timing.sh OUT MODELS DATASET FIRST SECOND "ARCHS" "SELECTIONS"
set -e
OUT=$1; MODELS=$2; DATASET=$3; F1=$4; F2=$5; ARCHS=$6; SELS=$7
for arch in $ARCHS; do
  for sel in $SELS; do
    d=$OUT/$sel-$arch; rm -rf $d; mkdir -p $d
    /usr/bin/time -f "%e wall %U user %S sys" -o $d/time1.txt labelleak audit --model-factory benchmarks/zoo_models.py:${arch}_g28 \
      --weights $MODELS/${DATASET}_${arch}_retrain_f$F1.safetensors --original $MODELS/${DATASET}_${arch}_original.safetensors \
      --dataset $DATASET --json $d/audit1.json --threads 2 --cache $d/store --quiet --attacks $sel > $d/out1.txt
    /usr/bin/time -f "%e wall %U user %S sys" -o $d/time2.txt labelleak audit --model-factory benchmarks/zoo_models.py:${arch}_g28 \
      --weights $MODELS/${DATASET}_${arch}_retrain_f$F2.safetensors --original $MODELS/${DATASET}_${arch}_original.safetensors \
      --dataset $DATASET --json $d/audit2.json --threads 2 --cache $d/store --quiet --attacks $sel > $d/out2.txt
    rm -rf $d/store
    echo "$sel $arch: $(cat $d/time1.txt) | $(cat $d/time2.txt)"
  done
done
