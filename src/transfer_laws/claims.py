"""The two papers' claims, each tested on our runs: a verdict (holds / fails / can't
tell) by a rule fixed in advance (``verdicts``), the numbers behind it, the page that
shows it, and for "can't tell" what would decide it.

The claims and their tests:

1. **β independent of the source** (Hernandez, Table 1): β_A − β_B from one joint
   loss-space fit of two sources with the same target (``compare_sources``); equal when
   its 95% interval lies inside ±``EQUIVALENCE_MARGIN``.
2. **α smaller for closer sources** (Hernandez, Table 1): α_far − α_close > 0 for the
   source pairs in ``CLOSER``, whose order is set by their share of code, not by a fit.
3. **The power-law form of D_T** (Hernandez eq. 1.1): the loss-space fit with squares
   of ln D_F and ln N added to the exponent of D_T (``laws.dt_form``). A squared term γ
   changes the local exponent by 2γR across the measured range R of its regressor; the
   form holds when that drift's interval lies inside ±margin for both exponents, fails
   when either excludes 0.
4. **Ossification** (Hernandez Figs. 5–6): at the smallest size and the largest D_F,
   the fine-tuned loss minus the from-scratch loss, paired by seed (t interval over
   seeds); > 0 holds. Below 0 while D_F is still in the low-data regime (D_F ≤ 0.1·D(N))
   is not evidence against a claim about the high-data regime: can't tell.
5. **Fine-tuning more compute-efficient at small D_F** (Hernandez Fig. 4): at the
   smallest D_F, for every (N, seed): does the fine-tune reach the best validation loss
   of the from-scratch run (same N, D, seed) with less training compute (pre-training
   excluded)? Holds when the exact 95% interval of that share is above 1/2.
6. **G varies widely across pairs** (Barnett): among pairs with G bounded on both sides
   at one model size, two whose intervals differ by a factor ≥ ``WIDE_FACTOR``.
7. **Pre-training worth more when G is small** (Barnett): across pairs with bounded G at
   one size, Spearman ρ of G against the measured effective-data multiplier D_E/D_F at
   that size (main p, the D_F every pair has): negative with exact p < 0.05.

A claim tested on several pairs gets one verdict: fails if any pair fails, holds if
every pair holds, else can't tell (``combine``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as t_dist

from .errors import InputError
from .precision import effective_seeds
from .verdicts import (CANT_TELL, FAILS, HOLDS, MIN_RANK_PAIRS, WIDE_FACTOR, direction_verdict,
                       equivalence_verdict, rank_verdict, seeds_for_t_interval, seeds_to_decide, share_verdict,
                       spread_verdict)

# Hernandez et al. (2021), Table 1 (characters, models up to 1e9 parameters).
PAPER_TABLE1 = [
    {"pair": "text → python (paper)", "source": "english", "k": 1.9e4, "alpha": 0.18, "beta": 0.38},
    {"pair": "50% text + 50% non-python code → python (paper)", "source": "english+code", "k": 2.1e5,
     "alpha": 0.096, "beta": 0.38},
]
# The smallest exponent difference the paper reads as meaningful: its two α. A β
# difference inside ±this is "equal" at the resolution the paper itself works at.
EQUIVALENCE_MARGIN = abs(PAPER_TABLE1[0]["alpha"] - PAPER_TABLE1[1]["alpha"])

# (farther, closer, target): the closer source has the larger share of code, the target
# being code. Set by the sources' contents before any fit; the first is the paper's pair.
CLOSER = [("english", "english+code", "python"), ("english", "code", "python"), ("english+code", "code", "python")]
LOW_DATA_FRACTION = 0.1  # Hernandez: the low-data regime is D_F ≤ 10% of D(N)

CLAIMS = {
    "beta_source": ("Hernandez", "β does not depend on the source"),
    "alpha_closer": ("Hernandez", "α is smaller for a closer source"),
    "power_law": ("Hernandez", "D_T is a power law in D_F and N"),
    "ossification": ("Hernandez", "small pre-trained models ossify: at large D_F they end worse than from scratch"),
    "compute": ("Hernandez", "at small D_F fine-tuning reaches a loss with less compute than training from scratch"),
    "gap_spread": ("Barnett", "the transfer gap G differs widely between pairs"),
    "gap_worth": ("Barnett", "pre-training is worth more where G is small"),
}


@dataclass
class Claim:
    key: str
    pair: str  # what it was tested on
    verdict: str
    quantity: str  # the number behind the verdict, named
    estimate: float
    low: float
    high: float
    test: str  # the rule, in words, with its numbers
    evidence: str  # the page (and figure) that shows it
    decide: str = ""  # for can't tell: what would decide it

    @property
    def paper(self) -> str:
        return CLAIMS[self.key][0]

    @property
    def claim(self) -> str:
        return CLAIMS[self.key][1]


def combine(claims: list[Claim]) -> str:
    verdicts = [c.verdict for c in claims]
    if not verdicts:
        return CANT_TELL
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else CANT_TELL


def _missing(key: str, pair: str, quantity: str, test: str, evidence: str, why: str) -> Claim:
    return Claim(key, pair, CANT_TELL, quantity, math.nan, math.nan, math.nan, test, evidence, why)


def _decide_seeds(est: float, lo: float, hi: float, seeds: float, margin: float | None, noise: str,
                  threshold: float | None = None) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        why = (f" (profile threshold {threshold:.3g} on the deviance, against 3.84 for a known noise: the noise rests "
               f"on few replicates)" if threshold else "")
        return (f"the interval is unbounded with {seeds:.2g} seeds per point{why}. The planned seeds lower the "
                f"threshold; if it stays unbounded with all of them, a wider range of N and D_F (more sizes, the gpu "
                f"profile) is what would decide it.")
    need = seeds_to_decide(est, lo, hi, seeds, None)  # to exclude 0
    if margin is not None:  # or to fit inside the margin, whichever comes first
        need = min(need, seeds_to_decide(est, lo, hi, seeds, margin))
    if not np.isfinite(need):
        return ("the estimate sits where no number of seeds decides it (at 0 for a sign, at the margin for "
                "equality): a wider design would.")
    return (f"about {math.ceil(need)} seeds per point instead of {seeds:.3g} would, if the estimate stays where it is "
            f"(half-width ∝ 1/√seeds; {noise}).")


def _noise_phrase(fit) -> str:
    n = fit.info.get("noise", {}) if fit is not None else {}
    c = n.get("cluster_sd", {}).get("finetune")
    return f"measured shared seed offset of the fine-tunes σ_c = {c:.3f} nats" if c else "seed noise from the replicates"


# -- 1, 2: the two sources of Table 1 -------------------------------------------------

def source_claims(studies: dict, results=None) -> list[Claim]:
    """``studies``: {(source, target): StudyData}. β equality for every pair of sources
    with a target in common, α order for the pairs in ``CLOSER``."""
    from .analysis import cached_fit
    from .laws import compare_sources

    evidence = "Table 1 across pairs (table1.html): the difference intervals; figure table1-exponents"
    out = []
    for far, close, target in CLOSER:
        pair = f"{far} vs {close} → {target}"
        a, b = studies.get((far, target)), studies.get((close, target))
        lacking = [f"{s} → {target}" + (" (no study in the book)" if sd is None else
                                         f" ({len(sd.records)} of {sd.planned} planned runs; "
                                         f"{' '.join(sd.missing.values()) or 'its Table 1 fit failed'})")
                   for s, sd in ((far, a), (close, b)) if sd is None or sd.hernandez is None]
        beta_test = (f"β_{far} − β_{close} from one joint fit; equal if its 95% interval lies inside "
                     f"±{EQUIVALENCE_MARGIN:.3f} (the paper's own α difference), different if it excludes 0")
        alpha_test = f"α_{far} − α_{close} from one joint fit; > 0 ({close} is closer to {target}: more code)"
        if lacking:
            why = "needs fitted studies of both sources: " + "; ".join(lacking) + "."
            out.append(_missing("beta_source", pair, "β difference", beta_test, evidence, why))
            out.append(_missing("alpha_closer", pair, "α difference", alpha_test, evidence, why))
            continue
        rb = b.main_runs
        both = pd.concat([a.main_runs, rb[rb["kind"] == "finetune"]], ignore_index=True)
        try:
            d = (cached_fit(results, "compare_sources", both, compare_sources, source_a=far, source_b=close, n_boot=0)
                 if results is not None else compare_sources(both, far, close, n_boot=0))
        except InputError as e:
            why = f"the joint fit failed: {e}"
            out.append(_missing("beta_source", pair, "β difference", beta_test, evidence, why))
            out.append(_missing("alpha_closer", pair, "α difference", alpha_test, evidence, why))
            continue
        ci = d.conf_int()
        seeds = effective_seeds(both)
        noise = _noise_phrase(d)
        est, lo, hi = float(d.params["beta_diff"]), float(ci.loc["beta_diff", 0]), float(ci.loc["beta_diff", 1])
        v = equivalence_verdict(lo, hi, EQUIVALENCE_MARGIN)
        out.append(Claim("beta_source", pair, v, f"β_{far} − β_{close}", est, lo, hi, beta_test, evidence,
                         "" if v != CANT_TELL else _decide_seeds(est, lo, hi, seeds, EQUIVALENCE_MARGIN, noise,
                                                                 d.info.get("profile_threshold"))))
        est, lo, hi = float(d.params["alpha_diff"]), float(ci.loc["alpha_diff", 0]), float(ci.loc["alpha_diff", 1])
        v = direction_verdict(lo, hi, "positive")
        out.append(Claim("alpha_closer", pair, v, f"α_{far} − α_{close}", est, lo, hi, alpha_test, evidence,
                         "" if v != CANT_TELL else _decide_seeds(est, lo, hi, seeds, None, noise,
                                                                 d.info.get("profile_threshold"))))
    return out


# -- 3: the power-law form ------------------------------------------------------------

def power_law_claims(sd, slug: str, results=None) -> list[Claim]:
    from .analysis import cached_fit
    from .laws.dt_form import test_power_law

    pair = f"{sd.source} → {sd.target}"
    evidence = f"Effective data transferred, Fig. 2 (studies/{slug}/3-transfer.html)"
    test = (f"squares of ln D_F and ln N added to the exponent of D_T in the loss-space fit (every run, none selected "
            f"on its outcome); the drift 2γR of the local exponent across the measured range R: inside "
            f"±{EQUIVALENCE_MARGIN:.3f} holds, excluding 0 fails")
    if sd.hernandez is None:
        return [_missing("power_law", pair, "exponent drift", test, evidence,
                         "needs the Table 1 fit: " + (" ".join(sd.missing.values()) or "too few runs."))]
    try:
        fit = (cached_fit(results, "power_law_test", sd.main_runs, test_power_law) if results is not None
               else test_power_law(sd.main_runs))
    except InputError as e:
        return [_missing("power_law", pair, "exponent drift", test, evidence, f"{e} More sizes or D_F would.")]
    ci = fit.conf_int()
    seeds = effective_seeds(sd.main_runs)
    out = []
    for term in fit.info["terms"]:
        k = f"drift_{term}"
        est, lo, hi = float(fit.params[k]), float(ci.loc[k, 0]), float(ci.loc[k, 1])
        v = equivalence_verdict(lo, hi, EQUIVALENCE_MARGIN)
        sym = "α" if term == "D_F" else "β"
        out.append(Claim("power_law", pair, v, f"drift of {sym} across the measured {term} range", est, lo, hi, test,
                         evidence, "" if v != CANT_TELL else
                         _decide_seeds(est, lo, hi, seeds, EQUIVALENCE_MARGIN, _noise_phrase(sd.hernandez),
                                       fit.info["profile_threshold"])))
    return out


# -- 4: ossification ------------------------------------------------------------------

def ossification_difference(sd) -> dict:
    """At the smallest size and the largest D_F of the main-p fine-tunes: the fine-tuned
    minus from-scratch test loss per seed (pairs with both runs converged), their mean
    with a t interval, and D_F / D(N)."""
    runs = sd.main_runs[sd.main_runs["stopped"] != "budget"]
    ft = runs[runs["kind"] == "finetune"]
    n0 = float(ft["n_params"].min())
    d_max = float(ft.loc[ft["n_params"] == n0, "tokens"].max())
    f = ft[(ft["n_params"] == n0) & (ft["tokens"] == d_max)].set_index("seed")["loss"]
    s = runs[(runs["kind"] == "scratch") & (runs["n_params"] == n0) & (runs["tokens"] == d_max)].set_index("seed")["loss"]
    diff = (f - s).dropna()
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    half = float(t_dist.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.inf
    d_sat = float(sd.curves[n0].data_to_saturate()) if sd.curves and n0 in sd.curves else math.nan
    return {"N": n0, "D_F": d_max, "seeds": n, "per_seed": diff.to_dict(), "estimate": mean,
            "sd": float(diff.std(ddof=1)) if n >= 2 else math.nan,
            "low": mean - half if n else math.nan, "high": mean + half if n else math.nan,
            "share_of_D_N": d_max / d_sat if d_sat > 0 else math.nan}


def ossification_claims(sd, slug: str) -> list[Claim]:
    pair = f"{sd.source} → {sd.target}"
    evidence = f"Ossification (studies/{slug}/5-ossification.html), figure ossification-{sd.source}-{sd.target}-{sd.profile}"
    test = ("L_fine-tuned − L_scratch at the smallest N and largest D_F, paired by seed, t interval over seeds: "
            "> 0 holds; < 0 fails only where D_F is beyond the low-data regime (D_F > 0.1·D(N))")
    if sd.main_runs is None or not (sd.main_runs["kind"] == "finetune").any():
        return [_missing("ossification", pair, "L_ft − L_scratch", test, evidence, "no fine-tuned runs yet.")]
    o = ossification_difference(sd)
    quantity = f"L_ft − L_scratch at N = {o['N']:,.0f}, D_F = {o['D_F']:,.0f} ({o['seeds']} seeds)"
    if o["seeds"] < 2:
        return [Claim("ossification", pair, CANT_TELL, quantity, o["estimate"], o["low"], o["high"], test, evidence,
                      f"{o['seeds']} seed(s) with both runs at that point: a paired interval needs 2 or more seeds.")]
    v = direction_verdict(o["low"], o["high"], "positive")
    decide = ""
    if v == FAILS and not o["share_of_D_N"] > LOW_DATA_FRACTION:
        v = CANT_TELL
        decide = (f"pre-training still helps there, but D_F is {o['share_of_D_N']:.2g} of D(N) (the from-scratch curve "
                  f"is far from flat), inside the low-data regime the claim does not speak to; fine-tuning sets beyond "
                  f"0.1·D(N) at the smallest size would decide it.")
    elif v == CANT_TELL:
        need = seeds_for_t_interval(o["estimate"], o["sd"])
        decide = (f"the paired differences spread by {o['sd']:.3f} nats between seeds; with that spread and this mean "
                  + (f"about {need:.0f} seeds would exclude 0." if np.isfinite(need) else
                     "no practical number of seeds would exclude 0: the mean is too close to it."))
    return [Claim("ossification", pair, v, quantity, o["estimate"], o["low"], o["high"], test, evidence, decide)]


# -- 5: compute -----------------------------------------------------------------------

def compute_to_reach(records: list[dict], main_p: float) -> pd.DataFrame:
    """Per (N, D, seed) with a from-scratch run and a main-p fine-tune: the scratch run's
    best validation loss, the compute it took, and the compute the fine-tune took to first
    reach it (inf if it never did); pre-training compute excluded."""
    def best(curve):
        c = [p for p in curve if p.get("flops", 0) > 0]
        i = int(np.argmin([p["val_loss"] for p in c]))
        return c[i]["val_loss"], c[i]["flops"]

    scratch, ft = {}, {}
    for r in records:
        c = r["config"]
        if r["result"].get("stopped") == "budget" or not r.get("curve"):
            continue
        key = (r["result"]["n_params"], c["tokens"], c["seed"])
        if c["kind"] == "scratch":
            scratch[key] = r["curve"]
        elif c["kind"] == "finetune" and float(c["pretrain_tokens"]) == main_p:
            ft[key] = r["curve"]
    rows = []
    for key in sorted(set(scratch) & set(ft)):
        loss, flops = best(scratch[key])
        reach = [p["flops"] for p in ft[key] if p["val_loss"] <= loss]
        rows.append({"N": key[0], "D": key[1], "seed": key[2], "scratch best loss": loss, "scratch flops": flops,
                     "fine-tune flops to reach it": float(min(reach)) if reach else math.inf})
    out = pd.DataFrame(rows, columns=["N", "D", "seed", "scratch best loss", "scratch flops",
                                      "fine-tune flops to reach it"])
    out["ratio"] = out["fine-tune flops to reach it"] / out["scratch flops"]
    return out


def compute_claims(sd, slug: str) -> tuple[list[Claim], pd.DataFrame]:
    pair = f"{sd.source} → {sd.target}"
    evidence = f"Compute, Fig. 4 and Fig. 8 (studies/{slug}/4-compute.html)"
    test = ("at the smallest D_F, per (N, seed): the fine-tune reaches the from-scratch run's best validation loss "
            "with less compute; holds if the exact 95% interval of that share is above 1/2, fails if below")
    if sd.main_runs is None or not (sd.main_runs["kind"] == "finetune").any():
        return [_missing("compute", pair, "share of (N, seed)", test, evidence, "no fine-tuned runs yet.")], pd.DataFrame()
    main_p = float(sd.main_runs.loc[sd.main_runs["kind"] == "finetune", "pretrain_tokens"].max())
    table = compute_to_reach(sd.records, main_p)
    if table.empty:
        return [_missing("compute", pair, "share of (N, seed)", test, evidence,
                         "no (N, D, seed) has both a from-scratch run and a fine-tune yet.")], table
    small = table[table["D"] == table["D"].min()]
    wins = int((small["ratio"] < 1).sum())
    v, share, lo, hi = share_verdict(wins, len(small))
    decide = ""
    if v == CANT_TELL:
        need = next((n for n in range(len(small), 200) if share_verdict(round(share * n), n)[0] != CANT_TELL), None)
        decide = (f"{wins} of {len(small)} (N, seed) at D_F = {small['D'].iloc[0]:,.0f}: at this share about "
                  f"{need} would decide it (more seeds or sizes)." if need and share != 0.5 else
                  f"{wins} of {len(small)}: the share is at 1/2, more runs would not decide it.")
    return [Claim("compute", pair, v, f"share of (N, seed) at D_F = {small['D'].iloc[0]:,.0f} where fine-tuning "
                  f"needs less compute (median ratio {small['ratio'].median():.2g})", share, lo, hi, test, evidence,
                  decide)], table


# -- 6, 7: the transfer gap across pairs ----------------------------------------------

def _gap_size(gaps: pd.DataFrame) -> float | None:
    """The model size the across-pair gap claims are tested at: the one with the most
    pairs whose G is bounded, the larger on a tie (less of its G is a capacity limit)."""
    b = gaps[gaps["bounded"]]
    if b.empty:
        return None
    counts = b.groupby("N")["pair"].nunique()
    return float(max(counts.index, key=lambda n: (counts[n], n)))


def multiplier_at(sd, n_params: float, d_f: list[float]) -> float:
    """Geometric mean of the measured D_E / D_F of the study's main-p fine-tunes at one
    size over the D_F values ``d_f`` (and seeds)."""
    if sd.ed is None:
        return math.nan
    e = sd.ed[(sd.ed["n_params"] == n_params) & sd.ed["D_F"].isin(d_f)]
    m = e["multiplier"].to_numpy(float)
    m = m[m > 0]
    return float(np.exp(np.mean(np.log(m)))) if len(m) else math.nan


def gap_claims(gaps: pd.DataFrame, studies: dict) -> list[Claim]:
    """``gaps``: ``gap.gap_table`` of every study. ``studies``: {(source, target): StudyData}."""
    evidence = "The transfer gap across pairs (transfer_gap.html), figure gap-ranking"
    spread_test = (f"G of the pairs bounded on both sides at one model size: two pairs whose 95% intervals differ by "
                   f"≥ {WIDE_FACTOR:g}× hold; every pair within a {WIDE_FACTOR:g}× band (3 or more pairs) fails")
    worth_test = (f"across pairs with bounded G at one size, Spearman ρ(G, measured D_E/D_F): negative with exact "
                  f"one-sided p < 0.05 holds, positive fails; fewer than {MIN_RANK_PAIRS} pairs cannot reach p < 0.05")
    n_pairs = gaps["pair"].nunique() if len(gaps) else 0
    bounded_pairs = gaps.loc[gaps["bounded"], "pair"].nunique() if len(gaps) else 0
    size = _gap_size(gaps) if len(gaps) else None
    if size is None:
        why = (f"no pair has G bounded on both sides ({n_pairs} pair(s) fitted at some size, "
               f"{bounded_pairs} bounded): a p grid reaching where the effect of pre-training flattens (the curvature "
               f"test on the transfer-gap page), and more pairs, would.")
        return [_missing("gap_spread", "all pairs", "G ratio", spread_test, evidence, why),
                _missing("gap_worth", "all pairs", "Spearman ρ", worth_test, evidence, why)]
    at = gaps[(gaps["N"] == size) & gaps["bounded"]]
    label = f"{len(at)} pair(s) with bounded G at N = {size:,.0f}"
    v, at_least, at_most = spread_verdict(list(zip(at["G_low"], at["G_high"])))
    decide = "" if v != CANT_TELL else (
        f"{len(at)} pair(s) bounded at that size; the intervals allow ratios from {at_least:.2g} to {at_most:.2g}: "
        "narrower G intervals (a p grid that reaches saturation) or more pairs would.")
    out = [Claim("gap_spread", label, v, "ratio of G between the two most different pairs: least and most the "
                 "intervals allow",
                 at_least, at_least, at_most, spread_test, evidence, decide)]
    common = None
    for _, r in at.iterrows():
        sd = studies.get((r["source"], r["target"]))
        d = set(sd.ed.loc[sd.ed["n_params"] == size, "D_F"]) if sd is not None and sd.ed is not None else set()
        common = d if common is None else common & d
    mult = [multiplier_at(studies.get((r["source"], r["target"])), size, sorted(common or [])) if
            studies.get((r["source"], r["target"])) is not None else math.nan for _, r in at.iterrows()]
    ok = [(g, m) for g, m in zip(at["G"], mult) if np.isfinite(m)]
    v, rho, p = rank_verdict([g for g, _ in ok], [m for _, m in ok], expect="negative")
    decide = "" if v != CANT_TELL else (
        f"{len(ok)} pair(s) with bounded G and a measured multiplier; at least {MIN_RANK_PAIRS} are needed for any "
        "ranking to reach p < 0.05: more pairs with bounded G at one size would." if len(ok) < MIN_RANK_PAIRS else
        f"ρ = {rho:.2f} with one-sided p = {p:.2g}: more pairs would.")
    out.append(Claim("gap_worth", label, v, f"Spearman ρ of G vs D_E/D_F over {len(ok)} pair(s)"
                     + (f", one-sided p = {p:.2g}" if np.isfinite(p) else ""), rho, math.nan, math.nan, worth_test,
                     evidence, decide))
    return out


# -- all together ---------------------------------------------------------------------

def assess(studies: list, gaps: pd.DataFrame, slugs: dict, results=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per claim with the combined verdict, one row per claim and pair tested).
    ``studies``: StudyData in book order; ``slugs``: {(source, target): page folder}."""
    by_pair = {(sd.source, sd.target): sd for sd in studies}
    detail: list[Claim] = source_claims(by_pair, results)
    for sd in studies:
        slug = slugs[(sd.source, sd.target)]
        detail += power_law_claims(sd, slug, results)
        detail += ossification_claims(sd, slug)
        detail += compute_claims(sd, slug)[0]
    detail += gap_claims(gaps, by_pair)
    rows = pd.DataFrame([{"paper": c.paper, "claim": c.claim, **asdict(c)} for c in detail])
    summary = []
    for key, (paper, claim) in CLAIMS.items():
        these = [c for c in detail if c.key == key]
        summary.append({"paper": paper, "claim": claim, "verdict": combine(these),
                        "tested on": ", ".join(dict.fromkeys(c.pair for c in these)) or "nothing yet",
                        "holds / fails / can't tell": "/".join(str(sum(c.verdict == v for c in these))
                                                               for v in (HOLDS, FAILS, CANT_TELL))})
    return pd.DataFrame(summary), rows
