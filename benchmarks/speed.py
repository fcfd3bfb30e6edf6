"""Training and inference speed of DisentangledSSL at the paper's configuration.

Measured side by side in one run, so that ratios hold on a shared, noisy
machine:

- the matrix-multiply throughput of this machine (float32 GEMM, torch's
  threads; the best timing, before and after the epochs), by torch's BLAS
  and by oneDNN: the better of the two is the yardstick for everything else;
- wall time per epoch of step 1 and step 2 at the paper configuration
  (72,000 rows of 2 x 100 columns, hidden 512, widths 100, batch 256) and the
  GFLOP/s this achieves, from the matrix products of one training step
  counted by torch's FlopCounterMode;
- the skorch-managed loop against a bare torch loop over the same modules,
  criterion, batches and optimiser, epoch for epoch in alternation (the
  median of the per-epoch ratios);
- the same skorch loop with ``compile=True`` (each training step compiled
  by torch.compile), in the same alternation: its epoch time, GFLOP/s and
  ratio to the uncompiled loop;
- the ceiling of that figure at this batch size: the GFLOP/s of the
  encoders' forward and backward passes alone, over an epoch's batches
  (no augmentation, sampling, loss or optimiser);
- the matrix products of one training step alone: every product the step
  computes, recorded with its shapes and strides and replayed on random
  operands, so that the products' own speed at these shapes is told apart
  from everything around them;
- transform throughput in rows per second.

With ``--full`` it also fits the whole paper configuration (50 + 30 epochs),
without and with ``compile=True`` (compiling included), and reports the
paper's probes of both fits (as ``paper_synthetic.py`` computes them), so
that speed is never bought with quality.

With ``--compile-cost`` it measures only what compiling costs a fit: 1 + 1
epochs at the paper configuration, uncompiled, compiled with torch's
compile cache empty (a new process with a cache folder of its own), and
compiled again in that process with the cache filled; the figures are
added to an existing speed.json as ``compile_cost``.

With ``--kernels`` it measures only what oneDNN's products gain: one
linear layer's forward and backward pass by each library over a range of
shapes (where oneDNN's cost per call is repaid), small fits with oneDNN as
used and for every layer against torch's BLAS, and epochs of both steps
with the encoders' layers on oneDNN and on torch's BLAS, alternated,
uncompiled and compiled; added to speed.json as ``kernels``.

With ``--quick`` it is a smoke run: 5,000 rows, one timed epoch, nothing
compiled, written to speed_quick.json; its figures say only that the script
runs.

Run: python benchmarks/speed.py [--full] [--epochs 4] | --compile-cost | --kernels
[--output NAME] | --quick
Writes benchmarks/results/speed.json (or ``--output``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.base import clone
from torch.utils._python_dispatch import TorchDispatchMode  # as FlopCounterMode uses
from torch.utils.flop_counter import FlopCounterMode

from paper_synthetic import RESULTS, blocks_of, shared_probe, specific_probe, split_rows
from sklearn_dssl import DisentangledSSL
from sklearn_dssl import _kernels
from sklearn_dssl._kernels import onednn_linear
from sklearn_dssl._modules import HEADS, SharedEncoders, SpecificEncoders, TabularAugmenter
from sklearn_dssl._losses import SharedObjective, SpecificObjective
from sklearn_dssl._training import TensorBatches, as_tensor
from sklearn_dssl.datasets import make_paper_synthetic

PAPER = dict(n_shared=100, n_specific=100, hidden_layer_sizes=(512,), batch_size=256,
             beta=0.1, ortho_weight=1.0, lr=1e-4)


def best_seconds(fn, repeats, rounds, warmup=1, sync=lambda: None):
    """Seconds per call of ``fn()``: the best of ``rounds`` timings of ``repeats`` calls.

    The best, not the mean: the figure is what the hardware can do, and a
    shared machine only ever slows a round down. ``sync`` waits for queued
    work (a GPU's) before and after each round.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(rounds):
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def matmul_gflops(n=2048, repeats=10, rounds=5, device="cpu", product=torch.mm):
    """Float32 GEMM throughput of ``product(a, b)`` on ``device``, from :func:`best_seconds`."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    seconds = best_seconds(lambda: product(a, b), repeats, rounds, warmup=3,
                           sync=lambda: finish(a))
    return 2 * n**3 / seconds / 1e9


def cpu_matmul_gflops(**timing):
    """This CPU's float32 GEMM throughput by each library torch offers for it.

    ``torch_mm`` is torch's BLAS (MKL in the official wheels), ``onednn``
    oneDNN, which the encoders' layers use on AMD processors with AVX-512
    (``sklearn_dssl._kernels``). MKL picks its kernels by vendor and runs
    AVX2 ones there, where oneDNN reaches about twice its rate; on Intel
    processors MKL is the faster. The better of the two is the machine's
    yardstick. ``timing`` goes to :func:`matmul_gflops` (``repeats``, ``rounds``).
    """
    rates = {"torch_mm": matmul_gflops(**timing)}
    if _kernels.HAS_ONEDNN:
        rates["onednn"] = matmul_gflops(product=lambda a, b: onednn_linear(a, b, None),
                                        **timing)
    return rates


def finish(tensor):
    """Wait for the work queued on ``tensor``'s device (CUDA runs asynchronously)."""
    if tensor.is_cuda:
        torch.cuda.synchronize(tensor.device)


def step_modules(X, head="vmf"):
    """The two steps' modules and criteria, as DisentangledSSL builds them."""
    aug = TabularAugmenter(X.mean(0), X.std(0, correction=0))
    shared = SharedEncoders((100, 100), PAPER["hidden_layer_sizes"], 100, aug)
    specific = SpecificEncoders(shared, PAPER["hidden_layer_sizes"], 100, aug, looks_linear=True)
    return (
        (shared, SharedObjective(HEADS[head](1000.0), 0.07, PAPER["beta"])),
        (specific, SpecificObjective(0.07, PAPER["ortho_weight"])),
    )


MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default,
           torch.ops.aten.bmm.default, torch.ops.aten.baddbmm.default,
           torch.ops.sklearn_dssl.onednn_linear.default}  # the encoders' layers on a CPU


class RecordMatmuls(TorchDispatchMode):
    """Record every matrix product computed inside the block: (op, operands' layouts)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            self.calls.append((func, [(a.shape, a.stride()) if isinstance(a, torch.Tensor)
                                      else a for a in args]))
        return func(*args, **(kwargs or {}))


def step_products(module, criterion, X):
    """The matrix products of one training step: their operations, and the calls.

    Returns the step's floating-point operations, as torch's FlopCounterMode
    counts them (products; convolutions and attention, absent here, too),
    and every product computed, as ``(op, layouts)`` for :func:`matmuls_alone`.
    """
    module.train()
    batch = X[: PAPER["batch_size"]]
    with RecordMatmuls() as recorder, FlopCounterMode(display=False) as counter:
        criterion(module(batch)).backward()
    module.zero_grad()
    return counter.get_total_flops(), recorder.calls


class BareTorchLoop:
    """The same training as the skorch net, written as a plain torch loop."""

    def __init__(self, module, criterion, X, epochs):
        self.module, self.criterion, self.X = module, criterion, X
        params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=PAPER["lr"], fused=True)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs)

    def batches(self):
        return TensorBatches(self.X, PAPER["batch_size"], shuffle=True, drop_last=True)

    def step(self, xb):
        """One training step on the batch ``xb``."""
        self.optimizer.zero_grad()
        self.criterion(self.module(xb)).backward()
        self.optimizer.step()

    def epoch(self):
        """Train one epoch; return its wall time in seconds."""
        finish(self.X)
        start = time.perf_counter()
        self.module.train()
        for xb, _ in self.batches():
            self.step(xb)
        self.scheduler.step()
        finish(self.X)
        return time.perf_counter() - start


def encoder_pass(module, batch):
    """The encoders' share of one training step: their forward and backward alone.

    No augmentation, posterior sampling, loss or optimiser step: the sum of
    the (trainable) embeddings is the loss. Step 2's module encodes its two
    views in one pass, so it gets the batch twice.
    """
    if isinstance(module, SpecificEncoders):
        specific, _ = module.encode(torch.cat([batch, batch]))
        embeddings = specific
    else:
        embeddings = module.encode(batch)
    sum(e.sum() for e in embeddings).backward()


def encoder_floor(module, X, rounds=3):
    """GFLOP/s of :func:`encoder_pass` over an epoch's batches (median of ``rounds``).

    Training spends at least this time on every epoch, so this rate is the
    most its whole step can reach at this batch size on this machine.
    """
    module.train()
    size = PAPER["batch_size"]
    batches = [X[i : i + size] for i in range(0, len(X) - size + 1, size)]
    with FlopCounterMode(display=False) as counter:
        encoder_pass(module, batches[0])
    flops = counter.get_total_flops() * len(batches)
    seconds = []
    for _ in range(rounds + 1):  # the first round warms up
        start = time.perf_counter()
        for batch in batches:
            encoder_pass(module, batch)
        seconds.append(time.perf_counter() - start)
    module.zero_grad()
    return flops / float(np.median(seconds[1:])) / 1e9


def matmuls_alone(flops, calls, rounds=200):
    """GFLOP/s of one training step's matrix products, replayed alone.

    ``flops`` and ``calls`` are :func:`step_products`'s. The products are
    replayed with their recorded shapes and strides (transposed operands
    stay transposed) on random operands; the best of three timings of
    ``rounds`` replays, after one that warms up. This is what the products
    cost at these shapes, without the operations between them.
    """
    calls = [(func, [torch.empty_strided(*layout).normal_() if isinstance(layout, tuple)
                     else layout for layout in layouts])
             for func, layouts in calls]

    def replay():
        for func, args in calls:
            func(*args)

    return flops / best_seconds(replay, repeats=rounds, rounds=3) / 1e9


def encoders_only_fraction(report, peak):
    """The ceiling of the paper fit's fraction of matmul: 50 + 30 epochs at the
    encoders-only rates of each step (their share of the fit's operations)."""
    flops = {step: report[step]["gflop_per_epoch"] for step in ("shared", "specific")}
    seconds = (50 * flops["shared"] / report["shared"]["encoders_only_gflops"]
               + 30 * flops["specific"] / report["specific"]["encoders_only_gflops"])
    return (50 * flops["shared"] + 30 * flops["specific"]) / seconds / peak


def timed_fit(model, X):
    """Fit ``model`` on ``X``; return the wall time, the device's queued work included."""
    start = time.perf_counter()
    model.fit(X)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def skorch_epoch(net, X):
    """Train the fitted skorch ``net`` one more epoch; return its wall time.

    As ``partial_fit`` does, the callbacks' ``on_train_begin`` and
    ``on_train_end`` bracket the epoch (a fitted net's LR scheduler is built
    again at the one and dropped at the other), outside the timing.
    """
    net.notify("on_train_begin", X=X, y=None)
    finish(X)
    start = time.perf_counter()
    net.fit_loop(X, None, epochs=1)
    finish(X)
    seconds = time.perf_counter() - start
    net.notify("on_train_end", X=X, y=None)
    return seconds


def interleaved_epochs(loops, rounds):
    """One epoch of each loop in turn, ``rounds`` times: ``{name: seconds per epoch}``.

    ``loops`` maps names to functions that train one epoch and return its
    wall time. The machine's speed drifts (other tenants, frequency
    scaling); alternating the loops epoch by epoch makes their ratios
    robust to it.
    """
    seconds = {name: [] for name in loops}
    for _ in range(rounds):
        for name, epoch in loops.items():
            seconds[name].append(epoch())
    return {name: np.array(times) for name, times in seconds.items()}


# one process: an uncompiled fit, then two compiled ones (the first fills the cache)
_COMPILE_COST_SCRIPT = """
import json, time
from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic
data = make_paper_synthetic(n_samples=90000, random_state=0)
X = data.data[:72000]
seconds = []
for compile in (False, True, True):
    model = DisentangledSSL(modalities=data.modalities, max_epochs_shared=1,
                            max_epochs_specific=1, random_state=0, device="cpu",
                            compile=compile)
    start = time.perf_counter()
    model.fit(X)
    seconds.append(time.perf_counter() - start)
print(json.dumps(seconds))
"""


def compile_cost():
    """Seconds of a 1 + 1 epoch fit: uncompiled, compiled on an empty cache, on a filled one.

    Runs in a new process whose TorchInductor cache folder is new and empty.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", _COMPILE_COST_SCRIPT], env=env,
                             capture_output=True, text=True, check=True).stdout
    uncompiled, empty_cache, filled_cache = json.loads(out.strip().splitlines()[-1])
    return {"epochs": [1, 1], "uncompiled_seconds": uncompiled,
            "compiled_empty_cache_seconds": empty_cache,
            "compiled_filled_cache_seconds": filled_cache}


LAYER_SHAPES = [(32, 6, 8), (64, 50, 64), (256, 20, 512), (256, 512, 10), (128, 100, 512),
                (256, 100, 256), (256, 100, 512), (256, 512, 100), (512, 100, 512),
                (256, 200, 512), (1024, 100, 512)]


def layer_pass_microseconds(product, rows, n_in, n_out, rounds=5):
    """Best time of one linear layer's forward and backward pass by ``product``."""
    x = torch.randn(rows, n_in, requires_grad=True)
    weight = torch.randn(n_out, n_in, requires_grad=True)
    bias = torch.randn(n_out, requires_grad=True)
    grad = torch.randn(rows, n_out)
    repeats = min(2000, max(20, int(2e8 / (rows * n_in * n_out + 1e5))))
    return 1e6 * best_seconds(lambda: product(x, weight, bias).backward(grad), repeats, rounds)


def layer_comparison():
    """One layer's forward and backward pass by torch's BLAS and by oneDNN, over shapes.

    Where oneDNN's cost per call is repaid: ``sklearn_dssl._kernels`` uses it
    from ``ONEDNN_MIN_MULTIPLY_ADDS`` multiply-adds per product.
    """
    rows = []
    for shape in LAYER_SHAPES:
        blas = layer_pass_microseconds(torch.nn.functional.linear, *shape)
        onednn = layer_pass_microseconds(onednn_linear, *shape)
        rows.append({"rows_inputs_outputs": list(shape),
                     "multiply_adds": int(np.prod(shape)),
                     "blas_microseconds": blas, "onednn_microseconds": onednn,
                     "onednn_over_blas": onednn / blas})
        print(f"layer {shape}: BLAS {blas:.0f} us, oneDNN {onednn:.0f} us "
              f"({onednn / blas:.2f})", flush=True)
    return rows


SMALL_FITS = {
    "1,000 x (6 + 6), hidden 8, batch 32": (
        dict(n_samples=1000, n_latent=2, n_features=6),
        dict(n_shared=2, n_specific=2, hidden_layer_sizes=(8,), batch_size=32)),
    "5,000 x (20 + 20), hidden 512, batch 256": (
        dict(n_samples=5000, n_latent=10, n_features=20),
        dict(n_shared=10, n_specific=10)),
    "5,000 x (50 + 50), hidden 64, batch 64": (
        dict(n_samples=5000, n_latent=25, n_features=50),
        dict(n_shared=16, n_specific=16, hidden_layer_sizes=(64,), batch_size=64)),
}


def small_fit_comparison(rounds=3):
    """Small fits (3 + 3 epochs) with oneDNN as used where it pays (layers above
    the threshold), and for every layer, against BLAS.

    The fits of each configuration alternate ``rounds`` times, after one
    untimed fit; the medians of the per-round ratios to the BLAS fit.
    """
    settings = {"blas": (False, _kernels.ONEDNN_MIN_MULTIPLY_ADDS),
                "as_used": (True, _kernels.ONEDNN_MIN_MULTIPLY_ADDS),
                "every_layer": (True, 1)}
    report = {}
    for name, (data_params, params) in SMALL_FITS.items():
        X = make_paper_synthetic(random_state=0, **data_params).data

        def model():
            return DisentangledSSL(lr=1e-3, max_epochs_shared=3, max_epochs_specific=3,
                                   random_state=0, device="cpu", **params)

        model().fit(X)  # untimed: the first fit of a configuration warms caches up
        seconds = {setting: [] for setting in settings}
        for _ in range(rounds):
            for setting, (onednn, threshold) in settings.items():
                _kernels.USE_ONEDNN, _kernels.ONEDNN_MIN_MULTIPLY_ADDS = onednn, threshold
                seconds[setting].append(timed_fit(model(), X))
        # back to what the package does on this machine
        _kernels.USE_ONEDNN = _kernels._onednn_pays()
        _kernels.ONEDNN_MIN_MULTIPLY_ADDS = settings["as_used"][1]
        blas = np.array(seconds["blas"])
        report[name] = {"blas_seconds": float(np.median(blas)),
                        **{f"{s}_over_blas": float(np.median(np.array(seconds[s]) / blas))
                           for s in ("as_used", "every_layer")}}
        print(f"{name}: {report[name]}", flush=True)
    return report


def kernel_comparison(X_train, modalities, epochs):
    """Epoch times with the encoders' layers on oneDNN against torch's BLAS.

    Two nets of each step, one per library, trained epoch by epoch in
    alternation, uncompiled and compiled: the median epoch time of each and
    the median of the per-epoch ratios (oneDNN / BLAS).
    """
    X = as_tensor(X_train, "cpu")
    report = {}
    for compile in (False, True):
        models = {}
        for onednn in (False, True):
            # the switch that sklearn_dssl._kernels.linear reads on every call;
            # a benchmark's own, not a user setting
            _kernels.USE_ONEDNN = onednn
            models[onednn] = DisentangledSSL(
                modalities=modalities, max_epochs_shared=1, max_epochs_specific=1,
                random_state=0, device="cpu", compile=compile, **PAPER).fit(X_train)

        def epoch(onednn, step):
            _kernels.USE_ONEDNN = onednn
            return skorch_epoch(getattr(models[onednn], step), X)

        for step in ("shared", "specific"):
            for onednn in (False, True):
                epoch(onednn, f"{step}_net_")  # compiles again (fit released its graphs)
            times = interleaved_epochs(
                {onednn: (lambda o=onednn: epoch(o, f"{step}_net_")) for onednn in (False, True)},
                epochs)
            key = f"{step}_compiled" if compile else step
            report[key] = {"blas_epoch_seconds": float(np.median(times[False])),
                           "onednn_epoch_seconds": float(np.median(times[True])),
                           "onednn_over_blas": float(np.median(times[True] / times[False])),
                           "onednn_over_blas_per_epoch": (times[True] / times[False]).tolist()}
            print(f"{key}: oneDNN / BLAS {report[key]['onednn_over_blas']:.3f}", flush=True)
    _kernels.USE_ONEDNN = _kernels._onednn_pays()
    return report


def probes(model, data):
    """The paper's probes of ``model``'s blocks, as paper_synthetic.py reports them."""
    (X_train, X_test), (y_train, y_test), _ = split_rows(data)
    train, test = blocks_of(model, X_train, X_test)
    shared = shared_probe(train, test, y_train, y_test)
    specific = specific_probe(train, test, y_train, y_test)
    return {"shared": {"Y_c": shared["shared"], "leakage_Y_s1": shared["specific_m1"]},
            "specific_m1": {"Y_s1": specific["specific_m1"],
                            "leakage_Y_c": specific["shared"]}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4,
                        help="timed epochs per step and loop, after one warm-up epoch")
    parser.add_argument("--full", action="store_true", help="also fit 50 + 30 epochs")
    parser.add_argument("--head", default="vmf", choices=sorted(HEADS))
    parser.add_argument("--compile-cost", action="store_true",
                        help="only measure what compiling costs a fit, into speed.json")
    parser.add_argument("--kernels", action="store_true",
                        help="only compare oneDNN's products with torch's BLAS (one layer "
                             "over shapes, small fits, epochs), into speed.json")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 5,000 rows, one timed epoch, nothing compiled, "
                             "into speed_quick.json")
    parser.add_argument("--output", default=None, metavar="NAME",
                        help="results file in benchmarks/results (default speed.json), e.g. "
                             "to keep another machine's measurements beside it")
    args = parser.parse_args()
    output = RESULTS / (args.output or ("speed_quick.json" if args.quick else "speed.json"))
    if args.quick and (args.full or args.compile_cost or args.kernels):
        parser.error("--quick runs alone")
    RESULTS.mkdir(parents=True, exist_ok=True)  # before the measuring, not after

    if args.compile_cost:
        path = output
        report = json.loads(path.read_text())
        report["compile_cost"] = cost = compile_cost()
        print(f"1 + 1 epochs: {cost['uncompiled_seconds']:.1f} s uncompiled, "
              f"{cost['compiled_empty_cache_seconds']:.1f} s compiled with an empty cache, "
              f"{cost['compiled_filled_cache_seconds']:.1f} s with the cache filled")
        path.write_text(json.dumps(report, indent=2))
        return

    data = make_paper_synthetic(n_samples=5000 if args.quick else 90000, random_state=0)
    (X_train, _), _, _ = split_rows(data)
    epochs = 1 if args.quick else args.epochs
    # a smoke run times everything once
    timing = dict(repeats=1, rounds=1) if args.quick else {}
    if args.kernels:
        if not _kernels.HAS_ONEDNN:
            raise SystemExit("--kernels: this torch has no oneDNN")
        path = output
        report = json.loads(path.read_text())
        report["kernels"] = {"layers": layer_comparison(),
                             "min_multiply_adds": _kernels.ONEDNN_MIN_MULTIPLY_ADDS,
                             "small_fits": small_fit_comparison(),
                             **kernel_comparison(X_train, data.modalities, epochs)}
        path.write_text(json.dumps(report, indent=2))
        return
    X = as_tensor(X_train, "cpu")
    report = {
        "machine": {"processor": platform.processor() or platform.machine(),
                    "cpu": _kernels.cpuinfo_field("model name"), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "config": {**PAPER, "n_train": len(X_train), "head": args.head},
    }
    rates = cpu_matmul_gflops(**timing)
    peak = max(rates.values())
    print("matrix multiply: " + ", ".join(f"{r:.1f} GFLOP/s ({name})" for name, r in rates.items()),
          flush=True)

    # skorch-managed training (one warm-up epoch per step, then further
    # epochs of the fitted nets) interleaved with a bare torch loop
    model = DisentangledSSL(modalities=data.modalities, max_epochs_shared=1,
                            max_epochs_specific=1, random_state=0,
                            head=args.head, device="cpu", **PAPER)
    model.fit(X_train)
    # the same, compiled: its first epoch of each step includes the compiling
    compiled = None if args.quick else clone(model).set_params(compile=True)
    if compiled is not None:
        report["compiled_first_epochs_seconds"] = timed_fit(compiled, X_train)
    torch.manual_seed(0)
    (m1, c1), (m2, c2) = step_modules(X, args.head)
    batches = len(X_train) // PAPER["batch_size"]
    for step, (module, criterion) in (("shared", (m1, c1)), ("specific", (m2, c2))):
        net = getattr(model, f"{step}_net_")
        bare = BareTorchLoop(module, criterion, X, epochs)
        bare.epoch()  # warm-up, as the skorch net's first epoch
        loops = {"skorch": lambda: skorch_epoch(net, X), "bare": bare.epoch}
        if compiled is not None:
            compiled_net = getattr(compiled, f"{step}_net_")
            skorch_epoch(compiled_net, X)  # compiles again: fit released its graphs
            loops["compiled"] = lambda: skorch_epoch(compiled_net, X)
        times = interleaved_epochs(loops, epochs)
        skorch, plain = times["skorch"], times["bare"]
        skorch_epoch_s, bare_epoch = float(np.median(skorch)), float(np.median(plain))
        step_flops, products = step_products(module, criterion, X)
        flops = step_flops * batches
        report[step] = r = {
            "epoch_seconds": skorch_epoch_s,
            "bare_torch_epoch_seconds": bare_epoch,
            "skorch_over_bare_torch": float(np.median(skorch / plain)),
            "skorch_over_bare_torch_per_epoch": (skorch / plain).tolist(),
            "gflop_per_epoch": flops / 1e9,
            "achieved_gflops": flops / skorch_epoch_s / 1e9,
        }
        compiled_summary = ""
        if compiled is not None:
            compiled_epoch = float(np.median(times["compiled"]))
            r["compiled_epoch_seconds"] = compiled_epoch
            r["compiled_over_skorch"] = float(np.median(times["compiled"] / skorch))
            r["compiled_over_skorch_per_epoch"] = (times["compiled"] / skorch).tolist()
            r["compiled_achieved_gflops"] = flops / compiled_epoch / 1e9
            compiled_summary = (f"; compiled {compiled_epoch:.2f} s, ratio "
                                f"{r['compiled_over_skorch']:.3f}, "
                                f"{r['compiled_achieved_gflops']:.1f} GFLOP/s")
        r["encoders_only_gflops"] = encoder_floor(module, X, rounds=1 if args.quick else 3)
        r["matmuls_alone_gflops"] = matmuls_alone(step_flops, products,
                                                  rounds=1 if args.quick else 200)
        print(f"step {step}: {skorch_epoch_s:.2f} s/epoch (bare torch {bare_epoch:.2f} s, "
              f"ratio {r['skorch_over_bare_torch']:.3f}{compiled_summary}); "
              f"{r['achieved_gflops']:.1f} GFLOP/s; the encoders' passes "
              f"alone: {r['encoders_only_gflops']:.1f} GFLOP/s; its matrix products "
              f"alone: {r['matmuls_alone_gflops']:.1f} GFLOP/s", flush=True)
    # the paper's epochs cover 72,000 rows (a --quick run's, fewer)
    paper_epoch = 72000 / len(X_train)
    estimate = paper_epoch * (50 * report["shared"]["epoch_seconds"]
                              + 30 * report["specific"]["epoch_seconds"])
    # measured again after the training epochs; the yardstick is the better of the two
    rates = {name: max(rate, again) for (name, rate), again in
             zip(rates.items(), cpu_matmul_gflops(**timing).values())}
    peak = max(rates.values())
    print(f"matrix multiply, best of both measurements: {peak:.1f} GFLOP/s ("
          + ", ".join(f"{name} {r:.1f}" for name, r in rates.items()) + ")", flush=True)
    report["matmul_gflops"] = peak
    report["matmul_gflops_by_library"] = rates
    for step in ("shared", "specific"):
        r = report[step]
        r["fraction_of_matmul"] = r["achieved_gflops"] / peak
        if compiled is not None:
            r["compiled_fraction_of_matmul"] = r["compiled_achieved_gflops"] / peak
        r["encoders_only_fraction_of_matmul"] = r["encoders_only_gflops"] / peak
        r["matmuls_alone_fraction_of_matmul"] = r["matmuls_alone_gflops"] / peak
        print(f"step {step}: {100 * r['fraction_of_matmul']:.0f}% of matmul"
              + (f" (compiled {100 * r['compiled_fraction_of_matmul']:.0f}%)"
                 if compiled is not None else "")
              + "; its encoders' passes alone, the ceiling at this batch size: "
              f"{100 * r['encoders_only_fraction_of_matmul']:.0f}%", flush=True)
    report["paper_fit_seconds_estimated"] = estimate
    flops = paper_epoch * (50 * report["shared"]["gflop_per_epoch"]
                           + 30 * report["specific"]["gflop_per_epoch"])
    report["paper_fit_fraction_of_matmul"] = flops / estimate / peak
    report["paper_fit_encoders_only_fraction_of_matmul"] = encoders_only_fraction(report, peak)
    compiled_summary = ""
    if compiled is not None:
        compiled_estimate = paper_epoch * (50 * report["shared"]["compiled_epoch_seconds"]
                                           + 30 * report["specific"]["compiled_epoch_seconds"])
        report["paper_fit_compiled_seconds_estimated"] = compiled_estimate
        report["paper_fit_compiled_fraction_of_matmul"] = flops / compiled_estimate / peak
        compiled_summary = (f" (compiled: {compiled_estimate:.0f} s, "
                            f"{100 * report['paper_fit_compiled_fraction_of_matmul']:.0f}%)")
    print(f"paper configuration (50 + 30 epochs), from epoch times: {estimate:.0f} s, "
          f"{flops / estimate:.1f} GFLOP/s = {100 * flops / estimate / peak:.0f}% of matmul"
          f"{compiled_summary}; ceiling at the encoders-only rates: "
          f"{100 * report['paper_fit_encoders_only_fraction_of_matmul']:.0f}%")

    start = time.perf_counter()
    model.transform(data.data)
    seconds = time.perf_counter() - start
    report["transform_rows_per_second"] = data.data.shape[0] / seconds
    print(f"transform: {data.data.shape[0] / seconds:,.0f} rows/s", flush=True)

    if args.full:
        full = DisentangledSSL(modalities=data.modalities, random_state=0, head=args.head,
                               device="cpu", **PAPER)
        report["paper_fit_seconds"] = timed_fit(full, X_train)
        report["paper_fit_probes"] = probes(full, data)
        print(f"paper configuration fitted in {report['paper_fit_seconds']:.0f} s; probes: "
              f"{report['paper_fit_probes']}", flush=True)
        full_compiled = clone(full).set_params(compile=True)
        report["paper_fit_compiled_seconds"] = timed_fit(full_compiled, X_train)
        report["paper_fit_compiled_probes"] = probes(full_compiled, data)
        # the compile cache holds the graphs compiled above: nearly free to compile
        print(f"compiled: {report['paper_fit_compiled_seconds']:.0f} s, compiling from a "
              f"filled cache included; probes: {report['paper_fit_compiled_probes']}",
              flush=True)

    output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
