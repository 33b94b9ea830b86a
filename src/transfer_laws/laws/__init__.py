"""The laws: from-scratch curves, effective data, both transfer laws, budget allocation.

Every fit reads the RUNS.csv table (``runs_table``) and returns a ``FitResults``
with ``params``, ``bse``, ``conf_int()``, ``summary()`` and ``predict()``.
"""

from .allocation import Allocation, allocation_curve, optimal_allocation
from .barnett import LAWS, compare_laws, curvature_test, fit_barnett, fit_gap_per_size
from .effective_data import effective_data, fraction_from_transfer, multiplier
from .hernandez import (DESIGN_RULES, Selection, compare_sources, design_rows, fit_dt_space, fit_hernandez,
                        logit_fraction_fit, predict_dt)
from .hernandez_loss import predict_finetune_loss, scratch_curve_loss
from .noise import NoiseModel, estimate_noise
from .results import FitResults
from .runs_table import read_runs
from .scratch import ScratchCurve, fit_curve, fit_curves
from .scratch_law import FORMS as SCRATCH_FORMS, compare_scratch_forms, fit_scratch_law

__all__ = [
    "Allocation", "allocation_curve", "optimal_allocation", "LAWS", "compare_laws", "curvature_test", "fit_barnett",
    "fit_gap_per_size",
    "effective_data", "fraction_from_transfer", "multiplier", "DESIGN_RULES", "Selection", "compare_sources",
    "design_rows", "fit_dt_space", "fit_hernandez", "logit_fraction_fit", "predict_dt", "predict_finetune_loss",
    "scratch_curve_loss", "NoiseModel", "estimate_noise", "SCRATCH_FORMS", "fit_scratch_law", "FitResults", "read_runs", "ScratchCurve",
    "fit_curve", "fit_curves", "compare_scratch_forms",
]
