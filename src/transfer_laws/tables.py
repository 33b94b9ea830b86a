"""Tables for readers: ``show`` puts a data frame on a book page with no index column,
units in the headers and numbers at a sensible precision.

Numbers are written by size:

- from ``ENGINEERING_FROM`` up (FLOPs, large token counts), in engineering notation with
  SI prefixes: 2.1M, 3.4G;
- whole numbers, and any number of ``digits`` or more integer digits, rounded to a whole
  number with thousands separators: 262,144;
- other numbers to ``digits`` significant figures: 3.46, 0.0123.

Text, booleans and missing values (shown as "—") are left alone.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

ENGINEERING_FROM = 1e7
SI_PREFIXES = {3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
MISSING = "—"


def engineering(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures with an SI prefix: 2_100_000 -> '2.1M'.
    Beyond the prefixes (and below 1) it is plain scientific notation: 6.78e+149."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    rounded = float(f"{x:.{digits}g}")
    exp3 = 3 * math.floor(math.log10(abs(rounded)) / 3)
    if exp3 < 0 or exp3 > max(SI_PREFIXES):
        return f"{x:.{digits}g}"
    return f"{rounded / 10 ** exp3:.{digits}g}" + SI_PREFIXES.get(exp3, "")


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _is_missing(x) -> bool:
    return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))


def number_formatter(digits: int = 3) -> Callable[[object], str]:
    """The module's rule for one cell, as a function (for a table made by hand)."""

    def fmt(v) -> str:
        if _is_missing(v):
            return MISSING
        if not _is_number(v):
            return str(v)
        v = float(v)
        if not math.isfinite(v):
            return f"{v:g}"
        if abs(v) >= ENGINEERING_FROM:
            return engineering(v, digits)
        if v.is_integer() or abs(v) >= 10 ** (digits - 1):
            return f"{round(v):,}"
        return f"{v:.{digits}g}"

    return fmt


def styled(frame: pd.DataFrame, units: Mapping[str, str] | None = None, digits: int | Mapping[str, int] = 3,
           formats: Mapping[str, Callable[[object], str] | str] | None = None):
    """``frame`` as a pandas Styler with no index, headers ``"column (unit)"`` for the
    columns named in ``units``, and every number formatted as the module says.
    ``digits``: significant figures, for all columns or per column (default 3);
    ``formats``: a format string or function for a column, in place of the rule."""
    units, formats = dict(units or {}), dict(formats or {})
    unknown = (set(units) | set(formats) | (set(digits) if isinstance(digits, Mapping) else set())) - set(frame.columns)
    if unknown:
        raise KeyError(f"no such column(s) in the table: {sorted(unknown)}")
    frame = frame.reset_index(drop=True)
    per_column = {}
    for col in frame.columns:
        if col in formats:
            per_column[col] = formats[col]
        else:
            d = digits.get(col, 3) if isinstance(digits, Mapping) else digits
            per_column[col] = number_formatter(d)
    headers = {c: f"{c} ({units[c]})" for c in units}
    shown = frame.astype(object).rename(columns=headers)
    per_column = {headers.get(c, c): f for c, f in per_column.items()}
    return shown.style.hide(axis="index").format(per_column, na_rep=MISSING)


def show(frame: pd.DataFrame, units: Mapping[str, str] | None = None, digits: int | Mapping[str, int] = 3,
         formats: Mapping[str, Callable[[object], str] | str] | None = None) -> None:
    """Display ``frame`` on the page as ``styled`` makes it."""
    from IPython.display import display

    display(styled(frame, units, digits, formats))
