"""Effective data (Hernandez et al. 2021): D_E, D_T = D_E − D_F, multiplier, fraction.

D_E of a fine-tuned run is the data a from-scratch model of the same N would need
to reach the fine-tuned loss, read off that N's own from-scratch curve. A
fine-tuned loss below every measured from-scratch loss of that N makes D_E an
extrapolation; the ``extrapolated`` column says so, it is never silent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .scratch import ScratchCurve, fit_curves


def effective_data(runs: pd.DataFrame, curves: dict[float, ScratchCurve] | None = None) -> pd.DataFrame:
    """The fine-tuned rows of ``runs`` with D_E, D_T, multiplier and fraction added."""
    curves = curves if curves is not None else fit_curves(runs)
    ft = runs[runs["kind"] == "finetune"].copy()
    if ft.empty:
        raise InputError("the runs table has no finetune runs.")
    missing = sorted(set(ft["n_params"]) - set(curves))
    if missing:
        raise InputError(f"no from-scratch curve for N = {', '.join(f'{n:.4g}' for n in missing)}; "
                         f"D_E needs scratch runs at the same model sizes as the fine-tuned ones.")
    D_E = np.empty(len(ft))
    extrap = np.empty(len(ft), dtype=bool)
    for i, (n, loss) in enumerate(zip(ft["n_params"], ft["loss"])):
        d, x = curves[n].effective_data(loss)
        D_E[i], extrap[i] = d[0], x[0]
    ft["D_F"] = ft["tokens"]
    ft["D_E"] = D_E
    ft["D_T"] = ft["D_E"] - ft["D_F"]
    ft["multiplier"] = ft["D_E"] / ft["D_F"]
    ft["fraction_transfer"] = ft["D_T"] / ft["D_E"]
    ft["extrapolated"] = extrap
    ft["scratch_method"] = [curves[n].method for n in ft["n_params"]]
    ft["D_saturate"] = [curves[n].data_to_saturate() for n in ft["n_params"]]
    return ft.reset_index(drop=True)


def multiplier(D_F, N, k: float, alpha: float, beta: float):
    """Effective data multiplier D_E / D_F = 1 + k·D_F^(α−1)·N^β."""
    return 1 + k * np.asarray(D_F, float) ** (alpha - 1) * np.asarray(N, float) ** beta


def fraction_from_transfer(D_F, N, k: float, alpha: float, beta: float):
    """D_T / D_E under the law."""
    dt = k * np.asarray(D_F, float) ** alpha * np.asarray(N, float) ** beta
    return dt / (dt + np.asarray(D_F, float))
