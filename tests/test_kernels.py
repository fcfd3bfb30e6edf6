"""The encoders' linear layers: oneDNN's products on a CPU, torch's elsewhere."""

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from sklearn_dssl import _kernels
from sklearn_dssl._kernels import Linear, linear, onednn_linear
from sklearn_dssl._modules import make_mlp
from tests.conftest import TINY_NEURAL, needs_cxx

needs_onednn = pytest.mark.skipif(not _kernels.HAS_ONEDNN, reason="torch built without oneDNN")


@pytest.fixture(autouse=True)
def onednn_in_use(monkeypatch):
    """The layers on oneDNN wherever torch has it, as on the processors where
    it pays (AMD's with AVX-512), whatever this machine's processor."""
    monkeypatch.setattr(_kernels, "USE_ONEDNN", _kernels.HAS_ONEDNN)


class RecordOps(TorchDispatchMode):
    """Names of the operators dispatched inside the block."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def _gradients(fn, x, weight, bias, grad):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias) if t is not None]
    out = fn(*leaves, None) if bias is None else fn(*leaves)
    out.backward(grad)
    return out.detach(), [leaf.grad for leaf in leaves]


def _inputs(rows, n_in, n_out, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, n_in, generator=g), torch.randn(n_out, n_in, generator=g),
            torch.randn(n_out, generator=g), torch.randn(rows, n_out, generator=g))


@needs_onednn
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("n_in, n_out", [(100, 512), (512, 100), (7, 3), (3, 7)])
def test_onednn_linear_and_its_gradients_are_torchs(n_in, n_out, with_bias):
    x, weight, bias, grad = _inputs(33, n_in, n_out)
    bias = bias if with_bias else None
    out, grads = _gradients(onednn_linear, x, weight, bias, grad)
    expected_out, expected_grads = _gradients(F.linear, x, weight, bias, grad)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-4)
    for got, expected in zip(grads, expected_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    assert grads[1].shape == weight.shape


@needs_onednn
def test_onednn_linear_reads_a_column_slice_of_a_wider_batch():
    # an encoder's input is its modality's columns of the batch: a strided view
    wide, weight, bias, grad = _inputs(64, 12, 5)
    weight = weight[:, :7].contiguous()
    results = []
    for fn in (onednn_linear, F.linear):
        leaves = [t.clone().requires_grad_() for t in (wide, weight, bias)]
        x = leaves[0][:, 2:9]
        assert not x.is_contiguous()
        out = fn(x, leaves[1], leaves[2])
        out.backward(grad)
        results.append([out.detach(), *(leaf.grad for leaf in leaves)])
    for got, expected in zip(*results):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


@needs_onednn
def test_onednn_linear_passes_torchs_operator_checks():
    x, weight, bias, _ = _inputs(6, 4, 3)
    torch.library.opcheck(onednn_linear, (x.requires_grad_(), weight.requires_grad_(),
                                          bias.requires_grad_()))


@pytest.fixture
def onednn_for_any_size(monkeypatch):
    monkeypatch.setattr(_kernels, "ONEDNN_MIN_MULTIPLY_ADDS", 1)


@needs_onednn
def test_linear_runs_onednn_for_large_2d_float32_cpu_products_only():
    x, weight, bias, _ = _inputs(256, 100, 512)
    cases = {
        "float32 2-D": (x, weight, True),
        "float64": (x.double(), weight.double(), False),
        "3-D": (x.reshape(2, 128, 100), weight, False),
        "no rows": (x[:0], weight, False),
        "a small product": (x[:64, :50], weight[:64, :50].contiguous(), False),
    }
    for name, (inputs, w, runs_onednn) in cases.items():
        with RecordOps() as ops:
            out = linear(inputs, w, bias[: len(w)].to(w.dtype))
        assert ("onednn_linear" in " ".join(ops.names)) is runs_onednn, name
        torch.testing.assert_close(out, F.linear(inputs, w, bias[: len(w)].to(w.dtype)),
                                   rtol=1e-5, atol=1e-4)


def test_under_cpu_autocast_linear_casts_as_torchs_does_at_every_size():
    x, weight, bias, _ = _inputs(256, 100, 512)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for rows in (256, 2):  # above and below the size at which oneDNN would run
            assert linear(x[:rows], weight, bias).dtype == torch.bfloat16, rows


def test_make_mlp_builds_linear_layers_with_torchs_parameters():
    torch.manual_seed(0)
    mlp = make_mlp(5, (4,), 3, init_std=None)
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    assert all(isinstance(layer, Linear) for layer in (mlp[0], mlp[2]))
    assert isinstance(mlp[0], torch.nn.Linear)
    state, expected = mlp.state_dict(), plain.state_dict()
    assert list(state) == list(expected)
    for key in state:
        torch.testing.assert_close(state[key], expected[key], rtol=0, atol=0)
    x = torch.randn(10, 5)
    torch.testing.assert_close(mlp(x), plain(x), rtol=1e-5, atol=1e-6)


@needs_onednn
@needs_cxx
@pytest.mark.usefixtures("onednn_for_any_size")
def test_compiled_linear_matches_eager():
    x, weight, bias, grad = _inputs(16, 6, 4)
    compiled = torch.compile(linear, options={"fallback_random": True})
    out, grads = _gradients(compiled, x, weight, bias, grad)
    expected_out, expected_grads = _gradients(linear, x, weight, bias, grad)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads, expected_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.usefixtures("onednn_for_any_size")
def test_a_cpu_fit_trains_through_onednn():
    X = torch.randn(64, 6).numpy()
    with RecordOps() as ops:
        TINY_NEURAL["DisentangledSSL"](device="cpu").fit(X)
    assert sum("onednn_linear" in name for name in ops.names) > 0
    assert not any(name.startswith("aten.addmm") for name in ops.names)


@needs_onednn
def test_flop_counter_counts_onednn_linear_as_torchs_addmm():
    from torch.utils.flop_counter import FlopCounterMode

    x, weight, bias, grad = _inputs(32, 10, 6)
    counts = []
    for fn in (onednn_linear, F.linear):
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        with FlopCounterMode(display=False) as counter:
            fn(*leaves).backward(grad)
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] == 3 * 2 * 32 * 10 * 6


def test_without_onednn_linear_is_torchs(monkeypatch):
    monkeypatch.setattr(_kernels, "USE_ONEDNN", False)
    x, weight, bias, _ = _inputs(4, 3, 2)
    with RecordOps() as ops:
        out = linear(x, weight, bias)
    assert not any("onednn_linear" in name for name in ops.names)
    torch.testing.assert_close(out, F.linear(x, weight, bias), rtol=0, atol=0)


@needs_onednn
def test_linear_takes_a_column_major_batch():
    x, weight, bias, grad = _inputs(256, 100, 512)
    x = x.t().contiguous().t()  # column-major, as a Fortran-ordered array arrives
    out, grads = _gradients(linear, x, weight, bias, grad)
    expected_out, expected_grads = _gradients(F.linear, x, weight, bias, grad)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-4)
    for got, expected in zip(grads, expected_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-3)


def test_onednn_is_not_used_off_x86_or_without_onednn(monkeypatch):
    monkeypatch.setattr(_kernels.platform, "machine", lambda: "aarch64")
    assert not _kernels._has_onednn_linear()
    monkeypatch.setattr(_kernels.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not _kernels._has_onednn_linear()


@pytest.mark.parametrize("vendor, capability, pays", [
    ("AuthenticAMD", "AVX512", True),
    ("HygonGenuine", "AVX512", True),
    ("AuthenticAMD", "AVX2", False),  # oneDNN's kernels are no wider than MKL's there
    ("GenuineIntel", "AVX512", False),  # MKL runs its AVX-512 kernels: 1.2 to 1.25x faster
    ("", "AVX512", False),
])
def test_onednn_is_used_where_mkl_leaves_avx512_unused(monkeypatch, vendor, capability, pays):
    monkeypatch.setattr(_kernels, "HAS_ONEDNN", True)
    monkeypatch.setattr(_kernels, "_cpu_vendor", lambda: vendor)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert _kernels._onednn_pays() is pays
    monkeypatch.setattr(_kernels, "HAS_ONEDNN", False)
    assert not _kernels._onednn_pays()


def test_the_cpu_vendor_is_read_where_the_system_gives_it(monkeypatch):
    import builtins
    import io

    def no_cpuinfo(*args, **kwargs):
        raise OSError("no /proc here")

    try:  # this machine's, read apart from the package
        with open("/proc/cpuinfo") as cpuinfo:
            fields = [line.partition(":") for line in cpuinfo]
        here = next((v.strip() for k, _, v in fields if k.strip() == "vendor_id"), None)
    except OSError:
        here = None
    if here:
        assert _kernels._cpu_vendor() == here
    else:
        assert _kernels._cpu_vendor() in ("AuthenticAMD", "HygonGenuine", "GenuineIntel", "")
    # Linux's file, as it writes it: a tab before the colon, the first processor's value
    real_open = builtins.open

    def fake_cpuinfo(path, *args, **kwargs):
        if str(path) != "/proc/cpuinfo":
            return real_open(path, *args, **kwargs)
        return io.StringIO("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\n"
                           "processor\t: 1\nvendor_id\t: GenuineIntel\n")

    monkeypatch.setattr(builtins, "open", fake_cpuinfo)
    assert _kernels._cpu_vendor() == "AuthenticAMD"
    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    monkeypatch.setattr(_kernels.platform, "processor",
                        lambda: "AMD64 Family 25 Model 33 Stepping 0, AuthenticAMD")
    assert _kernels._cpu_vendor() == "AuthenticAMD"
    monkeypatch.setattr(_kernels.platform, "processor", lambda: "i386")
    assert _kernels._cpu_vendor() == ""
