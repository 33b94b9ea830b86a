"""Training throughput of our step vs the same model trained through HF `Trainer`.

Prints, for each model size: tokens/s and model-FLOPs utilisation (MFU) of our step,
tokens/s of HF Trainer on the same tokens, and the ratio. MFU is measured against a
peak this script measures itself (the best of large fp32 matmuls on CPU, bf16 on CUDA).

MFU counts 6N plus the attention term (Kaplan et al.), which leaves out the output
layer; at small N that layer is most of the work. So the script also prints the
utilisation with the output layer counted (``all-FLOPs``) and the ceiling on any
speed-up over Trainer: Trainer's step time over the time the step's FLOPs would take at
the measured peak.

    .venv/bin/python benchmarks/throughput.py [--device cuda] [--sizes 10000 100000]

Uses the built `python` distribution if present, else the Python standard library's
own source tokenized with a small tokenizer (so it runs on a fresh clone).

``--vocab-study`` compares vocabulary sizes instead, all in one run on one machine:

1. bytes per token: for each ``--vocabs`` size, a tokenizer is trained exactly as
   ``data build`` trains it (same sample of the built documents) and every built-in
   distribution's validation documents are encoded (end-of-text tokens counted);
2. tokens/s of our training step (AdamW included) for each ``--shapes`` LAYERSxWIDTH
   at each size, and for ``--old-shapes`` at the largest; bytes/s is tokens/s times
   bytes per token (of the ``python`` target, and the mean over distributions).
   The step's cost does not depend on the token values, so it trains on uniform
   random ids below V. Each configuration is timed ``--repeats`` times, the
   configurations taken in turn, and the best is kept, so that other work on a
   shared machine slows every configuration alike and the fastest run is the least
   disturbed one.

    .venv/bin/python benchmarks/throughput.py --vocab-study --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from transfer_laws.model import ModelShape, build_model, count_non_embedding, flops_per_token, shape_for
from transfer_laws.train import TrainConfig, train


def measured_peak_flops(device: str) -> float:
    n = 4096 if device.startswith("cuda") else 1024
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for _ in range(5):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - t))
    return best


def tokens(n: int) -> np.ndarray:
    try:
        from transfer_laws.data import DataStore

        return np.asarray(DataStore().tokens("python", "train", n))
    except Exception:
        import sysconfig
        from pathlib import Path

        from transfer_laws.tokenizer import train_tokenizer

        texts = [p.read_text(errors="ignore") for p in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))]
        tok = train_tokenizer(texts[:80])
        ids = np.concatenate([np.asarray(e.ids) for e in tok.encode_batch(texts)])
        return np.resize(ids, n)


def hf_trainer_tokens_per_s(model, data: np.ndarray, n_ctx: int, batch: int, steps: int, device: str) -> float:
    from transformers import Trainer, TrainingArguments

    class Windows(torch.utils.data.Dataset):
        def __len__(self):
            return batch * steps

        def __getitem__(self, i):
            o = np.random.randint(0, len(data) - n_ctx - 1)
            x = torch.from_numpy(data[o:o + n_ctx].astype(np.int64))
            return {"input_ids": x, "labels": x}

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, max_steps=steps,
                                 learning_rate=1e-3, warmup_steps=5, lr_scheduler_type="cosine",
                                 weight_decay=0.1, max_grad_norm=1.0, logging_strategy="no",
                                 save_strategy="no", report_to=[], disable_tqdm=True,
                                 use_cpu=not device.startswith("cuda"), bf16=device.startswith("cuda"),
                                 dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=Windows())
        t = time.perf_counter()
        trainer.train()
        return batch * steps * n_ctx / (time.perf_counter() - t)


def bytes_per_token(vocabs: list[int]) -> dict[int, dict[str, float]]:
    """{V: {distribution: bytes per token on its validation split}} for tokenizers
    trained as `data build` trains them; needs the documents built."""
    from transfer_laws.data import DataStore
    from transfer_laws.tokenizer import train_tokenizer

    store = DataStore()
    names = sorted(n for n, r in store.recipes.items() if "mix" not in r)
    out: dict[int, dict[str, float]] = {}
    for v in vocabs:
        tok = train_tokenizer(store.tokenizer_sample(names), v)
        out[v] = {}
        for n in names:
            texts = [d["text"] for d in store._iter_docs(n, "validation")]
            n_tokens = sum(len(e.ids) + 1 for e in tok.encode_batch(texts))  # + end-of-text
            out[v][n] = sum(len(t.encode()) for t in texts) / n_tokens
    return out


def step_tokens_per_s(n_layer: int, d_model: int, vocab: int, n_ctx: int, batch: int, steps: int) -> tuple[int, float]:
    """(N, tokens/s) of our training step for one shape, on uniform random ids."""
    shape = ModelShape(n_layer, d_model, d_model // 16, vocab, n_ctx)
    torch.manual_seed(0)
    model = build_model(shape)
    n = count_non_embedding(model)
    data = np.random.default_rng(0).integers(0, vocab, 200_000).astype(np.int64)
    cfg = TrainConfig(batch_size=batch, max_tokens=batch * n_ctx * steps, eval_tokens=2048,
                      eval_interval=10**9, eval_growth=10**9, warmup_steps=5)
    res = train(model, data, data[-10_000:], cfg, n_ctx, flops_per_token(n, shape), seed=0, progress=False)
    return n, res.tokens_per_s


def vocab_study(args) -> None:
    torch.set_num_threads(args.threads)
    parse = lambda s: tuple(int(x) for x in s.lower().split("x"))
    bpt = bytes_per_token(args.vocabs)
    names = sorted(next(iter(bpt.values())))
    print(f"threads {torch.get_num_threads()}, n_ctx {args.n_ctx}, batch {args.batch}, steps {args.steps}")
    print("\nbytes per token (validation split)")
    print(f"{'V':>6} " + " ".join(f"{n:>13}" for n in names) + f" {'mean':>6}")
    for v, row in bpt.items():
        print(f"{v:>6} " + " ".join(f"{row[n]:>13.3f}" for n in names) + f" {np.mean(list(row.values())):>6.3f}")
    print("\ntraining step, tokens/s and bytes/s (python target; mean bytes/token over distributions)")
    print(f"{'family':<6} {'shape':>6} {'N':>8} {'V':>5} {'tokens/s':>9} {'python B/s':>11} {'mean B/s':>9}")
    runs = [("new", s, v) for s in args.shapes for v in args.vocabs]
    runs += [("old", s, max(args.vocabs)) for s in args.old_shapes]
    best: dict[tuple, tuple[int, float]] = {}
    for _ in range(args.repeats):
        for family, s, v in runs:
            n, tps = step_tokens_per_s(*parse(s), v, args.n_ctx, args.batch, args.steps)
            best[family, s, v] = (n, max(tps, best.get((family, s, v), (0, 0.0))[1]))
    for family, s, v in runs:
        n, tps = best[family, s, v]
        mean = np.mean(list(bpt[v].values()))
        py = bpt[v].get("python", float("nan"))
        print(f"{family:<6} {s:>6} {n:>8,} {v:>5} {tps:>9,.0f} {tps * py:>11,.0f} {tps * mean:>9,.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab-study", action="store_true", help="bytes/token and tokens/s across vocabulary sizes")
    ap.add_argument("--vocabs", type=int, nargs="*", default=[4096, 1024, 512])
    ap.add_argument("--shapes", nargs="*", default=["2x16", "2x32", "2x48", "2x64", "3x80"])
    ap.add_argument("--old-shapes", nargs="*", default=["1x16", "1x32", "1x48", "2x80"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="--vocab-study: best of this many timings per shape")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", type=int, nargs="*", default=[3000, 10000, 30000, 100000, 300000])
    ap.add_argument("--n-ctx", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    if args.vocab_study:
        args.threads = args.threads or 1
        return vocab_study(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = measured_peak_flops(args.device)
    data = tokens(2_000_000)
    print(f"device {args.device}, measured peak {peak / 1e9:.1f} GFLOP/s, threads {torch.get_num_threads()}, "
          f"n_ctx {args.n_ctx}, batch {args.batch}")
    print(f"{'N':>10} {'ours tok/s':>11} {'ours MFU':>9} {'all-FLOPs':>9} {'HF tok/s':>10} {'ratio':>6} "
          f"{'ceiling':>7}")
    for n in args.sizes:
        shape = shape_for(n, 4096, args.n_ctx)
        torch.manual_seed(0)
        model = build_model(shape)
        N = count_non_embedding(model)
        fpt = flops_per_token(N, shape)
        cfg = TrainConfig(batch_size=args.batch, max_tokens=args.batch * args.n_ctx * args.steps, eval_tokens=2048,
                          eval_interval=10**9, eval_growth=10**9, warmup_steps=5)
        ours = train(model, data, data[-10_000:], cfg, args.n_ctx, fpt, seed=0, device=args.device,
                     peak_flops=peak, progress=False)
        torch.manual_seed(0)
        hf = hf_trainer_tokens_per_s(build_model(shape), data, args.n_ctx, args.batch, args.steps, args.device)
        all_flops = fpt + 6 * shape.vocab_size * shape.d_model  # plus the output layer
        print(f"{N:>10,} {ours.tokens_per_s:>11,.0f} {100 * ours.mfu:>8.2f}% "
              f"{100 * ours.tokens_per_s * all_flops / peak:>8.2f}% {hf:>10,.0f} {ours.tokens_per_s / hf:>6.2f} "
              f"{peak / (all_flops * hf):>6.2f}x")


if __name__ == "__main__":
    main()
