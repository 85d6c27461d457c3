// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title SmartPay milestone escrow (chain rail)
/// @notice Holds ETH or one ERC-20 per escrow for the milestones of a SmartPay contract.
///         Escrows are keyed by the SmartPay contract id. Money leaves only through
///         pull payments: settlements credit balances, and `withdraw` pays them out.
/// @dev Pausing stops new money and new work (`createEscrow`, `fund`, `submit`); every exit
///      (release, refund, dispute, resolve, withdraw) stays open so a pause cannot trap funds.
contract MilestoneEscrow is Ownable, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Basis points in 100 %.
    uint256 public constant BPS = 10_000;
    /// @notice Highest platform fee an escrow may carry (20 %).
    uint16 public constant MAX_FEE_BPS = 2_000;
    /// @notice Most milestones one escrow may hold (bounds gas of creation).
    uint256 public constant MAX_MILESTONES = 100;
    /// @notice Longest review period an escrow may carry.
    uint64 public constant MAX_REVIEW_PERIOD = 365 days;

    /// @notice Life cycle of one milestone.
    enum Status {
        Unfunded,
        Funded,
        Submitted,
        Released,
        Refunded,
        Disputed,
        Resolved
    }

    /// @notice Terms fixed when the escrow is created.
    struct Escrow {
        address client;
        uint64 reviewPeriod;
        address freelancer;
        uint16 feeBps;
        address arbiter;
        address token; // address(0) = ETH
        address treasury;
    }

    /// @notice State of one milestone.
    struct Milestone {
        uint256 amount;
        Status status;
        bool refundRequested;
        uint64 submittedAt;
        bytes32 deliverable;
    }

    mapping(uint256 contractId => Escrow) private _escrows;
    mapping(uint256 contractId => Milestone[]) private _milestones;

    /// @notice Withdrawable balance per token (address(0) = ETH) and account.
    mapping(address token => mapping(address account => uint256)) public credits;

    /// @notice A new escrow with its fixed terms.
    event EscrowCreated(
        uint256 indexed contractId,
        address indexed client,
        address indexed freelancer,
        address arbiter,
        address token,
        address treasury,
        uint256[] amounts,
        uint64 reviewPeriod,
        uint16 feeBps
    );
    /// @notice The client paid a milestone's amount into escrow.
    event Funded(uint256 indexed contractId, uint256 indexed milestone, address indexed from, uint256 amount);
    /// @notice The freelancer submitted work; `deliverable` anchors its digest.
    event Submitted(uint256 indexed contractId, uint256 indexed milestone, bytes32 deliverable, uint64 reviewDeadline);
    /// @notice The client asked for changes; the milestone is funded again and the review clock stops.
    event RevisionRequested(uint256 indexed contractId, uint256 indexed milestone);
    /// @notice A milestone was paid out; `by` is the client, or anyone after the review period.
    event Released(
        uint256 indexed contractId,
        uint256 indexed milestone,
        address indexed by,
        uint256 freelancerAmount,
        uint256 fee,
        uint256 clientRefund
    );
    /// @notice The client asked to cancel a funded milestone; the freelancer consents with `refund`.
    event RefundRequested(uint256 indexed contractId, uint256 indexed milestone);
    /// @notice A milestone's whole amount was credited back to the client.
    event Refunded(uint256 indexed contractId, uint256 indexed milestone, uint256 amount);
    /// @notice A party locked the milestone until the arbiter resolves it.
    event Disputed(uint256 indexed contractId, uint256 indexed milestone, address indexed by);
    /// @notice The arbiter split a disputed milestone.
    event Resolved(
        uint256 indexed contractId,
        uint256 indexed milestone,
        uint256 freelancerBps,
        uint256 freelancerAmount,
        uint256 fee,
        uint256 clientRefund
    );
    /// @notice `account` withdrew its credited `amount` of `token` to `to`.
    event Withdrawn(address indexed account, address indexed token, address indexed to, uint256 amount);

    error EscrowExists(uint256 contractId);
    error EscrowNotFound(uint256 contractId);
    error ZeroAddress();
    error InvalidParties();
    error TokenNotContract(address token);
    error InvalidMilestones();
    error InvalidReviewPeriod(uint64 reviewPeriod);
    error FeeTooHigh(uint16 feeBps);
    error MilestoneOutOfRange(uint256 milestone);
    error NotClient(address caller);
    error NotFreelancer(address caller);
    error NotParty(address caller);
    error NotArbiter(address caller);
    error InvalidStatus(Status status);
    error WrongValue(uint256 expected, uint256 sent);
    error TokenAmountMismatch(uint256 expected, uint256 received);
    error EmptyDeliverable();
    error ReviewPeriodActive(uint256 releasableAt);
    error InvalidReleaseAmount(uint256 amount);
    error InvalidShare(uint256 freelancerBps);
    error NothingToWithdraw();
    error EthTransferFailed(address to);

    /// @param initialOwner The account that may pause and unpause.
    constructor(address initialOwner) Ownable(initialOwner) {}

    // ---------------------------------------------------------------- creation

    /// @notice Open the escrow for SmartPay contract `contractId`; the caller must be the client.
    /// @param contractId SmartPay contract id (unique per deployment).
    /// @param freelancer Receives released money.
    /// @param arbiter Resolves disputes (the platform key); may not be a party.
    /// @param token ERC-20 to hold (no fee-on-transfer or rebasing tokens), or address(0) for ETH.
    /// @param treasury Receives the platform fee.
    /// @param amounts Milestone amounts in the token's base units (wei for ETH).
    /// @param reviewPeriod Seconds after submission before anyone may release.
    /// @param feeBps Platform fee taken from the freelancer's share, in basis points.
    function createEscrow(
        uint256 contractId,
        address freelancer,
        address arbiter,
        address token,
        address treasury,
        uint256[] calldata amounts,
        uint64 reviewPeriod,
        uint16 feeBps
    ) external whenNotPaused {
        if (_escrows[contractId].client != address(0)) revert EscrowExists(contractId);
        if (freelancer == address(0) || arbiter == address(0) || treasury == address(0)) revert ZeroAddress();
        if (freelancer == msg.sender || arbiter == msg.sender || arbiter == freelancer) revert InvalidParties();
        if (token != address(0) && token.code.length == 0) revert TokenNotContract(token);
        if (amounts.length == 0 || amounts.length > MAX_MILESTONES) revert InvalidMilestones();
        if (reviewPeriod == 0 || reviewPeriod > MAX_REVIEW_PERIOD) revert InvalidReviewPeriod(reviewPeriod);
        if (feeBps > MAX_FEE_BPS) revert FeeTooHigh(feeBps);

        _escrows[contractId] = Escrow({
            client: msg.sender,
            reviewPeriod: reviewPeriod,
            freelancer: freelancer,
            feeBps: feeBps,
            arbiter: arbiter,
            token: token,
            treasury: treasury
        });
        Milestone[] storage milestones = _milestones[contractId];
        for (uint256 i = 0; i < amounts.length; ++i) {
            if (amounts[i] == 0) revert InvalidMilestones();
            milestones.push(Milestone(amounts[i], Status.Unfunded, false, 0, bytes32(0)));
        }
        emit EscrowCreated(
            contractId, msg.sender, freelancer, arbiter, token, treasury, amounts, reviewPeriod, feeBps
        );
    }

    // ---------------------------------------------------------------- client and freelancer

    /// @notice Pay milestone `index` into escrow. ETH: send exactly its amount. ERC-20: approve first.
    function fund(uint256 contractId, uint256 index) external payable whenNotPaused nonReentrant {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.client) revert NotClient(msg.sender);
        _requireStatus(m, Status.Unfunded);
        m.status = Status.Funded;
        if (e.token == address(0)) {
            if (msg.value != m.amount) revert WrongValue(m.amount, msg.value);
        } else {
            if (msg.value != 0) revert WrongValue(0, msg.value);
            IERC20 token = IERC20(e.token);
            uint256 before = token.balanceOf(address(this));
            token.safeTransferFrom(msg.sender, address(this), m.amount);
            uint256 received = token.balanceOf(address(this)) - before;
            // Fee-on-transfer tokens would leave the escrow short of what it owes.
            if (received != m.amount) revert TokenAmountMismatch(m.amount, received);
        }
        emit Funded(contractId, index, msg.sender, m.amount);
    }

    /// @notice Submit work for a funded milestone and anchor the deliverable's digest.
    function submit(uint256 contractId, uint256 index, bytes32 deliverable) external whenNotPaused {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.freelancer) revert NotFreelancer(msg.sender);
        _requireStatus(m, Status.Funded);
        if (deliverable == bytes32(0)) revert EmptyDeliverable();
        m.status = Status.Submitted;
        m.refundRequested = false; // submitting declines a pending cancel request
        m.submittedAt = uint64(block.timestamp);
        m.deliverable = deliverable;
        emit Submitted(contractId, index, deliverable, uint64(block.timestamp) + e.reviewPeriod);
    }

    /// @notice The client sends a submitted milestone back for changes.
    function requestRevision(uint256 contractId, uint256 index) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.client) revert NotClient(msg.sender);
        _requireStatus(m, Status.Submitted);
        m.status = Status.Funded;
        m.submittedAt = 0;
        emit RevisionRequested(contractId, index);
    }

    /// @notice The client approves and pays `amount` (at most the milestone's) to the freelancer,
    ///         minus the fee; the rest is credited back to the client.
    function release(uint256 contractId, uint256 index, uint256 amount) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.client) revert NotClient(msg.sender);
        if (m.status != Status.Funded && m.status != Status.Submitted) revert InvalidStatus(m.status);
        if (amount == 0 || amount > m.amount) revert InvalidReleaseAmount(amount);
        m.status = Status.Released;
        (uint256 net, uint256 fee, uint256 back) = _settle(e, m.amount, amount);
        emit Released(contractId, index, msg.sender, net, fee, back);
    }

    /// @notice Anyone may release a submitted milestone in full once its review period has passed.
    function autoRelease(uint256 contractId, uint256 index) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        _requireStatus(m, Status.Submitted);
        uint256 releasableAt = uint256(m.submittedAt) + e.reviewPeriod;
        if (block.timestamp < releasableAt) revert ReviewPeriodActive(releasableAt);
        m.status = Status.Released;
        (uint256 net, uint256 fee, uint256 back) = _settle(e, m.amount, m.amount);
        emit Released(contractId, index, msg.sender, net, fee, back);
    }

    /// @notice The client asks to cancel a funded (not yet submitted) milestone.
    function requestRefund(uint256 contractId, uint256 index) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.client) revert NotClient(msg.sender);
        _requireStatus(m, Status.Funded);
        m.refundRequested = true;
        emit RefundRequested(contractId, index);
    }

    /// @notice The freelancer refunds a funded or submitted milestone in full to the client
    ///         (on its own or consenting to the client's request).
    function refund(uint256 contractId, uint256 index) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.freelancer) revert NotFreelancer(msg.sender);
        if (m.status != Status.Funded && m.status != Status.Submitted) revert InvalidStatus(m.status);
        m.status = Status.Refunded;
        credits[e.token][e.client] += m.amount;
        emit Refunded(contractId, index, m.amount);
    }

    /// @notice Either party locks a funded or submitted milestone until the arbiter resolves it.
    function dispute(uint256 contractId, uint256 index) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.client && msg.sender != e.freelancer) revert NotParty(msg.sender);
        if (m.status != Status.Funded && m.status != Status.Submitted) revert InvalidStatus(m.status);
        m.status = Status.Disputed;
        emit Disputed(contractId, index, msg.sender);
    }

    // ---------------------------------------------------------------- arbiter

    /// @notice The arbiter splits a disputed milestone: `freelancerBps` of it to the freelancer
    ///         (minus the fee), the rest back to the client.
    function resolve(uint256 contractId, uint256 index, uint256 freelancerBps) external {
        (Escrow storage e, Milestone storage m) = _load(contractId, index);
        if (msg.sender != e.arbiter) revert NotArbiter(msg.sender);
        _requireStatus(m, Status.Disputed);
        if (freelancerBps > BPS) revert InvalidShare(freelancerBps);
        m.status = Status.Resolved;
        (uint256 net, uint256 fee, uint256 back) = _settle(e, m.amount, (m.amount * freelancerBps) / BPS);
        emit Resolved(contractId, index, freelancerBps, net, fee, back);
    }

    // ---------------------------------------------------------------- pull payments

    /// @notice Pay the caller's whole credit in `token` (address(0) = ETH) to `to`.
    /// @dev `to` may differ from the caller, so a blocklisted address or a contract that
    ///      rejects ETH can still move its money out.
    function withdraw(address token, address to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 amount = credits[token][msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[token][msg.sender] = 0;
        emit Withdrawn(msg.sender, token, to, amount);
        if (token == address(0)) {
            (bool ok,) = payable(to).call{value: amount}("");
            if (!ok) revert EthTransferFailed(to);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    // ---------------------------------------------------------------- owner

    /// @notice Stop new escrows, funding and submissions.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resume normal operation.
    function unpause() external onlyOwner {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The fixed terms of an escrow.
    function getEscrow(uint256 contractId) external view returns (Escrow memory) {
        Escrow memory e = _escrows[contractId];
        if (e.client == address(0)) revert EscrowNotFound(contractId);
        return e;
    }

    /// @notice Every milestone of an escrow.
    function getMilestones(uint256 contractId) external view returns (Milestone[] memory) {
        if (_escrows[contractId].client == address(0)) revert EscrowNotFound(contractId);
        return _milestones[contractId];
    }

    /// @notice Amount still held for an escrow (funded, submitted or disputed milestones).
    function heldAmount(uint256 contractId) external view returns (uint256 held) {
        Milestone[] storage milestones = _milestones[contractId];
        for (uint256 i = 0; i < milestones.length; ++i) {
            Status s = milestones[i].status;
            if (s == Status.Funded || s == Status.Submitted || s == Status.Disputed) {
                held += milestones[i].amount;
            }
        }
    }

    // ---------------------------------------------------------------- internals

    function _load(uint256 contractId, uint256 index)
        private
        view
        returns (Escrow storage e, Milestone storage m)
    {
        e = _escrows[contractId];
        if (e.client == address(0)) revert EscrowNotFound(contractId);
        Milestone[] storage milestones = _milestones[contractId];
        if (index >= milestones.length) revert MilestoneOutOfRange(index);
        m = milestones[index];
    }

    function _requireStatus(Milestone storage m, Status expected) private view {
        if (m.status != expected) revert InvalidStatus(m.status);
    }

    /// @dev Credit `gross` (fee included) to the freelancer side and the rest of `total` to the
    ///      client. The fee rounds down, so the three parts always sum to `total`.
    function _settle(Escrow storage e, uint256 total, uint256 gross)
        private
        returns (uint256 net, uint256 fee, uint256 back)
    {
        fee = (gross * e.feeBps) / BPS;
        net = gross - fee;
        back = total - gross;
        address token = e.token;
        if (net != 0) credits[token][e.freelancer] += net;
        if (fee != 0) credits[token][e.treasury] += fee;
        if (back != 0) credits[token][e.client] += back;
    }
}
