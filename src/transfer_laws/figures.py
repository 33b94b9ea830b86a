"""Every chart of the book, as a function from fitted results to an altair chart,
and ``show``, which puts a chart on a page so that it renders with no network.

``show`` embeds the Vega-Lite spec with a ``vegaEmbed`` call against the vega
bundle that the book vendors into ``_static`` (see ``book.py``), and writes the
same chart as a static SVG next to the page.
"""

from __future__ import annotations

import html
import json
import os
import uuid
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

LOG = alt.Scale(type="log")
WIDTH, HEIGHT = 420, 300


def _axis_log(title: str) -> alt.Axis:
    return alt.Axis(title=title, format="~s", grid=True)


def show(chart: alt.TopLevelMixin, name: str, caption: str) -> None:
    """Render ``chart`` into the executed notebook as an offline vegaEmbed block
    and write ``figures/NAME.svg``."""
    from IPython.display import HTML, display

    spec = chart.to_dict()
    folder = Path(os.environ.get("TRANSFER_LAWS_FIGURES", "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    svg_note = ""
    try:
        import vl_convert as vlc

        (folder / f"{name}.svg").write_text(vlc.vegalite_to_svg(spec))
        svg_note = f' · <a href="figures/{html.escape(name)}.svg">SVG</a>'
    except Exception as e:  # a missing SVG must not hide the interactive chart
        svg_note = f" · (SVG export failed: {html.escape(str(e))})"
    div = f"vis-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12]}"
    display(HTML(
        f'<div class="tl-chart"><div id="{div}" class="altair-chart"></div>'
        f'<script type="text/javascript">vegaEmbed("#{div}", {json.dumps(spec)}, '
        f'{{"renderer": "svg", "actions": false}}).catch(function(e){{console.error(e);}});</script>'
        f'<p class="tl-caption">{html.escape(caption)}{svg_note}</p></div>'))


# --- from-scratch ----------------------------------------------------------------------
def scratch_curves(runs: pd.DataFrame, curves: dict, still_improving: set | None = None) -> alt.Chart:
    """``still_improving``: (n_params, tokens) of runs that ended at their token cap while
    still improving, drawn as downward triangles: their loss is an upper bound."""
    s = runs[runs["kind"] == "scratch"].assign(N=lambda d: d["n_params"].map(lambda n: f"{n:,.0f}"))
    capped = still_improving or set()
    s = s.assign(ended=[("at the token cap, still improving" if (n, t) in capped else "early-stopped or flat")
                        for n, t in zip(s["n_params"], s["tokens"])])
    lines = []
    for n, c in curves.items():
        D = np.geomspace(c.d_min, c.d_max * 4, 60)
        lines.append(pd.DataFrame({"tokens": D, "loss": c.loss(D), "N": f"{n:,.0f}", "n_params": n}))
    fit = pd.concat(lines)
    color = alt.Color("N:N", sort=alt.SortField("n_params"), title="N (non-embedding)")
    ended = ["early-stopped or flat", "at the token cap, still improving"]
    pts = alt.Chart(s).mark_point(filled=True, size=60).encode(
        x=alt.X("tokens:Q", scale=LOG, axis=_axis_log("D: target tokens (from scratch)")),
        y=alt.Y("loss:Q", scale=alt.Scale(zero=False), title="best validation loss (nats/token)"),
        color=color,
        shape=alt.Shape("ended:N", title="run ended", scale=alt.Scale(domain=ended, range=["circle", "triangle-down"])),
        tooltip=["N", "tokens", alt.Tooltip("loss:Q", format=".4f"), "ended"])
    ln = alt.Chart(fit).mark_line(strokeDash=[4, 3]).encode(x="tokens:Q", y="loss:Q", color=color)
    return (pts + ln).properties(width=WIDTH, height=HEIGHT, title="From-scratch loss vs data, per model size")


# --- effective data --------------------------------------------------------------------------
def definition_picture(runs: pd.DataFrame, ed: pd.DataFrame, curve, n_params: float) -> alt.LayerChart:
    """Fig. 1: from-scratch and fine-tuned loss vs target data at one N, with
    D_F → D_E read off horizontally; the gap is D_T."""
    D = np.geomspace(min(curve.d_min, ed["D_F"].min()) / 2, max(curve.d_max, ed["D_E"].replace(np.inf, np.nan).max()) * 2, 80)
    sc = pd.DataFrame({"tokens": D, "loss": curve.loss(D), "what": "from scratch (fitted)"})
    pts_s = runs[(runs["kind"] == "scratch") & (runs["n_params"] == n_params)].assign(what="from scratch (runs)")
    f = ed[ed["n_params"] == n_params].sort_values("D_F")
    ft = f.assign(what="fine-tuned (runs)")  # tokens == D_F
    arrows = f[np.isfinite(f["D_E"]) & (f["D_E"] > 0)].assign(what="D_T = D_E − D_F")
    x = alt.X("tokens:Q", scale=LOG, axis=_axis_log("target data (tokens)"))
    y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title="validation loss (nats/token)")
    color = alt.Color("what:N", title=None)
    base_line = alt.Chart(sc).mark_line().encode(x=x, y=y, color=color)
    p1 = alt.Chart(pts_s).mark_point(filled=True).encode(x=x, y=y, color=color)
    p2 = alt.Chart(ft).mark_line(point=True).encode(x=x, y=y, color=color,
                                                    tooltip=["tokens", alt.Tooltip("loss:Q", format=".4f")])
    rule = alt.Chart(arrows).mark_rule(strokeWidth=2).encode(
        x="D_F:Q", x2="D_E:Q", y="loss:Q", color=color,
        tooltip=[alt.Tooltip("D_F:Q", format=",.0f"), alt.Tooltip("D_E:Q", format=",.0f"),
                 alt.Tooltip("D_T:Q", format=",.0f"), alt.Tooltip("multiplier:Q", format=".2f")])
    return (base_line + p1 + p2 + rule).properties(
        width=WIDTH, height=HEIGHT, title=f"Effective data transferred at N = {n_params:,.0f}")


def fraction_vs_n(ed: pd.DataFrame, params: pd.Series | None) -> alt.LayerChart:
    """Fig. 2: fraction of effective data from transfer vs N, one line per D_F, the fit overlaid."""
    d = ed[(ed["D_T"] > 0) & np.isfinite(ed["D_E"])].assign(DF=lambda x: x["D_F"].map(lambda v: f"{v:,.0f}"))
    left_out = d["left_out"] if "left_out" in d else pd.Series("", index=d.index)
    d = d.assign(fit=np.where(left_out == "", "in the fit", "left out: " + left_out.astype(str)))
    color = alt.Color("DF:N", sort=alt.SortField("D_F"), title="D_F (tokens)")
    pts = alt.Chart(d).mark_point(size=60, strokeWidth=2).encode(
        x=alt.X("n_params:Q", scale=LOG, axis=_axis_log("N (non-embedding parameters)")),
        y=alt.Y("fraction_transfer:Q", title="D_T / D_E", scale=alt.Scale(domain=[0, 1])),
        color=color, shape=alt.Shape("fit:N", title="point"),
        fill=alt.condition("datum.fit == 'in the fit'", alt.Fill("DF:N", sort=alt.SortField("D_F"), legend=None),
                           alt.value("transparent")),
        tooltip=["DF", "n_params", alt.Tooltip("fraction_transfer:Q", format=".3f"), "fit"])
    layers = [pts]
    if params is not None:
        from .laws.effective_data import fraction_from_transfer

        N = np.geomspace(ed["n_params"].min() / 2, ed["n_params"].max() * 2, 40)
        fit = pd.concat([pd.DataFrame({"n_params": N, "D_F": df, "DF": f"{df:,.0f}",
                                       "fraction_transfer": fraction_from_transfer(df, N, **params.to_dict())})
                         for df in sorted(d["D_F"].unique())])
        layers.append(alt.Chart(fit).mark_line(strokeDash=[4, 3]).encode(x="n_params:Q", y="fraction_transfer:Q", color=color))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT,
                                         title="Fraction of effective data from transfer (dashed: fitted law; hollow: not in the fit)")


def loss_vs_n(ed: pd.DataFrame, curves: dict, D_F: float) -> alt.Chart:
    """Fig. 3: loss vs N at one D_F, fine-tuned vs from scratch (the N's curve at D = D_F)."""
    f = ed[ed["D_F"] == D_F]
    rows = [{"n_params": n, "loss": l, "what": "fine-tuned"} for n, l in zip(f["n_params"], f["loss"])]
    rows += [{"n_params": n, "loss": float(curves[n].loss(D_F)), "what": "from scratch"} for n in sorted(curves)]
    d = pd.DataFrame(rows)
    return alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("n_params:Q", scale=LOG, axis=_axis_log("N (non-embedding parameters)")),
        y=alt.Y("loss:Q", scale=alt.Scale(zero=False), title="validation loss (nats/token)"),
        color=alt.Color("what:N", title=None), tooltip=["what", "n_params", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(width=WIDTH, height=HEIGHT, title=f"Loss vs model size at D_F = {D_F:,.0f} tokens")


def multiplier_surface(params: pd.Series, n_range, df_range) -> alt.Chart:
    from .laws.effective_data import multiplier

    N = np.geomspace(*n_range, 24)
    DF = np.geomspace(*df_range, 24)
    g = pd.DataFrame([(n, d) for n in N for d in DF], columns=["N", "D_F"])
    g["multiplier"] = multiplier(g["D_F"], g["N"], **params.to_dict())
    g["log10_multiplier"] = np.log10(g["multiplier"])
    return alt.Chart(g).mark_rect().encode(
        x=alt.X("D_F:O", axis=alt.Axis(title="D_F (tokens)", format="~s", labelOverlap=True)),
        y=alt.Y("N:O", sort="descending", axis=alt.Axis(title="N", format="~s", labelOverlap=True)),
        color=alt.Color("log10_multiplier:Q", title="log10(D_E/D_F)", scale=alt.Scale(scheme="viridis")),
        tooltip=[alt.Tooltip("N:Q", format=",.0f"), alt.Tooltip("D_F:Q", format=",.0f"),
                 alt.Tooltip("multiplier:Q", format=".2f")],
    ).properties(width=WIDTH, height=HEIGHT, title="Effective data multiplier D_E / D_F under the fitted law")


def predicted_vs_measured(df: pd.DataFrame) -> alt.LayerChart:
    lim = [df[["D_T", "predicted"]].min().min() / 2, df[["D_T", "predicted"]].max().max() * 2]
    diag = alt.Chart(pd.DataFrame({"x": lim, "y": lim})).mark_line(color="gray", strokeDash=[2, 2]).encode(x="x:Q", y="y:Q")
    pts = alt.Chart(df).mark_point(filled=True, size=70).encode(
        x=alt.X("D_T:Q", scale=alt.Scale(type="log", domain=lim), axis=_axis_log("measured D_T")),
        y=alt.Y("predicted:Q", scale=alt.Scale(type="log", domain=lim), axis=_axis_log("predicted D_T")),
        color=alt.Color("set:N", title=None), tooltip=["n_params", "D_F", "D_T", "predicted"])
    return (diag + pts).properties(width=WIDTH, height=HEIGHT, title="Out of sample: law fitted without the largest N")


# --- compute ---------------------------------------------------------------------------------
def curves_frame(records: list[dict], kinds=("scratch", "finetune")) -> pd.DataFrame:
    rows = []
    for r in records:
        c = r["config"]
        if c["kind"] not in kinds:
            continue
        for p in r["curve"]:
            rows.append({"kind": c["kind"], "n_params": r["result"]["n_params"], "tokens_budget": c["tokens"],
                         "flops": p["flops"], "val_loss": p["val_loss"], "tokens_seen": p["tokens"],
                         "pretrain_tokens": c.get("pretrain_tokens"), "seed": c["seed"]})
    return pd.DataFrame(rows)


def loss_vs_compute(cf: pd.DataFrame, D_F: float) -> alt.Chart:
    d = cf[(cf["tokens_budget"] == D_F) & (cf["flops"] > 0)].assign(
        N=lambda x: x["n_params"].map(lambda n: f"{n:,.0f}"))
    return alt.Chart(d).mark_line().encode(
        x=alt.X("flops:Q", scale=LOG, axis=_axis_log("training compute (FLOPs), pre-training excluded")),
        y=alt.Y("val_loss:Q", scale=alt.Scale(zero=False), title="validation loss"),
        color=alt.Color("N:N", sort=alt.SortField("n_params")), strokeDash=alt.StrokeDash("kind:N", title="run"),
        detail=["kind:N", "seed:N"],  # one line per run
    ).properties(width=WIDTH, height=HEIGHT, title=f"Loss vs compute at D = D_F = {D_F:,.0f} tokens")


def compute_frontier(cf: pd.DataFrame, D_F: float) -> alt.LayerChart:
    d = cf[(cf["tokens_budget"] == D_F) & (cf["flops"] > 0)].sort_values("flops")
    front = []
    for kind, g in d.groupby("kind"):
        best = np.minimum.accumulate(g["val_loss"].to_numpy())
        front.append(pd.DataFrame({"flops": g["flops"].to_numpy(), "val_loss": best, "kind": kind}))
    fr = pd.concat(front) if front else d.head(0)
    base = loss_vs_compute(cf, D_F).encode(opacity=alt.value(0.35))
    line = alt.Chart(fr).mark_line(strokeWidth=3).encode(x="flops:Q", y="val_loss:Q",
                                                           color=alt.value("black"), strokeDash="kind:N")
    return (base + line).properties(title=f"Curves against the compute frontier (black), D_F = {D_F:,.0f}")


def compute_at_convergence(records: list[dict], D_F: float) -> alt.Chart:
    rows = [{"kind": r["config"]["kind"], "n_params": r["result"]["n_params"],
             "flops": r["result"]["best_step"] * r["config"]["train"]["batch_size"] * r["config"]["shape"]["n_ctx"]
             * r["result"]["flops_per_token"], "loss": r["result"]["loss"]}
            for r in records if r["config"]["kind"] in ("scratch", "finetune") and r["config"]["tokens"] == D_F]
    d = pd.DataFrame(rows)
    return alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("n_params:Q", scale=LOG, axis=_axis_log("N")),
        y=alt.Y("flops:Q", scale=LOG, axis=_axis_log("compute to the best validation loss (FLOPs)")),
        color=alt.Color("kind:N", title=None), tooltip=["kind", "n_params", "flops", "loss"],
    ).properties(width=WIDTH, height=HEIGHT, title=f"Compute at convergence, D = D_F = {D_F:,.0f}")


# --- ossification ------------------------------------------------------------------------------
def ossification(ed: pd.DataFrame, curves: dict) -> alt.Chart:
    d = ed.assign(scratch_loss=[float(curves[n].loss(df)) for n, df in zip(ed["n_params"], ed["D_F"])])
    d["gain"] = d["scratch_loss"] - d["loss"]
    d["N"] = d["n_params"].map(lambda n: f"{n:,.0f}")
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray").encode(y="y:Q")
    ln = alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("D_F:Q", scale=LOG, axis=_axis_log("D_F (tokens)")),
        y=alt.Y("gain:Q", title="from-scratch loss − fine-tuned loss (nats)"),
        color=alt.Color("N:N", sort=alt.SortField("n_params")),
        tooltip=["N", "D_F", alt.Tooltip("gain:Q", format=".4f")])
    return (zero + ln).properties(width=WIDTH, height=HEIGHT,
                                  title="Benefit of pre-training; below zero the pre-trained model ends worse")


# --- transfer gap ------------------------------------------------------------------------------
def exponents_by_pair(table: pd.DataFrame, title: str = "Hernandez et al.'s exponents per pair") -> alt.HConcatChart:
    """Hernandez's α and β per row of ``table`` (a pair, or a pair at one setting): ours
    with intervals, the paper's as hollow points."""
    panels = []
    for k, axis_title in (("alpha", "α (D_F exponent)"), ("beta", "β (N exponent)")):
        d = table.assign(value=table[k], lo=table.get(f"{k}_low", table[k]), hi=table.get(f"{k}_high", table[k]),
                         who=np.where(table["ours"], "ours", "Hernandez et al. (2021)"))[["pair", "value", "lo", "hi", "who"]]
        y = alt.Y("pair:N", title=None, sort=None, axis=alt.Axis(labelLimit=320))
        x = alt.X("value:Q", title=axis_title, scale=alt.Scale(zero=False))
        rule = alt.Chart(d[d["who"] == "ours"]).mark_rule(strokeWidth=2).encode(y=y, x="lo:Q", x2="hi:Q")
        pts = alt.Chart(d).mark_point(size=90).encode(
            y=y, x=x, shape=alt.Shape("who:N", title=None),
            fill=alt.condition(alt.datum.who == "ours", alt.value("#4c78a8"), alt.value("transparent")),
            tooltip=["pair", "value", "lo", "hi"])
        panels.append((rule + pts).properties(width=WIDTH // 2 + 60, height=max(60, 32 * len(d))))
    return alt.hconcat(*panels).properties(title=title)


def gap_surface(pts: pd.DataFrame, fit, pair: str) -> alt.LayerChart:
    d = pts.assign(p=lambda x: x["pretrain_tokens"].map(lambda v: f"{v:,.0f}"))
    F = np.geomspace(d["tokens"].min() / 1.5, d["tokens"].max() * 1.5, 50)
    lines = pd.concat([pd.DataFrame({"tokens": F, "loss": fit.predict(np.full_like(F, p), F), "p": f"{p:,.0f}",
                                     "pretrain_tokens": p}) for p in sorted(d["pretrain_tokens"].unique())])
    color = alt.Color("p:N", sort=alt.SortField("pretrain_tokens"), title="p (pre-training tokens)")
    x = alt.X("tokens:Q", scale=LOG, axis=_axis_log("f: fine-tuning tokens"))
    y = alt.Y("loss:Q", scale=alt.Scale(zero=False), title="target loss")
    return (alt.Chart(d).mark_point(filled=True, size=60).encode(x=x, y=y, color=color, tooltip=["p", "tokens", "loss"])
            + alt.Chart(lines).mark_line().encode(x=x, y=y, color=color)).properties(
        width=WIDTH, height=HEIGHT, title=f"L(p, f): measured (points) and fitted (lines), {pair}")


def gap_ranking(table: pd.DataFrame) -> alt.LayerChart:
    """Pairs by fitted G with its 95% profile interval; ``G_low``/``G_high`` are 0/inf at
    an end the data do not bound, drawn dashed up to the edge of the searched range."""
    d = table.assign(
        lo=np.where(table["G_low"] > 0, table["G_low"], table["G_searched_low"]),
        hi=np.where(np.isfinite(table["G_high"]), table["G_high"], table["G_searched_high"]),
        bounded=np.where((table["G_low"] > 0) & np.isfinite(table["G_high"]), "both ends", "not bounded by the data"))
    d = d[["pair", "G", "lo", "hi", "bounded"]]
    y = alt.Y("pair:N", sort=alt.SortField("G"), title=None)
    x = alt.X("G:Q", scale=LOG, axis=alt.Axis(title="transfer gap G (95% profile interval)", format="~g"))
    dash = alt.StrokeDash("bounded:N", title="interval", scale=alt.Scale(domain=["both ends", "not bounded by the data"],
                                                                         range=[[1, 0], [4, 3]]))
    err = alt.Chart(d).mark_rule(strokeWidth=2).encode(y=y, x=alt.X("lo:Q", scale=LOG), x2="hi:Q", strokeDash=dash)
    pts = alt.Chart(d).mark_point(filled=True, size=90).encode(y=y, x=x, tooltip=["pair", "G", "lo", "hi", "bounded"])
    return (err + pts).properties(width=WIDTH, height=max(60, 40 * len(d)), title="Pairs ranked by transfer gap")


def gap_misfit(cells: pd.DataFrame) -> alt.Chart:
    """The law's misfit per (p, f) cell (``gap.cell_residuals``, one panel per fit in
    ``cells["fit"]``): the cell's mean log-residual after seed offsets, in percent of the
    loss, as colour on a diverging scale; cells whose mean is within two standard errors of
    the law are drawn pale."""
    d = cells.assign(percent=100 * cells["residual"],
                     beyond=np.where(np.abs(cells["residual"]) > 2 * cells["se"], "beyond 2 s.e.", "within 2 s.e."),
                     p=cells["pretrain_tokens"].map(lambda v: f"{v:,.0f}"), f=cells["tokens"].map(lambda v: f"{v:,.0f}"))
    lim = float(max(d["percent"].abs().max(), 1.0))
    p_order = [f"{v:,.0f}" for v in sorted(cells["pretrain_tokens"].unique())]
    f_order = [f"{v:,.0f}" for v in sorted(cells["tokens"].unique())]
    base = alt.Chart(d).encode(
        x=alt.X("f:O", sort=f_order, title="fine-tuning tokens f"),
        y=alt.Y("p:O", sort=p_order[::-1], title="pre-training tokens p"))
    rect = base.mark_rect().encode(
        color=alt.Color("percent:Q", scale=alt.Scale(scheme="redblue", domain=[lim, -lim]),
                        title="runs vs law (% of loss)"),
        opacity=alt.Opacity("beyond:N", scale=alt.Scale(domain=["beyond 2 s.e.", "within 2 s.e."], range=[1.0, 0.35]),
                            title=None),
        tooltip=["fit", "p", "f", alt.Tooltip("percent:Q", format=".1f"), "runs",
                 alt.Tooltip("se:Q", format=".3f", title="s.e. (log-loss)")])
    text = base.mark_text(fontSize=9).encode(text=alt.Text("percent:Q", format="+.1f"))
    return (rect + text).properties(width=150, height=130).facet(
        facet=alt.Facet("fit:N", title=None), columns=3,
        title="Where the transfer-gap law misses the runs: (p, f) cell means after seed offsets")


def allocation_chart(curves: pd.DataFrame) -> alt.Chart:
    d = curves.melt(id_vars=["pair", "budget"], value_vars=["pretrain_tokens", "finetune_tokens"],
                    var_name="data", value_name="tokens")
    return alt.Chart(d).mark_line().encode(
        x=alt.X("budget:Q", scale=LOG, axis=_axis_log("budget (price units)")),
        y=alt.Y("tokens:Q", scale=LOG, axis=_axis_log("optimal tokens")),
        color=alt.Color("pair:N"), strokeDash=alt.StrokeDash("data:N"),
    ).properties(width=WIDTH, height=HEIGHT, title="Loss-minimising split of a data budget")
