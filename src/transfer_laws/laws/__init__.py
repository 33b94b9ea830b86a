"""The laws: from-scratch curves, effective data, both transfer laws, budget allocation.

Every fit reads the RUNS.csv table (``runs_table``) and returns a ``FitResults``
with ``params``, ``bse``, ``conf_int()``, ``summary()`` and ``predict()``.
"""

from .allocation import Allocation, allocation_curve, optimal_allocation
from .barnett import LAWS, compare_laws, fit_barnett
from .effective_data import effective_data, fraction_from_transfer, multiplier
from .hernandez import Selection, fit_hernandez, logit_fraction_fit, predict_dt
from .results import FitResults
from .runs_table import read_runs
from .scratch import ScratchCurve, fit_chinchilla, fit_curve, fit_curves, fit_kaplan

__all__ = [
    "Allocation", "allocation_curve", "optimal_allocation", "LAWS", "compare_laws", "fit_barnett",
    "effective_data", "fraction_from_transfer", "multiplier", "Selection", "fit_hernandez",
    "logit_fraction_fit", "predict_dt", "FitResults", "read_runs", "ScratchCurve", "fit_chinchilla",
    "fit_curve", "fit_curves", "fit_kaplan",
]
