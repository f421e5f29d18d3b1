"""Developer tools that build the bundled tiny-r1 family: corpus, tokenizer, training (scripts/build_tiny_r1.py)."""
