"""The chain fixtures (a real anvil node), for the chain-rail dispute test."""

from tests.chain.conftest import _deployed, anvil_url, chain, chain_rail  # noqa: F401
