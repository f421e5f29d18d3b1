"""From `specsize serve`'s options to a running configuration: the target (and draft) loaded once, the batched
drafter of the chosen method, the engine with N slots, the scheduler and the metrics (the CLI, the tests and
benchmarks/bench_serve.py all build it here)."""

from __future__ import annotations

from dataclasses import dataclass

from specsize.engine.batch import BatchDraft, BatchEngine, BatchMTP, BatchNgram
from specsize.engine.loader import EngineError, find_model_dir
from specsize.engine.run import DEFAULT_K, DTYPES, Request, load_draft, load_target, resolve_method
from specsize.engine.tokenizer import Tokenizer

MAX_MODEL_LEN = 4096  # assumption: the default positions per slot, when the model allows more (laptop memory)


@dataclass
class ServeOptions:
    model: str = "tiny-r1"
    method: str = "auto"
    k: int | None = None
    draft: str | None = None
    parallel: int = 8
    max_model_len: int | None = None
    max_waiting: int = 64
    compile: bool = False
    dtype: str = "float32"
    served_model_name: str | None = None


@dataclass
class Loaded:
    engine: BatchEngine
    tokenizer: Tokenizer
    method: str
    k: int
    name: str


def load_engine(o: ServeOptions) -> Loaded:
    if o.parallel < 1:
        raise EngineError(f"--parallel must be >= 1, got {o.parallel}")
    if o.k is not None and o.k < 1:
        raise EngineError(f"-k (number of speculative tokens) must be >= 1, got {o.k}")
    dtype = DTYPES[o.dtype]
    target, tok = load_target(find_model_dir(o.model), dtype, o.compile)
    method = resolve_method(Request(o.model, "", o.method, o.draft, o.k), target)
    k = (o.k or DEFAULT_K.get(method, 0)) if method != "none" else 0
    drafter = None
    if method == "mtp":
        drafter = BatchMTP(target)
    elif method == "ngram":
        drafter = BatchNgram(1, 4)
    elif method == "draft":
        draft = load_draft(o.draft, target, tok, dtype, o.compile)
        drafter = BatchDraft(draft, target.arch.vocab_size)
    max_len = o.max_model_len or min(target.arch.max_position_embeddings, MAX_MODEL_LEN)
    if max_len < k + 3:
        raise EngineError(f"--max-model-len {max_len} leaves no room for a prompt and a round of {k} drafts")
    engine = BatchEngine(target, drafter, k, slots=o.parallel, max_len=max_len)
    return Loaded(engine, tok, method, k, o.served_model_name or o.model)


def build_app(o: ServeOptions):
    """The FastAPI app of a server with options o (the engine thread starts with the app's lifespan)."""
    from specsize.serve.app import ServeState, build_app
    from specsize.serve.metrics import Metrics
    from specsize.serve.scheduler import Scheduler

    loaded = load_engine(o)
    metrics = Metrics(loaded.name, loaded.k)
    scheduler = Scheduler(loaded.engine, loaded.tokenizer, metrics, o.max_waiting)
    state = ServeState(scheduler, loaded.tokenizer, loaded.name, loaded.engine.max_len)
    return build_app(state), loaded
