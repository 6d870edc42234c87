// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title EnergyCredit
/// @notice The energy market's settlement token (SERVICES.md, energy market): an ERC-20 pegged to the euro, so that
///         bills read in money (Power Ledger's model). 9 decimals: one whole credit is one euro and one unit is one
///         nano-euro, the unit in which the market computes money (Wh × µ€/kWh = n€), so amounts need no rounding.
///
///         Credits are minted by a market operator when a participant (or the grid supplier) deposits money and burnt
///         by their holder on redemption. Once per trading period the operator settles the period in ONE transaction:
///         it records the period id with the digests of the off-chain order book and allocation, and moves the net
///         credit position of every account of the period (buyers, sellers and the grid). Participants join the market
///         under that settlement mandate (the operator is the clearing house), so settlement needs no allowances.
///         The deltas of a settlement must sum to zero (money is neither created nor destroyed by trading), a period
///         settles at most once, and a debit larger than its account's balance reverts the whole settlement.
///         Each movement emits an ERC-20 Transfer to or from this contract (the clearing pool), so indexers see it.
contract EnergyCredit {
    struct Settlement {
        bytes32 bookHash;
        bytes32 allocationHash;
        uint64 settledAt;
        uint64 tradedWh;
        uint32 accounts;
        uint256 volume;
    }

    string public constant name = "Tessera Energy Credit";
    string public constant symbol = "TEC";
    uint8 public constant decimals = 9;
    bytes32 public constant OPERATOR = keccak256("tessera.role.market-operator");

    address public admin;
    mapping(bytes32 role => mapping(address account => bool)) public hasRole;

    uint256 public totalSupply;
    mapping(address account => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    /// Number of periods settled so far.
    uint64 public settledPeriods;
    mapping(uint64 periodId => Settlement) private _settlements;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed by);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed by);
    event Settled(
        uint64 indexed periodId,
        bytes32 bookHash,
        bytes32 allocationHash,
        uint64 tradedWh,
        uint32 accounts,
        uint256 volume
    );

    error NotAdmin();
    error MissingRole(bytes32 role, address account);
    error ZeroAddress();
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    error AlreadySettled(uint64 periodId);
    error LengthMismatch(uint256 accounts, uint256 deltas);
    error Unbalanced(uint256 debits, uint256 credits);
    error EmptyHash();

    constructor() {
        admin = msg.sender;
        hasRole[OPERATOR][msg.sender] = true;
        emit RoleGranted(OPERATOR, msg.sender, msg.sender);
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    modifier onlyRole(bytes32 role) {
        if (!hasRole[role][msg.sender]) revert MissingRole(role, msg.sender);
        _;
    }

    function grantRole(bytes32 role, address account) external onlyAdmin {
        if (account == address(0)) revert ZeroAddress();
        hasRole[role][account] = true;
        emit RoleGranted(role, account, msg.sender);
    }

    function revokeRole(bytes32 role, address account) external onlyAdmin {
        hasRole[role][account] = false;
        emit RoleRevoked(role, account, msg.sender);
    }

    // --- ERC-20 ---

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(from, msg.sender, allowed, value);
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    // --- issuance ---

    /// @notice Credit `value` n€ to `to` against money deposited with the operator.
    function mint(address to, uint256 value) external onlyRole(OPERATOR) {
        if (to == address(0)) revert ZeroAddress();
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    /// @notice Redeem (destroy) `value` of the caller's own credits; the operator pays out the money off chain.
    function burn(uint256 value) external {
        uint256 b = balanceOf[msg.sender];
        if (b < value) revert InsufficientBalance(msg.sender, b, value);
        balanceOf[msg.sender] = b - value;
        totalSupply -= value;
        emit Transfer(msg.sender, address(0), value);
    }

    // --- settlement ---

    /// @notice Settle trading period `periodId`: record the digests and apply every account's net credit movement.
    /// @param deltas signed n€ per account (negative = pays, positive = receives); they must sum to zero.
    /// @param tradedWh energy matched locally in the period (for monitoring; the allocation digest binds the detail).
    function settle(
        uint64 periodId,
        bytes32 bookHash,
        bytes32 allocationHash,
        uint64 tradedWh,
        address[] calldata accounts,
        int256[] calldata deltas
    ) external onlyRole(OPERATOR) {
        if (accounts.length != deltas.length) revert LengthMismatch(accounts.length, deltas.length);
        if (bookHash == bytes32(0) || allocationHash == bytes32(0)) revert EmptyHash();
        if (_settlements[periodId].settledAt != 0) revert AlreadySettled(periodId);
        uint256 debits;
        uint256 credits;
        // debits first, so that a participant paid in this period cannot spend that payment within it
        for (uint256 i = 0; i < accounts.length; i++) {
            int256 d = deltas[i];
            if (d < 0) {
                uint256 v = uint256(-d);
                address a = accounts[i];
                uint256 b = balanceOf[a];
                if (b < v) revert InsufficientBalance(a, b, v);
                balanceOf[a] = b - v;
                debits += v;
                emit Transfer(a, address(this), v);
            }
        }
        for (uint256 i = 0; i < accounts.length; i++) {
            int256 d = deltas[i];
            if (d > 0) {
                address a = accounts[i];
                if (a == address(0)) revert ZeroAddress();
                uint256 v = uint256(d);
                balanceOf[a] += v;
                credits += v;
                emit Transfer(address(this), a, v);
            }
        }
        if (debits != credits) revert Unbalanced(debits, credits);
        _settlements[periodId] = Settlement(
            bookHash, allocationHash, uint64(block.timestamp), tradedWh, uint32(accounts.length), credits
        );
        settledPeriods += 1;
        emit Settled(periodId, bookHash, allocationHash, tradedWh, uint32(accounts.length), credits);
    }

    function settlementOf(uint64 periodId) external view returns (Settlement memory) {
        return _settlements[periodId];
    }

    function _move(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 b = balanceOf[from];
        if (b < value) revert InsufficientBalance(from, b, value);
        balanceOf[from] = b - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
