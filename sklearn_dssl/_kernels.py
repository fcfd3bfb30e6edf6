"""The matrix products of the encoders' linear layers, on oneDNN where it pays.

On a CPU, torch computes float32 ``nn.Linear`` layers with its BLAS (MKL in
the official wheels), which chooses its kernels by processor vendor: on AMD
processors with AVX-512 it runs AVX2 ones, at about half the machine's
float32 rate. oneDNN, which torch also ships, chooses by instruction set.
On 2 cores of an AMD EPYC (Zen 5) it multiplied 2048 x 2048 float32
matrices at 466 to 494 GFLOP/s against 216 to 223 for ``torch.mm``, and
training epochs at the paper configuration took 0.93 to 0.97 (step 1) and
0.77 to 0.83 (step 2) of their time with torch's BLAS (``benchmarks/speed.py``).
On an Intel Xeon, where MKL runs its AVX-512 kernels, the same epochs took
1.19 to 1.28 times as long on oneDNN, and each layer 1.2 to 4.6 times.

:func:`linear` is ``torch.nn.functional.linear`` computed by oneDNN for
2-D float32 tensors on an AMD (or Hygon) x86-64 CPU with AVX-512, its
backward pass included, when the product is large enough to repay oneDNN's
cost per call, and by torch otherwise (other devices, processors, dtypes or
smaller products, or a torch without oneDNN). It is a
custom operator (``torch.library.custom_op``): autograd differentiates it
through its registered backward, ``torch.compile`` calls it as one opaque
kernel, and torch's ``FlopCounterMode`` counts its operations.
"""

import platform
from typing import Optional

import torch
from torch.nn import functional as F
from torch.utils.flop_counter import register_flop_formula


def _has_onednn_linear():
    """Whether torch's oneDNN linear operator works here, on an x86-64 processor.

    Elsewhere (ARM processors, whose torch builds pair oneDNN with other
    libraries) its gain was not measured, and torch's own ``linear`` stays.
    One small product, checked against torch's, guards against a build
    whose operator is missing or refuses dense weights.
    """
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        x, weight = torch.ones(2, 3), torch.arange(12.0).reshape(4, 3)
        product = torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")
        return bool(torch.equal(product, F.linear(x, weight)))
    except (AttributeError, RuntimeError):
        return False


HAS_ONEDNN = _has_onednn_linear()


def cpuinfo_field(name):
    """The first value of field ``name`` in ``/proc/cpuinfo`` (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def _cpu_vendor():
    """The x86 processor's vendor (e.g. ``"AuthenticAMD"``), or ``""`` when unknown.

    Read from ``/proc/cpuinfo`` on Linux; Windows names it at the end of
    ``platform.processor()``. Elsewhere (macOS: Intel processors only) it
    is unknown.
    """
    vendor = cpuinfo_field("vendor_id")
    if vendor:
        return vendor
    processor = platform.processor()
    for vendor in ("AuthenticAMD", "HygonGenuine", "GenuineIntel"):
        if vendor in processor:
            return vendor
    return ""


def _onednn_pays():
    """Whether oneDNN's products beat torch's BLAS here: on processors whose
    AVX-512 MKL leaves unused (AMD's, and Hygon's, derived from them)."""
    try:
        avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    except (AttributeError, RuntimeError):
        return False
    return HAS_ONEDNN and avx512 and _cpu_vendor() in {"AuthenticAMD", "HygonGenuine"}


# The switch :func:`linear` reads on every call.
USE_ONEDNN = _onednn_pays()

# Products smaller than this (rows x inputs x outputs) stay torch's: each
# call to oneDNN through the custom operator costs about 70 us more per
# layer (forward and backward) on a 2-core AMD EPYC, which the faster
# kernels repay from about 6.5 million multiply-adds (a batch of 256
# through a 100 x 256 layer); 2^23 (8.4 million) keeps a margin above that
# break-even, and the paper's layers hold 13 to 26 million.
ONEDNN_MIN_MULTIPLY_ADDS = 1 << 23


# TorchInductor's on-disk cache keys a compiled graph by the operators it
# calls, not by their fake implementations: an operator whose result changes
# shape or layout needs a new name, or graphs cached by an older version of
# the package fail their stride checks.
@torch.library.custom_op("sklearn_dssl::onednn_linear", mutates_args=())
def onednn_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
) -> torch.Tensor:
    """``x @ weight.T + bias`` by oneDNN, for 2-D float32 CPU tensors."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@onednn_linear.register_fake
def _onednn_linear_shape(x, weight, bias):
    return x.new_empty((x.shape[0], weight.shape[0]))


def _save_operands(ctx, inputs, output):
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _weight_gradient(grad, x):
    """``grad.T @ x`` by oneDNN, with the longer side of the result as its columns.

    Both operands are read transposed (the sum runs over the batch); oneDNN
    computed such products of the paper's shapes up to 1.5 times as fast
    with the result's longer side as the "weight" side of its product.
    """
    if grad.shape[1] >= x.shape[1]:
        return onednn_linear(x.t(), grad.t(), None).t()
    return onednn_linear(grad.t(), x.t(), None)


def _onednn_linear_backward(ctx, grad):
    x, weight = ctx.saved_tensors
    # oneDNN reads a transposed view of a strided slice very slowly; one copy
    # of each operand keeps every product below on its fast path
    grad, x = grad.contiguous(), x.contiguous()
    grad_x = grad_weight = grad_bias = None
    if ctx.needs_input_grad[0]:
        grad_x = onednn_linear(grad, weight.t(), None)
    if ctx.needs_input_grad[1]:
        grad_weight = _weight_gradient(grad, x)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        grad_bias = grad.sum(0)
    return grad_x, grad_weight, grad_bias


onednn_linear.register_autograd(_onednn_linear_backward, setup_context=_save_operands)


@register_flop_formula(torch.ops.sklearn_dssl.onednn_linear)
def _onednn_linear_flops(x_shape, weight_shape, *args, out_shape=None, **kwargs):
    """Multiply-adds times two, as torch's ``FlopCounterMode`` counts ``addmm``."""
    return 2 * x_shape[0] * x_shape[1] * weight_shape[0]


def _onednn_applies(x, weight):
    return (
        USE_ONEDNN
        and x.device.type == "cpu"
        # under CPU autocast torch's product casts as autocast says; the
        # custom operator would keep float32 for large products only
        and not torch.is_autocast_enabled("cpu")
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.dim() == 2
        and x.shape[0] * weight.shape[0] * weight.shape[1] >= ONEDNN_MIN_MULTIPLY_ADDS
        and x.layout == torch.strided
        and weight.layout == torch.strided
    )


def linear(x, weight, bias=None):
    """``torch.nn.functional.linear``, by oneDNN for large 2-D float32 CPU products
    where it pays (``USE_ONEDNN``: AMD processors with AVX-512)."""
    if _onednn_applies(x, weight):
        # oneDNN reads strided inputs slowly (a transposed batch about 60 times
        # slower than a copy); an encoder's modality columns are such a slice
        return onednn_linear(x.contiguous(), weight, bias)
    return F.linear(x, weight, bias)


class Linear(torch.nn.Linear):
    """``torch.nn.Linear`` whose product runs through :func:`linear`.

    The same parameters, initialisation and state dict as ``torch.nn.Linear``.
    """

    def forward(self, x):
        return linear(x, self.weight, self.bias)
