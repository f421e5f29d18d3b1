"""Synthetic R1-style reasoning traces, deterministic from a seed, for training the tiny-r1 family.

Each example is one chat turn in DeepSeek-R1's format:
    <｜begin▁of▁sentence｜><｜User｜>{question}<｜Assistant｜><think>\\n{steps}\\n</think>\\n\\n{answer}<｜end▁of▁sentence｜>
with real step-by-step work: column addition and subtraction with carries and borrows, long multiplication by
partial products, counting a letter by spelling the word, sorting and comparing lists, unit conversions and
short word problems. Splits are by question: a question lands in train, validation or test by a hash of its
text, so no problem appears in two splits.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

BOS, EOS, USER, ASSISTANT = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"
THINK, END_THINK = "<think>", "</think>"
SPECIAL_TOKENS = (BOS, EOS, USER, ASSISTANT, THINK, END_THINK)


@dataclass(frozen=True)
class Example:
    family: str
    question: str
    steps: str
    answer: str

    @property
    def prompt(self) -> str:
        """What the model is given at inference: the chat template's rendering with the generation prompt."""
        return f"{BOS}{USER}{self.question}{ASSISTANT}{THINK}\n"

    @property
    def completion(self) -> str:
        return f"{self.steps}\n{END_THINK}\n\n{self.answer}{EOS}"

    @property
    def text(self) -> str:
        return self.prompt + self.completion

    @property
    def split(self) -> str:
        h = int(hashlib.sha256(self.question.encode()).hexdigest()[:8], 16) % 100
        return "test" if h < 5 else "validation" if h < 10 else "train"


def _digits(n: int) -> list[int]:
    return [int(c) for c in str(n)][::-1]


def addition(r: random.Random) -> Example:
    a, b = r.randint(10, 9999), r.randint(10, 9999)
    da, db = _digits(a), _digits(b)
    steps, carry, out = [], 0, []
    for i in range(max(len(da), len(db))):
        x, y = (da[i] if i < len(da) else 0), (db[i] if i < len(db) else 0)
        s = x + y + carry
        steps.append(f"{x} + {y}" + (f" + {carry}" if carry else "") + f" = {s}, write {s % 10}"
                     + (", carry 1" if s >= 10 else ""))  # fmt: skip
        out.append(s % 10)
        carry = s // 10
    if carry:
        steps.append("write the last carry 1")
    return Example("addition", f"What is {a} + {b}?", "\n".join(steps) + f"\nSo {a} + {b} = {a + b}.", str(a + b))


def subtraction(r: random.Random) -> Example:
    a, b = sorted((r.randint(10, 9999), r.randint(10, 9999)), reverse=True)
    da, db = _digits(a), _digits(b)
    steps, borrow = [], 0
    for i in range(len(da)):
        d, y = da[i], (db[i] if i < len(db) else 0)
        x = d - borrow
        lent = f"{d} - 1 = {x}, " if borrow else ""  # the borrow taken by the column before
        if x < y:
            steps.append(f"{lent}{x} < {y}, borrow: {x + 10} - {y} = {x + 10 - y}")
            borrow = 1
        else:
            steps.append(f"{lent}{x} - {y} = {x - y}")
            borrow = 0
    return Example("subtraction", f"What is {a} - {b}?", "\n".join(steps) + f"\nSo {a} - {b} = {a - b}.", str(a - b))


def multiplication(r: random.Random) -> Example:
    a, b = r.randint(12, 99), r.randint(2, 99)
    steps, total = [], 0
    for place, d in enumerate(_digits(b)):
        part = a * d * 10**place
        steps.append(f"{a} x {d * 10**place} = {part}")
        total += part
    if len(steps) > 1:
        steps.append(" + ".join(s.split(" = ")[1] for s in steps) + f" = {total}")
    return Example("multiplication", f"What is {a} x {b}?", "\n".join(steps) + f"\nSo {a} x {b} = {total}.", str(total))


WORDS = (
    "strawberry",
    "banana",
    "apple",
    "cherry",
    "letter",
    "pepper",
    "coffee",
    "bottle",
    "balloon",
    "mississippi",
    "committee",
    "success",
    "address",
    "assessment",
    "raspberry",
    "blueberry",
    "giraffe",
    "hippopotamus",
    "parallel",
    "bookkeeper",
    "tomorrow",
    "referee",
    "occurrence",
    "necessary",
    "accommodation",
    "possession",
    "vacuum",
    "puzzle",
    "grammar",
    "broccoli",
)


def letter_count(r: random.Random) -> Example:
    w = r.choice(WORDS)
    c = r.choice(sorted(set(w)))
    steps, n = [f"Spell {w}: {'-'.join(w)}"], 0
    for i, ch in enumerate(w, 1):
        if ch == c:
            n += 1
            steps.append(f"letter {i} is {ch}: that is {n}")
    q = r.choice([f"How many {c} are in {w}?", f"How many times does the letter {c} appear in {w}?"])
    return Example("letter_count", q, "\n".join(steps) + f"\nSo there are {n} {c} in {w}.", str(n))


def sorting(r: random.Random) -> Example:
    xs = [r.randint(0, 99) for _ in range(r.randint(3, 6))]
    if r.random() < 0.5:
        steps, rest, out = [], list(xs), []
        while rest:
            m = min(rest)
            steps.append(f"smallest of {' '.join(map(str, rest))} is {m}")
            out.append(m)
            rest.remove(m)
        ans = " ".join(map(str, out))
        return Example("sorting", f"Sort {' '.join(map(str, xs))} from smallest to largest.",
                       "\n".join(steps) + f"\nSo the sorted list is {ans}.", ans)  # fmt: skip
    a, b = xs[0], xs[1]
    word = "larger" if r.random() < 0.5 else "smaller"
    pick = max(a, b) if word == "larger" else min(a, b)
    steps = f"Compare {a} and {b}: " + ("they are equal" if a == b else f"{max(a, b)} is larger")
    return Example("sorting", f"Which is {word}, {a} or {b}?", steps + f"\nSo the {word} is {pick}.", str(pick))


UNITS = (("km", "m", 1000), ("m", "cm", 100), ("kg", "g", 1000), ("hours", "minutes", 60), ("minutes", "seconds", 60),
         ("days", "hours", 24), ("liters", "ml", 1000))  # fmt: skip


def conversion(r: random.Random) -> Example:
    big, small, f = r.choice(UNITS)
    n = r.randint(2, 99)
    steps = f"1 {big} = {f} {small}\n{n} x {f} = {n * f}\nSo {n} {big} = {n * f} {small}."
    return Example("conversion", f"How many {small} are in {n} {big}?", steps, str(n * f))


NAMES = ("Tom", "Ana", "Li", "Sam", "Maya", "Omar", "Ivy", "Ben")
THINGS = ("apples", "books", "coins", "pens", "cards", "stones", "shells")


def word_problem(r: random.Random) -> Example:
    who, what = r.choice(NAMES), r.choice(THINGS)
    a, b = r.randint(2, 60), r.randint(2, 40)
    if r.random() < 0.5:
        q = f"{who} has {a} {what} and gets {b} more. How many {what} does {who} have now?"
        return Example("word_problem", q, f"Start with {a}\nAdd {b}: {a} + {b} = {a + b}\nSo {who} has {a + b} {what}.",
                       str(a + b))  # fmt: skip
    a, b = max(a, b), min(a, b)
    q = f"{who} has {a} {what} and gives away {b}. How many {what} are left?"
    steps = f"Start with {a}\nTake away {b}: {a} - {b} = {a - b}\nSo {a - b} {what} are left."
    return Example("word_problem", q, steps, str(a - b))


FAMILIES: dict[str, Callable[[random.Random], Example]] = {
    "addition": addition, "subtraction": subtraction, "multiplication": multiplication,
    "letter_count": letter_count, "sorting": sorting, "conversion": conversion, "word_problem": word_problem,
}  # fmt: skip


def examples(n: int, seed: int = 0) -> Iterator[Example]:
    """n distinct examples (by question), the families in turn."""
    r = random.Random(seed)
    seen: set[str] = set()
    fams = list(FAMILIES.values())
    i = tries = 0
    while len(seen) < n and tries < 50 * n:
        ex = fams[i % len(fams)](r)
        i, tries = i + 1, tries + 1
        if ex.question not in seen:
            seen.add(ex.question)
            yield ex


def splits(n: int, seed: int = 0) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for ex in examples(n, seed):
        out[ex.split].append(ex)
    return out


def answer_of(completion: str) -> str:
    """The final answer in a generated completion: after </think>, before the EOS."""
    tail = completion.split(END_THINK, 1)[-1]
    return tail.replace(EOS, "").strip()
