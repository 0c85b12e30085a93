"""Review schedulers: pure code (no Django), one interface (see ladder.py and fsrs.py)."""
