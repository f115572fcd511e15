"""Research: what each read is worth on real markets (event study, pattern mining, selection)."""
