// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MilestoneEscrow} from "../MilestoneEscrow.sol";

/// @title Test-only hostile party
/// @notice Acts as an escrow's client or freelancer. On receiving ETH it either tries to
///         withdraw again (re-entrancy) or rejects the payment outright.
contract ReentrantAttacker {
    enum Mode {
        Reenter,
        Reject
    }

    MilestoneEscrow public immutable escrow;
    Mode public mode;
    /// @notice How many re-entrant withdrawals were attempted.
    uint256 public attempts;
    /// @notice How many re-entrant withdrawals succeeded (must stay 0).
    uint256 public successes;
    /// @notice Revert data of the last failed re-entrant call.
    bytes public lastError;

    constructor(MilestoneEscrow target) {
        escrow = target;
    }

    /// @notice Choose how to react to incoming ETH.
    function setMode(Mode newMode) external {
        mode = newMode;
    }

    /// @notice Open an escrow with this contract as the client.
    function create(uint256 contractId, address freelancer, address arbiter, address treasury, uint256 amount)
        external
    {
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = amount;
        escrow.createEscrow(contractId, freelancer, arbiter, address(0), treasury, amounts, 1 days, 1_000);
    }

    /// @notice Fund a milestone with the ETH sent along.
    function fund(uint256 contractId, uint256 index) external payable {
        escrow.fund{value: msg.value}(contractId, index);
    }

    /// @notice Withdraw this contract's ETH credit to `to`.
    function withdraw(address to) external {
        escrow.withdraw(address(0), to);
    }

    receive() external payable {
        if (mode == Mode.Reject) revert("no ETH please");
        if (attempts >= 5) return;
        attempts += 1;
        try escrow.withdraw(address(0), address(this)) {
            successes += 1;
        } catch (bytes memory reason) {
            lastError = reason;
        }
    }
}
