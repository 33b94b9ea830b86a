import re

import numpy as np
import pandas as pd
import pytest

from transfer_laws.tables import engineering, styled


def cells(html: str) -> list[str]:
    return [c.strip() for c in re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", html, flags=re.S)]


def headers(html: str) -> list[str]:
    return [c.strip() for c in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", html, flags=re.S)]


def test_a_table_has_no_index_column_and_units_in_its_headers():
    frame = pd.DataFrame({"N": [6_616, 234_240], "loss": [3.45678, 2.1]}, index=["row-label-a", "row-label-b"])
    html = styled(frame, units={"N": "parameters", "loss": "nats/token"}).to_html()
    assert "row-label-a" not in html and "row_heading" not in html
    assert headers(html) == ["N (parameters)", "loss (nats/token)"]
    assert len(cells(html)) == 4  # two rows of two columns, nothing else


def test_numbers_are_formatted_for_people():
    frame = pd.DataFrame({
        "D": np.array([2_048, 262_144]),                   # counts: thousands separators
        "FLOPs": [2.1e7, 3.4e15],                          # from 1e7 up: engineering notation
        "D_E": [12_345.678, 98.7654],                      # large floats are counts too
        "RMSE": [0.0123456, np.nan],                       # 3 significant figures; missing is a dash
        "loss": [3.456789, 2.0],                           # per-column digits
        "kind": ["scratch", "finetune"],
    })
    html = styled(frame, digits={"loss": 4}).to_html()
    assert cells(html) == ["2,048", "21M", "12,346", "0.0123", "3.457", "scratch",
                           "262,144", "3.4P", "98.8", "—", "2", "finetune"]


def test_engineering_notation_rounds_across_a_prefix():
    assert engineering(2_100_000) == "2.1M"
    assert engineering(999_999) == "1M"
    assert engineering(262_144) == "262k"
    assert engineering(512) == "512"
    assert engineering(6.78e149) == "6.78e+149"  # past the prefixes: scientific


def test_a_unit_for_a_column_the_table_lacks_is_an_error():
    with pytest.raises(KeyError, match="tokens"):
        styled(pd.DataFrame({"D": [1]}), units={"tokens": "tokens"})
