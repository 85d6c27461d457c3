"""Marketplace reads that need care (permissions, query counts), one module per area."""
