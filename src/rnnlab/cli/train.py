"""`rnnlab train TASK …`: train a model (today: the character language model)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cli.options import add_config_flags, explicit_settings, flag_values, preset_names

HELPS = {
    "data": "shakespeare | shakespeare-mini | python-stdlib | PATH to a text file or directory",
    "cell": "lstm | gru | rnn",
    "nonlinearity": "rnn cell: tanh | relu",
    "layers": "stacked recurrent layers",
    "hidden": "hidden units per layer",
    "embed_dim": "character embedding size (0: one-hot input)",
    "dropout": "dropout on embeddings, between layers and before the decoder",
    "tie_weights": "decoder shares the embedding matrix",
    "proj_size": "LSTM projection size (0: none)",
    "layer_norm": "layer-normalised cells",
    "zoneout": "zoneout probability for h and c",
    "weight_drop": "DropConnect probability on W_hh",
    "locked_dropout": "one dropout mask per sequence between layers",
    "forget_bias": "LSTM forget-gate bias at initialisation",
    "init": "torch | orthogonal | chrono",
    "t_max": "chrono initialisation: longest dependency",
    "backend": "auto | torch | loop",
    "steps": "optimizer steps for the whole run (across resumes)",
    "minutes": "minutes of training for the whole run (across resumes)",
    "optimizer": "adam | adamw | rmsprop | adagrad | sgd",
    "lr": "peak learning rate",
    "schedule": "constant | cosine | step",
    "warmup": "linear warm-up steps",
    "min_lr_ratio": "cosine floor as a fraction of lr",
    "weight_decay": "L2 penalty (decoupled for adamw)",
    "beta1": "Adam's first-moment decay",
    "beta2": "Adam's second-moment decay",
    "alpha": "RMSprop's squared-gradient decay",
    "eps": "optimizer epsilon",
    "momentum": "SGD / RMSprop momentum",
    "decay_every": "step schedule: steps between decays",
    "decay_rate": "step schedule: factor per decay",
    "seed": "random seed (initialisation, dropout)",
    "log_every": "steps between metrics-log lines",
    "checkpoint_every": "steps between checkpoints",
    "checkpoint_minutes": "and at least this often, in minutes",
    "keep_checkpoints": "most recent checkpoints kept",
    "eval_streams": "held-out text is read as this many parallel streams",
    "eval_seq_len": "window length when evaluating",
    "clip_norm": "clip gradients to this global norm (none: off)",
    "clip_value": "clip each gradient element to ±value (none: off)",
    "eval_every": "steps between validation passes",
    "eval_tokens": "validate on the first N characters of the val split (none: all)",
    "patience": "early stopping: evaluations without improvement",
    "device": "auto | cpu | cuda | cuda:N",
    "precision": "auto | fp32 | bf16 (autocast; auto: bf16 where the hardware runs it natively)",
    "grad_scaler": "dynamic loss scaling (none: on with CUDA autocast; cuDNN RNNs run in float16)",
    "threads": "CPU threads for torch",
    "batch": "training streams per batch (global)",
    "seq_len": "truncated-BPTT length",
    "val_fraction": "fraction of the corpus held out for validation",
    "test_fraction": "fraction of the corpus held out for testing",
    "progress": "show a progress bar",
}


def add_parser(sub) -> None:
    parser = sub.add_parser("train", help="train a model", description="Train a model.")
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    charlm = tasks.add_parser(
        "charlm",
        help="character-level language model",
        description=(
            "Train a character-level language model with truncated BPTT. Any setting can be "
            "given as --name VALUE; precedence: defaults < --preset < flags. A run directory "
            "holds config.json, metrics.jsonl, loss.png and the checkpoints. Ctrl-C (SIGINT) or "
            "SIGTERM saves a checkpoint; the same command with --resume continues the run."
        ),
    )
    charlm.add_argument(
        "--preset",
        metavar="NAME",
        help=f"a shipped preset ({', '.join(preset_names())}) or a path to a TOML file",
    )
    charlm.add_argument(
        "--out", metavar="DIR", default="runs/charlm", help="run directory (default: runs/charlm)"
    )
    charlm.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its latest checkpoint (fresh run if it has none)",
    )
    from rnnlab.train.charlm import CharLMRunConfig

    add_config_flags(charlm, CharLMRunConfig, HELPS, group_title="settings")
    charlm.set_defaults(run=run_charlm)


def run_charlm(args: argparse.Namespace) -> int:
    from rnnlab.config import override
    from rnnlab.train.charlm import CharLMRunConfig, train_charlm

    explicit = explicit_settings(CharLMRunConfig, args.preset, flag_values(args))
    cfg = override(CharLMRunConfig(), explicit)
    if cfg.steps is None and cfg.minutes is None:
        from rnnlab.errors import InputError

        raise InputError("train charlm: give a budget, --steps N or --minutes M")
    result = train_charlm(cfg, args.out, resume=args.resume, explicit=explicit, log=_log)
    if not result.main_process:  # under torchrun only the first process reports
        return 0 if result.ok else 1
    if not result.ok:
        print(f"rnnlab train: error: {result.message}", file=sys.stderr)
        return 1
    _log(result.message)
    if result.last_eval and result.stopped != "signal":
        ev = result.last_eval
        _log(f"validation: {ev['loss']:.4f} nats/char, {ev['bpc']:.4f} bpc at step {ev['step']}")
    return 0


def _log(message: str) -> None:
    print(message, flush=True)
