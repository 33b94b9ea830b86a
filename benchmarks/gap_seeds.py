"""What the grid seeds bought: the transfer-gap fit at a size read with the profile's seeds only, and with every seed.

The ``cpu`` profile adds seeds at one size for the transfer gap alone (``grid_seeds``,
decided after the three-seed fits, before any grid-seed run). This prints, per size
with grid seeds, the Barnett fit on the fine-tunes of the profile's ``seeds`` and on
those of every seed, each with G's interval at χ²₁'s 3.84 and at the critical value the
book uses (the stored calibration of the all-seeds fit, where current), G·f_ref^−β in
nats, and the law's lack-of-fit tests against the seed replicates (``gap.misfit_tests``):
whether more seeds narrowed G, and whether they showed the form to miss.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/gap_seeds.py --source code --target python
"""

from __future__ import annotations

import numpy as np

from transfer_laws.analysis import read_study
from transfer_laws.gap import (fit_gap_at_size, gap_critical, gap_points, misfit_tests, misfit_text, points_sha,
                               read_gap_calibration, residual_noise)
from transfer_laws.laws.barnett import CHI2_1_95
from study_args import study_parser


def ends(lo: float, hi: float) -> str:
    return f"[{f'{lo:.3g}' if lo > 0 else '0'}, {f'{hi:.3g}' if np.isfinite(hi) else '∞'}]"


def main() -> None:
    ap = study_parser(__doc__)
    args = ap.parse_args()
    sd = read_study(args.source, args.target, args.profile, args.results)
    calibrations, _ = read_gap_calibration(args.results, sd.source, sd.target, sd.profile)
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; seeds {list(sd.seeds)}")
    print("| N | seeds read | runs | G [95%, χ²₁] | G [95%, critical used] | G·f_ref^−β (nats, f_ref the D_F grid's geometric middle; the interval as the book draws it) | β | "
          "lack of fit: p of f / p / p × f (all: ×3) | σ misfit / σ run |")
    print("|---:|---|---:|---|---|---|---:|---|---|")
    for n, pts in gap_points(sd.runs).items():
        if pts["seed"].nunique() <= len(sd.seeds):
            continue
        f_ref = float(np.sqrt(pts["tokens"].min() * pts["tokens"].max()))  # as the book's reference_f
        main_pts = pts[pts["seed"].isin(sd.seeds)].reset_index(drop=True)
        entry = calibrations.get(n)
        crit_all = gap_critical(entry if entry and entry.get("points_sha") == points_sha(pts) else None)
        for label, these, crit in ((f"{len(sd.seeds)} (the profile's)", main_pts, None),
                                   (f"{pts['seed'].nunique()} (with the grid seeds)", pts, crit_all)):
            plain = fit_gap_at_size(these, n)
            lo, hi = plain.conf_int().loc["G"]
            g, beta = float(plain.params["G"]), float(plain.params["beta"])
            clo, chi = lo, hi
            if crit is not None and crit > CHI2_1_95:
                clo, chi = fit_gap_at_size(these, n, crit).conf_int().loc["G"]
                calibrated = f"{ends(clo, chi)} at {crit:.3g}"
            else:
                calibrated = "as χ²₁" if crit is not None else "(not calibrated)"
            z, m = residual_noise(plain, these), misfit_tests(plain, these)
            scale = f_ref ** -beta
            print(f"| {n:,.0f} | {label} | {len(these)} | {g:.3g} {ends(lo, hi)} | {calibrated} | "
                  f"{g * scale:.3g} {ends(clo * scale, chi * scale)} | {beta:.3g} | "
                  f"{misfit_text(m)} | {z.cell:.3f} / {z.within:.3f} |")


if __name__ == "__main__":
    main()
