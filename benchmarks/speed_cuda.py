"""DisentangledSSL on a CUDA GPU at the paper's configuration: speed, and the GPU path.

Run on a machine with a CUDA GPU; measured side by side in one run:

- the GPU's float32 matrix-multiply throughput (TF32 off, as the fits run),
  the yardstick of the GFLOP/s figures;
- wall time per epoch of step 1 and step 2 at the paper configuration
  (72,000 rows of 2 x 100 columns, hidden 512, widths 100, batch 256,
  ``device="cuda"``), the skorch-managed loop against a bare torch loop over
  the same modules on the GPU, epoch for epoch in alternation, as
  ``speed.py`` does on the CPU;
- the whole paper configuration (50 + 30 epochs) fitted on the GPU, and the
  same with ``compile=True`` (compiling included), if ``--budget`` seconds
  leave room for it after the first fit (``--fits`` picks one of the two);
- of the first of these fits: the probes (shared block on Y_c and Y_s1, the
  specific block of modality 1 on Y_s1 and Y_c), as ``paper_synthetic.py``
  measures them on the CPU; the model saved and loaded on the CPU
  (``load(path, device="cpu")``), and the largest difference of its
  transform from the GPU's; transform throughput on the GPU, in rows per
  second.

Run: python benchmarks/speed_cuda.py [--budget 300] [--fits both] [--save-model DIR]
Writes benchmarks/results/speed_cuda.json (or ``--output``).
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from speed import (PAPER, RESULTS, BareTorchLoop, interleaved_epochs, matmul_gflops,
                   probes, skorch_epoch, step_modules, step_products, timed_fit)
from sklearn_dssl import DisentangledSSL, load, save
from sklearn_dssl._training import as_tensor
from sklearn_dssl.datasets import make_paper_synthetic

EPOCHS = {"shared": 50, "specific": 30}


def epoch_seconds(net):
    """Median wall time of a fitted skorch net's epochs after the first, from its history."""
    return float(np.median(net.history[1:, "dur"])) if len(net.history) > 1 else None


def loaded_on_the_cpu(model, X, save_dir=None):
    """Save the GPU-fitted ``model``, load it with ``device="cpu"``: the largest
    difference of its transform of ``X`` from the GPU's, and the file's size."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(save_dir or tmp) / "disentangledssl_cuda_paper.zip")
        cpu = load(path, device="cpu")
        gpu_Z, cpu_Z = model.transform(X), cpu.transform(X)
        return {"rows": len(X), "net_device_after_load": str(cpu.shared_net_.device),
                "max_abs_difference": float(np.abs(gpu_Z - cpu_Z).max()),
                "max_abs_value": float(np.abs(gpu_Z).max()),
                "file_bytes": path.stat().st_size}


def gpu_operations_per_step(bare, steps=3):
    """Kernels, copies and fills the GPU runs per training step of a
    :class:`speed.BareTorchLoop`, counted by torch's profiler."""
    batches = iter(bare.batches())
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            bare.step(next(batches)[0])
        torch.cuda.synchronize()
    return sum(event.device_type == DeviceType.CUDA for event in prof.events()) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per step and loop, after one warm-up epoch")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds this run may take; the compiled paper fit is left "
                             "out if it would not fit")
    parser.add_argument("--output", type=Path, default=RESULTS / "speed_cuda.json")
    parser.add_argument("--fits", choices=["both", "uncompiled", "compiled"], default="both",
                        help="which paper fits to time")
    parser.add_argument("--save-model", type=Path, default=None,
                        help="keep the saved GPU-fitted paper model in this folder")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU; speed.py measures the CPU")
    began = time.perf_counter()
    device = "cuda"

    report = {
        "machine": {"gpu": torch.cuda.get_device_name(), "cuda": torch.version.cuda,
                    "torch": torch.__version__, "processor": platform.machine(),
                    "tf32_matmul": torch.backends.cuda.matmul.allow_tf32},
        "config": {**PAPER, "n_train": 72000, "device": device},
    }

    def write():
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))

    peak = matmul_gflops(n=8192, device=device)
    report["matmul_gflops"] = peak
    print(f"float32 matrix multiply: {peak:,.0f} GFLOP/s", flush=True)

    data = make_paper_synthetic(n_samples=90000, random_state=0)
    X_train = data.data[:72000]
    X = as_tensor(X_train, device)
    model = DisentangledSSL(modalities=data.modalities, max_epochs_shared=1,
                            max_epochs_specific=1, random_state=0, device=device, **PAPER)
    report["first_fit_1_plus_1_epochs_seconds"] = timed_fit(model, X_train)

    torch.manual_seed(0)
    X_cpu = as_tensor(X_train, "cpu")
    (m1, c1), (m2, c2) = step_modules(X_cpu)
    steps = {"shared": (model.shared_net_, m1, c1), "specific": (model.specific_net_, m2, c2)}
    batches = 72000 // PAPER["batch_size"]
    # counted on the CPU, before the modules move: the operations are the device's too
    flops = {step: step_products(module, criterion, X_cpu)[0] * batches
             for step, (_, module, criterion) in steps.items()}
    for step, (net, module, criterion) in steps.items():
        bare = BareTorchLoop(module.to(device), criterion.to(device), X, args.epochs)
        bare.epoch()  # warm-up, as the skorch net's first epoch
        times = interleaved_epochs({"skorch": lambda: skorch_epoch(net, X),
                                    "bare": bare.epoch}, args.epochs)
        skorch_s, bare_s = (float(np.median(times[k])) for k in ("skorch", "bare"))
        report[step] = {
            "epoch_seconds": skorch_s, "bare_torch_epoch_seconds": bare_s,
            "skorch_over_bare_torch": float(np.median(times["skorch"] / times["bare"])),
            "gflop_per_epoch": flops[step] / 1e9,
            "achieved_gflops": flops[step] / skorch_s / 1e9,
            "fraction_of_matmul": flops[step] / skorch_s / 1e9 / peak,
        }
        r = report[step]
        r["gpu_operations_per_step"] = gpu_operations_per_step(bare)
        print(f"step {step}: {r['gpu_operations_per_step']:.0f} GPU operations per training "
              f"step, {1e3 * bare_s / batches:.2f} ms per step", flush=True)
        print(f"step {step}: {skorch_s:.2f} s/epoch (bare torch {bare_s:.2f} s, ratio "
              f"{r['skorch_over_bare_torch']:.3f}); {r['achieved_gflops']:.0f} GFLOP/s = "
              f"{100 * r['fraction_of_matmul']:.2f}% of matmul", flush=True)
        write()
    report["paper_fit_seconds_estimated"] = sum(
        EPOCHS[step] * report[step]["epoch_seconds"] for step in EPOCHS)

    compiles = {"both": [False, True], "uncompiled": [False], "compiled": [True]}[args.fits]
    for later, compile in enumerate(compiles):
        key = "paper_fit_compiled" if compile else "paper_fit"
        left = args.budget - (time.perf_counter() - began)
        if later and left < 1.5 * report["paper_fit_seconds"]:
            # the compiled fit takes at most the uncompiled one's time, plus compiling
            report[f"{key}_seconds"] = None
            print(f"compiled paper fit left out: {left:.0f} s of the budget left", flush=True)
            continue
        full = DisentangledSSL(modalities=data.modalities, random_state=0, device=device,
                               compile=compile, **PAPER)
        report[f"{key}_seconds"] = seconds = timed_fit(full, X_train)
        report[f"{key}_epoch_seconds"] = {"shared": epoch_seconds(full.shared_net_),
                                          "specific": epoch_seconds(full.specific_net_)}
        print(f"paper configuration fitted on the GPU{' compiled' * compile} in {seconds:.0f} s"
              f"{' (compiling included)' * compile}; epochs {report[f'{key}_epoch_seconds']}",
              flush=True)
        write()
        if later:
            continue
        start = time.perf_counter()
        full.transform(data.data)
        report["transform_rows_per_second"] = len(data.data) / (time.perf_counter() - start)
        report["loaded_on_the_cpu"] = loaded_on_the_cpu(full, data.data[72000:74000],
                                                        args.save_model)
        print(f"transform: {report['transform_rows_per_second']:,.0f} rows/s; saved and "
              f"loaded on the CPU: {report['loaded_on_the_cpu']}", flush=True)
        report["probes"] = {"compile": compile, **probes(full, data)}
        print(f"probes of the GPU fit: {report['probes']}", flush=True)
        write()
    report["run_seconds"] = time.perf_counter() - began
    write()


if __name__ == "__main__":
    main()
