"""The chain fixtures (a real anvil node), for the chain-rail dispute test."""

from tests.chain.conftest import _deployed, anvil_url, chain, chain_rail  # noqa: F401

# moto S3 server and S3 storage (tests/s3.py)
from tests.s3 import s3_server, s3_storage  # noqa: F401
