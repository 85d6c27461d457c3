"""Escrow's verbs: fund, release, refund, pay out, freeze; each in its own module."""
