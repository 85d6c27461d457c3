"""Chain rail: the MilestoneEscrow Solidity contract and its compiled artefacts.

The contracts live in ``contracts/``; ``compile.js`` (run by ``make contracts``) compiles
them with the pinned npm ``solc`` and writes ``artifacts/*.json``, which are committed so
Python never needs node at run time. ``build`` loads and checks those artefacts.
"""
