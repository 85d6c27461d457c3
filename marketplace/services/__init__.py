"""Marketplace services: verbs that change state, one module per area."""
