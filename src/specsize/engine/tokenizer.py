"""Tokenizer, chat template and generation config of a local model directory.

tokenizer.json through the `tokenizers` library; tokenizer_config.json for the special tokens and the
chat_template, rendered with jinja2 the way transformers renders it (sandboxed environment, trim_blocks,
lstrip_blocks, the loopcontrols extension, `raise_exception`, `strftime_now` and a `tojson` filter);
generation_config.json for the EOS ids and sampling defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError


class TokenizerError(SpecsizeError):
    pass


def _token(v: Any) -> str | None:
    return v.get("content") if isinstance(v, dict) else v


def _read_json(f: Path) -> dict[str, Any]:
    if not f.exists():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TokenizerError(f"{f}: cannot read it as JSON ({e})") from None
    return data if isinstance(data, dict) else {}


@dataclass
class Tokenizer:
    tok: Any  # tokenizers.Tokenizer
    bos_token: str | None = None
    eos_token: str | None = None
    add_bos: bool = False
    chat_template: str | None = None
    eos_token_ids: tuple[int, ...] = ()
    generation: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, path: str | Path) -> Tokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        root = Path(path)
        f = root / "tokenizer.json"
        if not f.exists():
            raise TokenizerError(f"{root}: no tokenizer.json (the engine reads fast-tokenizer files only)")
        try:
            tok = HFTokenizer.from_file(str(f))
        except Exception as e:  # the tokenizers library raises its own Exception type
            raise TokenizerError(f"{f}: cannot load it ({e})") from None
        cfg = _read_json(root / "tokenizer_config.json")
        gen = _read_json(root / "generation_config.json")
        template = cfg.get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        t = cls(tok, _token(cfg.get("bos_token")), _token(cfg.get("eos_token")), bool(cfg.get("add_bos_token", False)),
                template, generation=gen)  # fmt: skip
        eos = gen.get("eos_token_id")
        ids = eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else []
        if not ids and t.eos_token is not None and tok.token_to_id(t.eos_token) is not None:
            ids = [tok.token_to_id(t.eos_token)]
        t.eos_token_ids = tuple(ids)
        return t

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str, add_special: bool = True) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False).ids
        if add_special and self.add_bos and self.bos_token is not None:
            bos = self.tok.token_to_id(self.bos_token)
            if bos is not None and (not ids or ids[0] != bos):
                ids = [bos, *ids]
        return ids

    def decode(self, ids: list[int], skip_special: bool = True) -> str:
        return self.tok.decode(ids, skip_special_tokens=skip_special)

    def apply_chat_template(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render the model's chat template as transformers does (the rendered text includes BOS when the
        template writes it; encode it with add_special=False)."""
        if not self.chat_template:
            raise TokenizerError("this tokenizer has no chat_template in tokenizer_config.json; drop --chat")
        return render_chat_template(self.chat_template, messages, add_generation_prompt,
                                    bos_token=self.bos_token or "", eos_token=self.eos_token or "")  # fmt: skip


def render_chat_template(template: str, messages: list[dict[str, str]], add_generation_prompt: bool = True,
                         **tokens: str) -> str:  # fmt: skip
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TokenizerError(f"chat template: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(
        x, indent=indent, ensure_ascii=ensure_ascii
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                **tokens)  # fmt: skip
    except jinja2.TemplateError as e:
        raise TokenizerError(f"chat template: {e}") from None
