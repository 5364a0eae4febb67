#!/usr/bin/env python
"""Side by side with Hugging Face TRL's GRPOTrainer: seconds per GRPO step on the identical setup.

Both trainers get the identical tiny Llama (the same cached warm-started base, or random weights
with --no-warmstart; TRL gets a deep copy of our model object and tokenizer), the addition task
(TRL: a `datasets.Dataset` of our training prompts and a reward function calling our verifier),
16 prompts x 8 samples per step, the same generation budget, temperature 1, AdamW with the same
hyper-parameters and a constant schedule, gradient clip 1.0, the token-mean (DAPO) loss with
group-std advantages, no KL (beta = 0), one update per batch (num_iterations = 1), fp32, the same
number of torch threads.

TRL's CPU defaults are overridden on purpose: bf16=True even with use_cpu=True,
gradient_checkpointing=True, lr 1e-6 with linear decay, and per_device_train_batch_size counting
completions (16 x 8 = 128 here). In the fp32 phase TRL is given our own AdamW + constant LambdaLR
through `optimizers=`, so the update rule and kernel are literally the same (TRL's default,
adamw_torch_fused, skips weight decay on biases/norms and uses the fused kernel, which is much
faster on CPU than the single-tensor loop torch picks for CPU tensors); the best phase lets TRL use
its default, and the opt-in `fused` phase gives both AdamW(fused=True).

The two alternate in one process: TRL runs its ordinary `trainer.train()`, and a callback runs a
block of our steps after every block of TRL steps, so machine drift hits both. A TRL step is timed
from the end of the previous one (our block excluded) to its `on_step_end`: generation, reward,
loss, backward, optimizer, and all of the Trainer's own per-step bookkeeping. Our step is
`rl_step(state)`. The first block of each is a warm-up and is not counted.

Phases (each labelled in the output):
  fp32  identical settings (the comparison the target refers to);
  best  each at its best CPU setting: ours model.precision=bf16 (eager attention, fp32 master
        weights), TRL bf16=True (CPU autocast over fp32 weights); `--trl-best fp32` to compare
        against TRL fp32 instead;
  curve reward mean vs samples seen from the same base, for --curve-seeds seeds, not timed.

    OMP_NUM_THREADS=2 python benchmarks/bench_trl.py                # a few minutes
    python benchmarks/bench_trl.py --steps 5 --rounds 6 --threads 2 --json out.json
    python benchmarks/bench_trl.py --profile 10                     # where our step spends its time

TRL is an optional benchmark dependency (`pip install -e .[bench]`); the `scaling` package
never imports it.
"""

from __future__ import annotations

import argparse
import os
import sys


def _early_threads() -> int:
    """Thread env vars must be set before torch is imported."""
    threads = 2
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            threads = int(sys.argv[i + 1])
        elif arg.startswith("--threads="):
            threads = int(arg.split("=", 1)[1])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    return threads


_THREADS = _early_threads()

import contextlib  # noqa: E402
import copy  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import torch  # noqa: E402

from scaling.config import load_run_config  # noqa: E402
from scaling.rl import step as step_module  # noqa: E402
from scaling.rl.state import build_state  # noqa: E402
from scaling.rl.step import rl_step  # noqa: E402


# ----------------------------------------------------------------------------------------- setup

def our_config(args, precision: str = "fp32", seed: int = 0):
    overrides = [
        f"seed={seed}", f"threads={args.threads}", f"model.precision={precision}", "model.attn_implementation=eager",
        f"warmstart.enabled={not args.no_warmstart}",
        f"rollout.prompts_per_step={args.prompts}", f"rollout.generations_per_prompt={args.group}",
        f"rollout.max_new_tokens={args.max_new_tokens}", "rollout.temperature=1.0", "rollout.overlong=keep",
        "loss.type=grpo", "loss.aggregation=token_mean", "loss.adv_norm=group", "loss.kl_beta=0.0",
        f"optim.lr={args.lr}", "optim.warmup_steps=0", "train.updates_per_batch=1", "train.pipeline_k=0",
    ]
    return load_run_config(None, overrides)


def trl_versions() -> dict:
    import accelerate
    import datasets
    import transformers
    import trl
    return {"trl": trl.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
            "datasets": datasets.__version__, "torch": torch.__version__}


@dataclass
class Record:
    """Per-step measurements of one trainer."""
    name: str
    seconds: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)   # completion tokens sampled (incl. EOS)
    trained: list[int] = field(default_factory=list)     # completion tokens in the loss
    rounds: list[list[float]] = field(default_factory=list)  # seconds per step, per measured block


def make_trl_trainer(model, tokenizer, task, cfg, args, *, bf16: bool, seed: int, max_steps: int,
                     callbacks: list, record: Record, optimizer: str = "ours"):
    """optimizer: "ours" = torch AdamW as scaling builds it (single-tensor on CPU), "fused" = the same with
    fused=True, "trl" = TRL's own default (adamw_torch_fused, no decay on biases/norms)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    examples = task.train_examples()
    dataset = Dataset.from_dict({"prompt": [ex.prompt for ex in examples], "idx": list(range(len(examples)))})

    def addition_reward(prompts, completions, completion_ids, idx, **_):
        rewards = [task.score(examples[i], text) for i, text in zip(idx, completions)]
        record.rewards.append(sum(rewards) / len(rewards))
        tokens = sum(len(ids) for ids in completion_ids)
        record.generated.append(tokens)
        record.trained.append(tokens)  # every completion token up to and including EOS is in the loss
        return rewards

    opt = cfg.optim
    trl_args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench_trl_"), use_cpu=True, seed=seed,
        bf16=bf16, fp16=False, gradient_checkpointing=False,              # TRL defaults: bf16=True, checkpointing on
        learning_rate=opt.lr, lr_scheduler_type="constant", warmup_steps=0,  # TRL default: 1e-6, linear decay
        weight_decay=opt.weight_decay, adam_beta1=opt.beta1, adam_beta2=opt.beta2, adam_epsilon=opt.adam_eps,
        max_grad_norm=opt.grad_clip,
        per_device_train_batch_size=args.prompts * args.group,             # counts completions, not prompts
        gradient_accumulation_steps=1, num_generations=args.group, num_iterations=1,
        max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0, top_k=0,
        beta=0.0, epsilon=0.2, loss_type="dapo", scale_rewards="group",    # dapo = our token_mean
        mask_truncated_completions=False, disable_dropout=True,
        max_steps=max_steps, logging_steps=10**9, save_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, log_completions=False, remove_unused_columns=False, optim="adamw_torch_fused",
    )
    optimizers = (None, None)
    if optimizer != "trl":
        extra = {"fused": True} if optimizer == "fused" else {}
        adamw = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.adam_eps,
                                  weight_decay=opt.weight_decay, **extra)
        optimizers = (adamw, torch.optim.lr_scheduler.LambdaLR(adamw, lambda _: 1.0))
    return GRPOTrainer(model=model, reward_funcs=addition_reward, args=trl_args, train_dataset=dataset,
                       processing_class=tokenizer, optimizers=optimizers, callbacks=callbacks)


def fused_optimizer(state) -> None:
    """What-if for ours: the same AdamW with fused=True (scaling builds the single-tensor one on CPU)."""
    opt = state.config.optim
    state.optimizer = torch.optim.AdamW(state.master.master, lr=opt.lr, betas=(opt.beta1, opt.beta2),
                                        eps=opt.adam_eps, weight_decay=opt.weight_decay, fused=True)
    state.scheduler = torch.optim.lr_scheduler.LambdaLR(state.optimizer, lambda _: 1.0)


def reset_accelerate() -> None:
    """Let a second Trainer in this process pick a different mixed precision."""
    try:
        from accelerate.state import AcceleratorState
        AcceleratorState._reset_state(reset_partial_state=True)
    except Exception:  # noqa: BLE001 - older accelerate: nothing to reset
        pass


def quiet_train(trainer) -> None:
    """trainer.train() without the metrics dict the Trainer prints at the end."""
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()


def our_steps(state, record: Record, count: int, timed: bool = True) -> None:
    for _ in range(count):
        meter = state.meter
        generated, trained = meter.generated_tokens, meter.trained_tokens
        started = time.perf_counter()
        row = rl_step(state)
        elapsed = time.perf_counter() - started
        meter.step += 1
        if timed:
            record.seconds.append(elapsed)
        record.rewards.append(row["reward_mean"])
        record.generated.append(meter.generated_tokens - generated)
        record.trained.append(meter.trained_tokens - trained)


# ------------------------------------------------------------------------------------ alternate

def alternate(args, label: str, ours_state, trl_model, tokenizer, task, cfg, trl_bf16: bool,
              trl_optimizer: str = "ours") -> tuple[Record, Record]:
    """TRL's train() with a callback that runs a block of our steps after each block of TRL steps."""
    from transformers import TrainerCallback

    ours, trl = Record(f"ours-{label}"), Record(f"trl-{label}")
    block, blocks = args.steps, args.rounds + 1  # block 0 is warm-up for both

    class Alternator(TrainerCallback):
        def __init__(self):
            self.mark = None
            self.block_times: list[float] = []

        def on_train_begin(self, *a, **k):
            self.mark = time.perf_counter()

        def on_step_end(self, _args, tstate, control, **k):
            self.block_times.append(time.perf_counter() - self.mark)
            if tstate.global_step % block == 0:
                index = tstate.global_step // block - 1
                if index > 0:
                    trl.rounds.append(self.block_times)
                    trl.seconds.extend(self.block_times)
                self.block_times = []
                start = len(ours.seconds)
                our_steps(ours_state, ours, block, timed=True)
                if index == 0:  # warm-up block of ours: drop its timings
                    del ours.seconds[start:]
                else:
                    ours.rounds.append(ours.seconds[start:])
                print(f"  [{label}] round {index}{' (warm-up)' if index == 0 else ''}: "
                      f"trl {statistics.median(trl.rounds[-1]) if index else float('nan'):.3f} s/step, "
                      f"ours {statistics.median(ours.rounds[-1]) if index else float('nan'):.3f} s/step",
                      file=sys.__stdout__, flush=True)
            self.mark = time.perf_counter()

    reset_accelerate()
    trainer = make_trl_trainer(trl_model, tokenizer, task, cfg, args, bf16=trl_bf16, seed=cfg.seed,
                               max_steps=block * blocks, callbacks=[Alternator()], record=trl, optimizer=trl_optimizer)
    quiet_train(trainer)
    # Drop the warm-up block's rewards/tokens so every list lines up with `seconds`.
    for rec in (ours, trl):
        rec.rewards, rec.generated, rec.trained = (x[block:] for x in (rec.rewards, rec.generated, rec.trained))
    return ours, trl


# -------------------------------------------------------------------------------------- report

def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return q[0], q[1], q[2]


def summarize(rec: Record) -> dict:
    lo, med, hi = quartiles(rec.seconds)
    total = sum(rec.seconds)
    return {"name": rec.name, "steps": len(rec.seconds), "median_s": med, "q25_s": lo, "q75_s": hi, "min_s": min(rec.seconds),
            "iqr_s": hi - lo, "mean_s": total / len(rec.seconds), "steps_per_s": 1.0 / med,
            # tokens/s at the median step (robust to load spikes); *_mean variants divide by the total time
            "generated_tok_per_s": statistics.fmean(rec.generated) / med,
            "trained_tok_per_s": statistics.fmean(rec.trained) / med,
            "generated_tok_per_s_mean": sum(rec.generated) / total, "trained_tok_per_s_mean": sum(rec.trained) / total,
            "tokens_per_step": sum(rec.generated) / len(rec.generated), "reward_mean": statistics.fmean(rec.rewards),
            "round_medians_s": [statistics.median(r) for r in rec.rounds]}


def paired_ratio(ours: Record, trl: Record) -> dict:
    """ours/TRL in steps/s = TRL s/step / ours s/step; per round (adjacent blocks) and overall."""
    per_round = [statistics.median(t) / statistics.median(o) for o, t in zip(ours.rounds, trl.rounds)]
    return {"ratio": statistics.median(trl.seconds) / statistics.median(ours.seconds),
            "ratio_paired_median": statistics.median(per_round),
            "ratio_min_time": min(trl.seconds) / min(ours.seconds),
            "ratio_mean_time": statistics.fmean(trl.seconds) / statistics.fmean(ours.seconds),
            "round_ratios": per_round, "round_ratio_min": min(per_round), "round_ratio_max": max(per_round)}


def print_table(title: str, rows: list[dict], ratio: dict) -> None:
    print(f"\n{title}")
    print(f"  {'trainer':<16}{'s/step med':>11}{'IQR':>17}{'min':>7}{'steps/s':>9}{'gen tok/s':>11}{'train tok/s':>12}"
          f"{'tok/step':>9}{'reward':>8}")
    for r in rows:
        print(f"  {r['name']:<16}{r['median_s']:>11.3f}   [{r['q25_s']:.3f}, {r['q75_s']:.3f}]"
              f"{r['min_s']:>7.3f}{r['steps_per_s']:>9.2f}{r['generated_tok_per_s']:>11.0f}{r['trained_tok_per_s']:>12.0f}"
              f"{r['tokens_per_step']:>9.0f}{r['reward_mean']:>8.3f}")
    rr = ", ".join(f"{x:.2f}" for x in ratio["round_ratios"])
    print(f"  ours/TRL steps/s: {ratio['ratio']:.2f}x from medians; paired (median of per-round ratios) "
          f"{ratio['ratio_paired_median']:.2f}x; {ratio['ratio_min_time']:.2f}x from fastest steps; "
          f"{ratio['ratio_mean_time']:.2f}x from mean times\n  per-round ratios: {rr}")


# ---------------------------------------------------------------------------------------- curve

def learning_curves(args, base_model, tokenizer, task) -> dict:
    """Reward mean per step vs samples seen, both trainers from the same base, several seeds (untimed)."""
    from transformers import TrainerCallback

    per_step = args.prompts * args.group
    out = {"samples_per_step": per_step, "ours": {}, "trl": {}}
    for seed in range(args.curve_seeds):
        cfg = our_config(args, "fp32", seed)
        state = build_state(cfg)
        state.model.load_state_dict(base_model.state_dict())
        rec = Record("ours")
        our_steps(state, rec, args.curve_steps, timed=False)
        out["ours"][seed] = rec.rewards
        trl = Record("trl")
        reset_accelerate()
        trainer = make_trl_trainer(copy.deepcopy(base_model), copy.deepcopy(tokenizer), task, cfg, args, bf16=False,
                                   seed=seed, max_steps=args.curve_steps, callbacks=[TrainerCallback()], record=trl)
        quiet_train(trainer)
        out["trl"][seed] = trl.rewards
        print(f"  [curve] seed {seed}: ours first/last-{args.curve_window} reward "
              f"{statistics.fmean(rec.rewards[:args.curve_window]):.3f} -> {statistics.fmean(rec.rewards[-args.curve_window:]):.3f}; "
              f"trl {statistics.fmean(trl.rewards[:args.curve_window]):.3f} -> {statistics.fmean(trl.rewards[-args.curve_window:]):.3f}",
              flush=True)
    return out


def print_curves(curves: dict, window: int) -> None:
    seeds = sorted(curves["ours"])
    steps = len(curves["ours"][seeds[0]])
    print(f"\nLearning curve (fp32, reward mean of the sampled batch, window of {window} steps; mean over "
          f"{len(seeds)} seeds, [min, max] across seeds)")
    print(f"  {'samples':>9}  {'ours':>22}  {'trl':>22}")
    for lo in range(0, steps, window):
        hi = min(steps, lo + window)
        cells = []
        for name in ("ours", "trl"):
            vals = [statistics.fmean(curves[name][s][lo:hi]) for s in seeds]
            cells.append(f"{statistics.fmean(vals):.3f} [{min(vals):.3f}, {max(vals):.3f}]")
        print(f"  {hi * curves['samples_per_step']:>9}  {cells[0]:>22}  {cells[1]:>22}")
    half = steps // 2
    for name in ("ours", "trl"):
        first = [statistics.fmean(curves[name][s][:half]) for s in seeds]
        last = [statistics.fmean(curves[name][s][half:]) for s in seeds]
        print(f"  {name}: first half {statistics.fmean(first):.3f} -> second half {statistics.fmean(last):.3f} "
              f"(per seed: {', '.join(f'{x:.3f}->{y:.3f}' for x, y in zip(first, last))})")


# -------------------------------------------------------------------------------------- profile

def profile_ours(args, base_model) -> None:
    """Where our fp32 step spends its time: a component breakdown by wrapping the stages, then cProfile."""
    cfg = our_config(args, "fp32", 0)
    state = build_state(cfg)
    state.model.load_state_dict(base_model.state_dict())
    our_steps(state, Record("warm"), 2, timed=False)
    totals: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    patches = [(step_module, "sample"), (step_module, "decode"), (step_module, "completion_logprobs"),
               (step_module, "encode_prompts"), (step_module, "compute_advantages")]
    saved = [(mod, name, getattr(mod, name)) for mod, name in patches]
    for mod, name, fn in saved:
        setattr(mod, name, timed(name, fn))
    orig_backward, orig_clip = torch.Tensor.backward, torch.nn.utils.clip_grad_norm_
    torch.Tensor.backward = timed("backward", orig_backward)
    torch.nn.utils.clip_grad_norm_ = timed("clip_grad_norm", orig_clip)
    state.optimizer.step = timed("optimizer.step", state.optimizer.step)
    orig_score = state.task.score
    state.task.score = timed("task.score", orig_score)
    rec = Record("profile")
    try:
        our_steps(state, rec, args.profile)
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
        torch.Tensor.backward, torch.nn.utils.clip_grad_norm_ = orig_backward, orig_clip
        state.task.score = orig_score
    total = sum(rec.seconds)
    print(f"\nProfile of our fp32 step ({args.profile} steps, {total / args.profile:.3f} s/step; wall time per stage):")
    for name, sec in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20}{sec / args.profile:>8.4f} s/step  {100 * sec / total:5.1f}%")
    covered = sum(v for k, v in totals.items() if k != "task.score")  # score runs inside no other stage
    print(f"  {'(rest)':<20}{(total - covered) / args.profile:>8.4f} s/step  {100 * (total - covered) / total:5.1f}%")

    prof = cProfile.Profile()
    prof.enable()
    our_steps(state, Record("cprofile"), args.profile)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
    print("\ncProfile, top functions by own time:")
    print("\n".join(line for line in buf.getvalue().splitlines()[6:] if line.strip()))

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tprof:
        our_steps(state, Record("torchprof"), max(2, args.profile // 2))
    print("\ntorch.profiler, top ops by self CPU time:")
    print(tprof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


# ----------------------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2, help="steps per block (each trainer runs one block per round)")
    ap.add_argument("--rounds", type=int, default=10, help="measured rounds (plus one warm-up round)")
    ap.add_argument("--threads", type=int, default=_THREADS, help="torch threads for both (sets OMP_NUM_THREADS)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8, help="samples per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4, help="AdamW lr for both (constant)")
    ap.add_argument("--no-warmstart", action="store_true", help="random weights instead of the cached warm-started base")
    ap.add_argument("--phases", default="fp32,best,curve",
                    help="comma list of fp32, best, curve, fused (what-if: both fp32 with fused AdamW)")
    ap.add_argument("--trl-best", choices=["bf16", "fp32"], default="bf16", help="TRL's setting in the best phase")
    ap.add_argument("--curve-steps", type=int, default=30)
    ap.add_argument("--curve-seeds", type=int, default=2)
    ap.add_argument("--curve-window", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, help="also profile N of our fp32 steps")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    versions = trl_versions()
    load = os.getloadavg()
    print(f"bench_trl: {versions}; threads {args.threads}, cores {os.cpu_count()}, load average "
          f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}; batch {args.prompts}x{args.group}, max_new_tokens "
          f"{args.max_new_tokens}, lr {args.lr} constant, {args.rounds} rounds x {args.steps} steps (+1 warm-up round)")

    cfg = our_config(args, "fp32", 0)
    base_state = build_state(cfg)  # loads (or builds once) the cached warm-started base
    base_model = copy.deepcopy(base_state.model)
    tokenizer, task = base_state.tokenizer, base_state.task
    result: dict = {"versions": versions, "args": vars(args), "load_before": load}
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]

    if "fp32" in phases:
        ours, trl = alternate(args, "fp32", base_state, copy.deepcopy(base_model), copy.deepcopy(tokenizer),
                              task, cfg, trl_bf16=False)
        rows = [summarize(ours), summarize(trl)]
        ratio = paired_ratio(ours, trl)
        result["fp32"] = {"ours": rows[0], "trl": rows[1], **ratio}
        print_table("Identical settings (fp32, eager attention, no KL, 1 update per batch):", rows, ratio)

    if "best" in phases:
        best_cfg = our_config(args, "bf16", 0)
        best_state = build_state(best_cfg)  # the same cached base, cast to bf16 (fp32 master copy kept)
        assert all(torch.equal(p.detach(), q.detach().to(p.dtype)) for p, q in
                   zip(best_state.model.parameters(), base_model.parameters())), "bf16 state is not the same base"
        ours_b, trl_b = alternate(args, "best", best_state, copy.deepcopy(base_model), copy.deepcopy(tokenizer),
                                  task, cfg, trl_bf16=args.trl_best == "bf16", trl_optimizer="trl")
        ours_b.name, trl_b.name = "ours-bf16", f"trl-{args.trl_best}"
        rows = [summarize(ours_b), summarize(trl_b)]
        ratio = paired_ratio(ours_b, trl_b)
        result["best"] = {"ours": rows[0], "trl": rows[1], **ratio}
        print_table(f"Best CPU setting each (ours: model.precision=bf16 + eager, fp32 master weights, as built; TRL: "
                    f"{'bf16=True (CPU autocast, fp32 weights)' if args.trl_best == 'bf16' else 'fp32'} with its "
                    f"default adamw_torch_fused):", rows, ratio)

    if "fused" in phases:
        fused_state = build_state(cfg)
        fused_optimizer(fused_state)
        ours_f, trl_f = alternate(args, "fused", fused_state, copy.deepcopy(base_model), copy.deepcopy(tokenizer),
                                  task, cfg, trl_bf16=False, trl_optimizer="fused")
        rows = [summarize(ours_f), summarize(trl_f)]
        ratio = paired_ratio(ours_f, trl_f)
        result["fused"] = {"ours": rows[0], "trl": rows[1], **ratio}
        print_table("What-if, fp32 with AdamW(fused=True) in both (ours: optimizer swapped in by this script):",
                    rows, ratio)

    if "curve" in phases and args.curve_seeds > 0:
        curves = learning_curves(args, base_model, tokenizer, task)
        result["curve"] = curves
        print_curves(curves, args.curve_window)

    if args.profile:
        profile_ours(args, base_model)

    result["load_after"] = os.getloadavg()
    print(f"\nload average after: {result['load_after'][0]:.2f}/{result['load_after'][1]:.2f}/{result['load_after'][2]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
