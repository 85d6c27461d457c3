// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test-only stablecoin
/// @notice Anyone may mint. Optional quirks let tests model real tokens: a transfer fee
///         (fee-on-transfer tokens) and a blocklist (USDC-style frozen addresses).
contract TestToken is ERC20 {
    /// @notice Share of each transfer burnt, in basis points.
    uint256 public transferFeeBps;
    /// @notice Addresses that may neither send nor receive.
    mapping(address account => bool) public blocked;
    /// @notice When set, `transfer` and `transferFrom` return false instead of moving tokens.
    bool public failTransfers;

    error Blocked(address account);

    constructor() ERC20("Test USD", "TUSD") {}

    /// @notice 6 decimals, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Burn this share of every later transfer.
    function setTransferFeeBps(uint256 bps) external {
        transferFeeBps = bps;
    }

    /// @notice Block or unblock `account`.
    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    /// @notice Make `transfer` and `transferFrom` return false (non-reverting failure).
    function setFailTransfers(bool fail) external {
        failTransfers = fail;
    }

    /// @inheritdoc ERC20
    function transfer(address to, uint256 value) public override returns (bool) {
        return failTransfers ? false : super.transfer(to, value);
    }

    /// @inheritdoc ERC20
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        return failTransfers ? false : super.transferFrom(from, to, value);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (blocked[from]) revert Blocked(from);
        if (blocked[to]) revert Blocked(to);
        uint256 fee = (from != address(0) && to != address(0)) ? (value * transferFeeBps) / 10_000 : 0;
        if (fee != 0) super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
