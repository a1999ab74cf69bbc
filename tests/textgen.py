"""Small generated texts for tests."""

import random


def make_text(n_chars: int = 20_000, seed: int = 0) -> str:
    """A small generated corpus with learnable structure (a toy grammar of lines)."""
    rng = random.Random(seed)
    names = ["ROMEO", "JULIET", "NURSE", "FRIAR"]
    words = "the of and to my thee thou love night day sweet death fair heart".split()
    lines, size = [], 0
    while size < n_chars:
        speech = " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))
        lines += [f"{rng.choice(names)}:", speech + "."]
        size += len(lines[-2]) + len(lines[-1]) + 2
    return "\n".join(lines)[:n_chars] + "\n"
