"""The one answer to "does the cluster run what git would deploy, and does it work?": what tracking proved of
each helm revision (verification), the vocabulary of verdicts (verdict), and the comparison (compare)."""
