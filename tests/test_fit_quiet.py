"""Normal fits print no numpy warnings (issue 13, item 6): every law's fit with warnings as errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit.api import fit
from scalinglab.laws.forms import KaplanND
from tests.conftest import EPOCH_COLUMNS, EPOCH_CSV, shared_file

LAWS = [("chinchilla", {}), ("kaplan", {}), ("power", {"variable": "N"}),
        ("power", {"variable": "D"}), ("power", {"variable": "C"}),
        ("power", {"variable": "C", "irreducible": False})]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("law", "options"), LAWS,
                         ids=[f"{law}-{'-'.join(map(str, o.values()))}" for law, o in LAWS])
def test_fit_on_epoch_data_raises_no_warning(law, options):
    runs = fit(shared_file(EPOCH_CSV), law, columns=EPOCH_COLUMNS, derive_tokens=True,
               bootstrap=30, **options)
    assert np.isfinite(runs.objective)


@pytest.mark.filterwarnings("error")
def test_data_constrained_fit_raises_no_warning():
    rng = np.random.default_rng(3)
    n = 60
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = N * np.exp(rng.uniform(np.log(2.0), np.log(400.0), n))
    U = D / np.exp(rng.uniform(0.0, np.log(60.0), n))
    loss = 1.7 + 400 / N**0.34 + 400 / D**0.28
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "n_params": N, "tokens": D,
                         "unique_tokens": U, "flops": 6 * N * D,
                         "loss": loss * np.exp(rng.normal(0, 0.01, n))})
    assert np.isfinite(fit(runs, "data_constrained", bootstrap=10).objective)


@pytest.mark.filterwarnings("error")
def test_kaplan_is_finite_and_continuous_as_alpha_d_goes_to_zero():
    """alpha_D -> 0 used to divide by zero (u = alpha_N/alpha_D ...): now the soft maximum
    tends to max(alpha_N log(N_c/N), 0), with a finite Jacobian."""
    law = KaplanND(N_c=8.8e13, alpha_N=0.076, D_c=5.4e13, alpha_D=0.095)
    X = {"N": np.array([1e6, 1e9, 1e15]), "D": np.array([1e9, 1e6, 1e12])}
    theta = law.to_raw(law.params)
    at_zero = theta.copy()
    at_zero[3] = 0.0
    near_zero = theta.copy()
    near_zero[3] = 1e-9
    out = law.log_predict_raw(np.stack([at_zero, near_zero]), X)
    assert np.all(np.isfinite(out))
    expected = np.maximum(0.076 * (np.log(8.8e13) - np.log(X["N"])), 0.0)
    np.testing.assert_allclose(out[0], expected, atol=1e-12)
    np.testing.assert_allclose(out[1], expected, atol=1e-6)
    assert np.all(np.isfinite(law.log_jacobian_raw(at_zero, X)))


def test_kaplan_matches_the_closed_form_and_its_jacobian():
    law = KaplanND(N_c=8.8e13, alpha_N=0.076, D_c=5.4e13, alpha_D=0.095)
    N, D = np.array([1e6, 1e8, 1e10, 1e12]), np.array([1e8, 1e9, 1e12, 1e6])
    closed = ((8.8e13 / N) ** (0.076 / 0.095) + 5.4e13 / D) ** 0.095
    np.testing.assert_allclose(law.predict(N=N, D=D), closed, rtol=1e-13)
    theta, X, eps = law.to_raw(law.params), {"N": N, "D": D}, 1e-6
    numeric = np.stack([(law.log_predict_raw(theta + eps * e, X)
                         - law.log_predict_raw(theta - eps * e, X)) / (2 * eps)
                        for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(law.log_jacobian_raw(theta, X), numeric, atol=1e-7)
