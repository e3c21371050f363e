"""Compare dlc.scratch with torch.autograd in float64.

"Equal to 1e-10 relative" means max|ours - torch| <= 1e-10 * max|torch| for each
value and each gradient (a norm-wise relative error, which stays meaningful where
single elements are zero).
"""

import torch

import dlc.scratch as S

TOL = 1e-10


def rel_err(ours, ref) -> float:
    ours = ours.data if isinstance(ours, S.Tensor) else ours
    assert ours.shape == ref.shape, f"shape {tuple(ours.shape)} != torch's {tuple(ref.shape)}"
    assert ours.dtype == ref.dtype, f"dtype {ours.dtype} != torch's {ref.dtype}"
    scale = ref.abs().max().item() if ref.numel() else 0.0
    diff = (ours - ref).abs().max().item() if ref.numel() else 0.0
    return diff / scale if scale > 0 else diff


def assert_close(ours, ref, what="value", tol=TOL, atol=0.0):
    """Relative error at most ``tol``, or absolute error at most ``atol`` (for values that
    are differences of much larger numbers, where no relative accuracy is possible)."""
    err = rel_err(ours, ref)
    if atol:
        ours_t = ours.data if isinstance(ours, S.Tensor) else ours
        if (ours_t - ref).abs().max().item() <= atol:
            return
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e}"


def randn(*shape, positive=False, generator=None):
    x = torch.randn(shape, dtype=torch.float64, generator=generator)
    return x.abs() + 0.5 if positive else x


def check(fn_ours, fn_torch, *inputs, needs_grad=None, tol=TOL, atol=0.0):
    """Run both functions on the same float64 inputs; compare outputs and gradients.

    The backward pass starts from a random gradient of the output's shape, so every
    element of the Jacobian takes part. Returns the scratch output.
    """
    needs_grad = needs_grad or [x.is_floating_point() for x in inputs]
    ours_in = [S.Tensor(x.clone(), requires_grad=r) for x, r in zip(inputs, needs_grad)]
    ref_in = [x.clone().requires_grad_(r) for x, r in zip(inputs, needs_grad)]
    out = fn_ours(*ours_in)
    ref = fn_torch(*ref_in)
    assert_close(out, ref.detach(), "output", tol, atol)
    seed = torch.randn(ref.shape, dtype=ref.dtype)
    out.backward(seed.clone())
    ref.backward(seed.clone())
    for i, (o, r) in enumerate(zip(ours_in, ref_in)):
        if r.requires_grad:
            assert o.grad is not None, f"input {i}: no gradient"
            assert_close(o.grad, r.grad, f"gradient of input {i}", tol, atol)
        else:
            assert o.grad is None
    return out
