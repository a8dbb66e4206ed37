"""Wall and CPU time of ``labelleak audit`` on a Fashion-MNIST-size model (goal: a full audit with the
shadow calibration already cached must take < 60 s on 2 CPU cores; the first audit, which builds
the calibration, is reported too).

What it does:

1. θ_o = labelleak's default Fashion-MNIST LeNet and θ_u = θ_o with class ``--forget`` unlearned
   by ``--method`` (both trained once and cached in the shared artifact store);
2. writes them out as a model owner would hold them: ``torch.save(state_dict)`` files, a
   model-factory file, and θ_u exported to ONNX;
3. runs ``labelleak audit`` as a fresh process each time, with a fresh, empty calibration cache
   (or ``--calibration-cache DIR``): (a) the first white-box audit (all attacks, ``--original``:
   includes training the shadow models), (b) the same audit again (calibration cached), (c) the
   ONNX file as a black box.

Run:  python benchmarks/audit_speed.py --threads 2
Prints one row per audit (wall seconds, CPU seconds of the audit process, verdict) and writes
``audit_speed.json`` into ``--workdir``. On a shared machine, wall time grows with the other
processes' load and CPU time does not: CPU seconds / threads approximates the wall time on idle
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from labelleak.data import load_dataset
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.store import ArtifactStore
from labelleak.targets import train_original, unlearn_original

FACTORY = '''"""The benchmark's model factory: labelleak's Fashion-MNIST LeNet, rebuilt from its spec."""
from labelleak.models import ModelSpec, build_model

SPEC = {spec!r}


def build():
    return build_model(ModelSpec.from_dict(SPEC))
'''


def owner_files(workdir: Path, *, method: str, forget: int, threads: int) -> dict[str, Path]:
    torch.set_num_threads(threads)
    dataset = load_dataset("fashion-mnist")
    store = ArtifactStore()
    original = train_original(dataset, seed=0, store=store, verbose=True)
    unlearned = unlearn_original(
        original, dataset, method=method, forget_classes=(forget,), seed=0, store=store, verbose=True
    )
    files = {
        "original": workdir / "original.pt",
        "unlearned": workdir / "unlearned.pt",
        "factory": workdir / "owner_model.py",
        "onnx": workdir / "unlearned.onnx",
    }
    torch.save(original.model.state_dict(), files["original"])
    torch.save(unlearned.model.state_dict(), files["unlearned"])
    files["factory"].write_text(FACTORY.format(spec=original.model.spec.to_dict()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            unlearned.model.eval(),
            (dataset.x_test[:1],),
            str(files["onnx"]),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}},
        )
    print(f"θ_u ({method}, forgot class {forget}): {unlearned.metrics}")
    return files


def timed_audit(args: list[str], *, out_json: Path, threads: int) -> dict:
    command = [
        sys.executable,
        "-c",
        "import sys; from labelleak.cli import main; sys.exit(main())",
        "audit",
        "--dataset",
        "fashion-mnist",
        "--threads",
        str(threads),
        "--quiet",
        "--json",
        str(out_json),
        *args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time does not grow when other processes share the cores, so on a busy machine it bounds
    # what the audit would take on 2 idle cores (wall ≈ CPU / threads for CPU-bound work)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"audit failed ({proc.returncode}): {proc.stderr.strip()}")
    print(proc.stdout)
    result = json.loads(out_json.read_text())
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "verdict": result["verdict"],
        "attacks": {a["name"]: round(a["seconds"], 2) for a in result["attacks"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--method", default="gradient_ascent", help="unlearning method of the audited model")
    parser.add_argument("--forget", type=int, default=2, help="the class unlearned from the audited model")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "labelleak_audit_speed")
    parser.add_argument(
        "--calibration-cache",
        type=Path,
        help="reuse this artifact store for the audits' shadow calibration (default: a fresh, "
        "empty one, so that the first audit builds it)",
    )
    parser.add_argument(
        "--single-class-shadows",
        action="store_true",
        help="audit with --single-class-shadows (shadows forget no pairs or triples): what they cost",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = owner_files(args.workdir, method=args.method, forget=args.forget, threads=args.threads)
    cache = args.calibration_cache or Path(tempfile.mkdtemp(prefix="calibration_", dir=args.workdir))
    white_box = [
        "--model-factory",
        f"{files['factory']}:build",
        "--weights",
        str(files["unlearned"]),
        "--original",
        str(files["original"]),
        "--cache",
        str(cache),
        *(["--single-class-shadows"] if args.single_class_shadows else []),
    ]
    first = (
        "first white-box audit (builds the shadow calibration)"
        if args.calibration_cache is None
        else f"first white-box audit (calibration store {cache})"
    )
    rows = {
        first: timed_audit(white_box, out_json=args.workdir / "first.json", threads=args.threads),
        "white-box audit, calibration cached": timed_audit(
            white_box, out_json=args.workdir / "second.json", threads=args.threads
        ),
        "ONNX (black-box) audit": timed_audit(
            ["--onnx", str(files["onnx"]), "--cache", str(cache)],
            out_json=args.workdir / "onnx.json",
            threads=args.threads,
        ),
    }
    # the machine may be shared: the load average says how much of the 2 cores the audits really had
    summary = {
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": os.getloadavg(),
        "method": args.method,
        "forget": args.forget,
        "audits": rows,
    }
    (args.workdir / "audit_speed.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(markdown_header(["audit", f"wall seconds ({args.threads} threads)", "CPU seconds", "verdict"]))
    for name, row in rows.items():
        v = row["verdict"]
        verdict = f"{v['forgotten']} by {v['agreeing_attacks']} of {v['attacks_run']}"
        print(markdown_row([name, row["seconds"], row["cpu_seconds"], verdict]))
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"wrote {args.workdir / 'audit_speed.json'}")


if __name__ == "__main__":
    main()
