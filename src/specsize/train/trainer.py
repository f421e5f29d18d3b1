"""Training the tiny models on CPU: packed sequences, AdamW with warm-up and cosine decay, the main
next-token loss plus DeepSeek-V3's MTP loss, and DeepSeek's auxiliary-loss-free expert balancing.

- MTP loss (DeepSeek-V3 report §2.2, eq. 24-25): the MTP module reads the main model's final states h_i and
  the embedding of t_{i+1} and predicts t_{i+2}; L = L_main + lambda * L_MTP with lambda = 0.3 (the report's
  value for the first 10T tokens). During training the module shares the main model's embedding and output
  head (as DeepSeek trains it); the checkpoint stores copies, as R1's does.
- Balancing (§2.1.2): after each step every routed expert's e_score_correction_bias moves by gamma towards
  the mean load (up if under-loaded, down if over-loaded); the bias steers the choice only, not the weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from specsize.engine.model import Transformer
from specsize.engine.moe import MoE

MTP_LAMBDA = 0.3  # DeepSeek-V3 report §4.2 (training hyper-parameters)
BIAS_GAMMA = 1e-3  # DeepSeek-V3 uses 0.001 for most of training


@dataclass
class TrainConfig:
    seq_len: int = 256
    batch: int = 16
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 100
    weight_decay: float = 0.1
    max_steps: int = 2000
    max_seconds: float = float("inf")
    eval_every: int = 200
    seed: int = 0
    mtp_lambda: float = MTP_LAMBDA


@dataclass
class TrainLog:
    steps: int = 0
    seconds: float = 0.0
    train_loss: list[tuple[int, float, float]] = field(default_factory=list)  # (step, main, mtp)
    val_loss: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def final(self) -> dict:
        _, main, mtp = self.val_loss[-1] if self.val_loss else (self.steps, math.nan, math.nan)
        return {"steps": self.steps, "seconds": round(self.seconds, 1), "val_loss": round(main, 4),
                "val_mtp_loss": None if math.isnan(mtp) else round(mtp, 4)}  # fmt: skip


def pack(token_lists: list[list[int]], seq_len: int) -> torch.Tensor:
    """Concatenate examples and cut [N, seq_len + 1] windows (inputs and shifted targets share them)."""
    flat = [t for ids in token_lists for t in ids]
    n = len(flat) // (seq_len + 1)
    return torch.tensor(flat[: n * (seq_len + 1)]).view(n, seq_len + 1)


def tie_mtp(model: Transformer) -> None:
    """Share the main embedding and head with the MTP module for training."""
    mtp = model.mtp
    if mtp is not None:
        mtp.embed_tokens.weight = model.model.embed_tokens.weight
        mtp.shared_head.head.weight = model.model.embed_tokens.weight if model.tied else model.lm_head.weight


def losses(model: Transformer, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    x, y = batch[:, :-1], batch[:, 1:]
    logits, h = model(x, return_hidden=True)
    main = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    if model.mtp is None:
        return main, None
    mtp_logits, _ = model.mtp_forward(h[:, :-1], x[:, 1:])  # h_i with t_{i+1} -> t_{i+2}
    mtp = F.cross_entropy(mtp_logits.reshape(-1, mtp_logits.shape[-1]), y[:, 1:].reshape(-1))
    return main, mtp


@torch.no_grad()
def balance(model: Transformer, gamma: float = BIAS_GAMMA) -> None:
    for mod in model.modules():
        if isinstance(mod, MoE) and hasattr(mod, "load"):
            load = mod.load.float()
            mod.gate.e_score_correction_bias += gamma * torch.sign(load.mean() - load)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(model: Transformer, data: torch.Tensor, batch: int = 32) -> tuple[float, float]:
    model.eval()
    mains, mtps = [], []
    for i in range(0, len(data), batch):
        main, mtp = losses(model, data[i : i + batch])
        mains.append(float(main))
        mtps.append(float(mtp) if mtp is not None else math.nan)
    model.train()
    return sum(mains) / len(mains), sum(mtps) / len(mtps)


def train(model: Transformer, train_data: torch.Tensor, val_data: torch.Tensor, cfg: TrainConfig,
          progress: Callable[[int, float, float, float], None] | None = None) -> TrainLog:  # fmt: skip
    """Train in place; progress(step, loss, mtp_loss, lr) after each step."""
    torch.manual_seed(cfg.seed)
    tie_mtp(model)
    model.train()
    # no weight decay on the MoE router (mlp.gate; a substring test once caught the dense MLP's gate_proj too)
    params = dict(model.named_parameters())
    decay = [p for n, p in params.items() if p.ndim >= 2 and not n.endswith("mlp.gate.weight")]
    other = [p for n, p in params.items() if p.ndim < 2 or n.endswith("mlp.gate.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}],
                            lr=cfg.lr, betas=(0.9, 0.95))  # fmt: skip
    log, t0 = TrainLog(), time.perf_counter()
    g = torch.Generator().manual_seed(cfg.seed)
    for step in range(cfg.max_steps):
        if time.perf_counter() - t0 > cfg.max_seconds:
            break
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = train_data[torch.randint(0, len(train_data), (cfg.batch,), generator=g)]
        main, mtp = losses(model, batch)
        loss = main + cfg.mtp_lambda * mtp if mtp is not None else main
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        balance(model)
        log.steps = step + 1
        mtp_v = float(mtp.detach()) if mtp is not None else math.nan
        log.train_loss.append((step, float(main.detach()), mtp_v))
        if progress is not None:
            progress(step, log.train_loss[-1][1], mtp_v, lr)
        if (step + 1) % cfg.eval_every == 0:
            log.val_loss.append((step + 1, *evaluate(model, val_data)))
    log.val_loss.append((log.steps, *evaluate(model, val_data)))
    log.seconds = time.perf_counter() - t0
    model.eval()
    return log
