"""Seed noise of a study, from its replicate runs: how far apart seeds land at one grid point.

For each kind (from scratch, fine-tuned at the main p), size and D: the number of seeds,
the run-to-run standard deviation σ(N, D) after removing each seed's offset (the two-way
decomposition of ``transfer_laws.laws.noise``), and the raw spread (max − min) of the
losses. Then σ_c, the offset one seed (data subset, initialisation and, for fine-tunes, its
pre-training run) shares across every D of a size. These are the noise levels the fits
weight their points by and the calibration draws reproduce.

    .venv/bin/python benchmarks/seed_noise.py --source english --target python --profile cpu
"""

from __future__ import annotations



from transfer_laws.analysis import read_study
from transfer_laws.laws import estimate_noise
from study_args import study_parser


def main() -> None:
    ap = study_parser(__doc__)
    args = ap.parse_args()

    sd = read_study(args.source, args.target, args.profile, args.results)
    runs = sd.main_runs[sd.main_runs["stopped"] != "budget"]
    noise = estimate_noise(runs)
    print(f"study {sd.name}: {len(sd.records)} of {sd.planned} planned runs; "
          f"noise source: {noise.source}")
    if noise.cells is None:
        return
    spread = (runs.groupby(["kind", "n_params", "tokens"])["loss"]
              .agg(seeds="count", spread=lambda x: x.max() - x.min()).reset_index())
    cells = noise.cells.merge(spread, on=["kind", "n_params", "tokens"], how="left")
    cells["sigma"] = cells["var"] ** 0.5
    print("| kind | N | D (tokens) | seeds | σ(N, D) (nats) | max − min (nats) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in cells.sort_values(["kind", "n_params", "tokens"]).itertuples():
        print(f"| {r.kind} | {r.n_params:,.0f} | {r.tokens:,.0f} | {r.seeds} | {r.sigma:.3f} | {r.spread:.3f} |")
    med = cells.groupby("kind")["sigma"].median()
    print("\nmedian σ(N, D): " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))
    print("seed offset σ_c: " + ", ".join(f"{k} {v:.3f} ({noise.cluster_df.get(k, 0)} df)"
                                         for k, v in noise.cluster.items()))


if __name__ == "__main__":
    main()
