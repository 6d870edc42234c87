// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    EligibilityRegistry,
    checkRecord,
    recordCountry,
    recordIdentity,
    RECORD_OK,
    RECORD_MISSING,
    RECORD_EXPIRED,
    RECORD_FROZEN
} from "./EligibilityRegistry.sol";

/// @title SecurityToken
/// @notice A permissioned ERC-20 for one offering (for example a green bond), ERC-3643-style behaviour in our own
///         design. Every mint and transfer checks BOTH sides against the shared EligibilityRegistry (record present,
///         not expired, not frozen there, holding this token's required credential bits, from a country this token
///         allows) and against this token's own controls (paused, wallet frozen, part of a balance frozen).
///         ERC-3643 re-checks only the receiver; we check the sender too, so a revoked investor cannot sell.
///
///         ERC-1404: `detectTransferRestriction` runs the very checks a transfer runs, in the same order, and
///         returns their reason code; a transfer reverts with the custom error that names the same reason.
///
///         Roles: the owner (the issuer organisation) appoints agents and sets the allowed countries; agents mint,
///         burn, pause, freeze wallets or part of a balance, force transfers (court order) and recover a lost wallet
///         to a new wallet of the same identity.
///
///         EIP-3009 `transferWithAuthorization`: a holder signs an EIP-712 authorisation off chain (who, to whom, how
///         much, a validity window and a random 32-byte nonce) and anyone (the platform's relayer) submits it and pays
///         the gas. The transfer is the same compliant transfer, so both parties' eligibility still applies; each
///         nonce works once per authoriser, so a signed authorisation cannot be replayed.
///
///         Storage is laid out for the transfer path: one slot holds owner, paused and the required bits; one slot
///         per holder holds balance, frozen amount and the wallet-frozen flag.
contract SecurityToken {
    struct Account {
        uint128 balance;
        uint120 frozenAmount;
        bool frozen;
    }

    // ERC-1404 restriction codes. 0 means the transfer would succeed.
    uint8 public constant SUCCESS = 0;
    uint8 public constant PAUSED = 1;
    uint8 public constant SENDER_NOT_ELIGIBLE = 2;
    uint8 public constant RECEIVER_NOT_ELIGIBLE = 3;
    uint8 public constant SENDER_EXPIRED = 4;
    uint8 public constant RECEIVER_EXPIRED = 5;
    uint8 public constant SENDER_FROZEN = 6;
    uint8 public constant RECEIVER_FROZEN = 7;
    uint8 public constant SENDER_MISSING_CREDENTIALS = 8;
    uint8 public constant RECEIVER_MISSING_CREDENTIALS = 9;
    uint8 public constant SENDER_JURISDICTION = 10;
    uint8 public constant RECEIVER_JURISDICTION = 11;
    uint8 public constant INSUFFICIENT_BALANCE = 12;
    uint8 public constant AMOUNT_FROZEN = 13;

    EligibilityRegistry public immutable registry;
    uint8 public immutable decimals;
    string public name;
    string public symbol;

    // One slot: read on every transfer.
    address public owner;
    bool public paused;
    uint32 public requiredCredentials;

    /// EIP-712 domain: name = the token's name, version "1", this chain, this contract.
    bytes32 private constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 private immutable _nameHash;

    uint256 public totalSupply;
    mapping(address holder => Account) private _accounts;
    mapping(address holder => mapping(address spender => uint256)) public allowance;
    mapping(address account => bool) public isAgent;
    mapping(bytes2 country => bool) public isCountryAllowed;
    mapping(address authorizer => mapping(bytes32 nonce => bool)) private _authorizationUsed;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event AgentSet(address indexed agent, bool allowed);
    event CountryAllowed(bytes2 indexed country, bool allowed);
    event RequiredCredentialsSet(uint32 credentials);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event AddressFrozen(address indexed wallet, bool frozen, address indexed by);
    event TokensFrozen(address indexed wallet, uint256 amount);
    event TokensUnfrozen(address indexed wallet, uint256 amount);
    event ForcedTransfer(address indexed from, address indexed to, uint256 amount, address indexed by);
    event RecoverySuccess(address indexed lostWallet, address indexed newWallet, bytes16 indexed identity);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    error NotOwner();
    error NotAgent();
    error ZeroAddress();
    error TokenPaused();
    error NotEligible(address wallet);
    error EligibilityExpired(address wallet);
    error WalletFrozen(address wallet);
    error MissingCredentials(address wallet, uint32 required);
    error JurisdictionNotAllowed(address wallet, bytes2 country);
    error InsufficientBalance(address wallet, uint256 balance, uint256 amount);
    error AmountFrozen(address wallet, uint256 available, uint256 amount);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 amount);
    error FrozenAmountAboveBalance(address wallet, uint256 balance, uint256 frozenAmount);
    error IdentityMismatch(address lostWallet, address newWallet);
    error NothingToRecover(address lostWallet);
    error SameWallet();
    error SupplyOverflow();
    error AuthorizationNotYetValid(uint256 validAfter);
    error AuthorizationExpired(uint256 validBefore);
    error AuthorizationAlreadyUsed(address authorizer, bytes32 nonce);
    error InvalidSignature();

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        EligibilityRegistry registry_,
        uint32 requiredCredentials_,
        bytes2[] memory allowedCountries
    ) {
        if (address(registry_) == address(0)) revert ZeroAddress();
        name = name_;
        _nameHash = keccak256(bytes(name_));
        symbol = symbol_;
        decimals = decimals_;
        registry = registry_;
        owner = msg.sender;
        requiredCredentials = requiredCredentials_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit RequiredCredentialsSet(requiredCredentials_);
        for (uint256 i = 0; i < allowedCountries.length; i++) {
            isCountryAllowed[allowedCountries[i]] = true;
            emit CountryAllowed(allowedCountries[i], true);
        }
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier onlyAgent() {
        if (!isAgent[msg.sender]) revert NotAgent();
        _;
    }

    // ---------------------------------------------------------------- ERC-20

    function balanceOf(address holder) external view returns (uint256) {
        return _accounts[holder].balance;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _compliantTransfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _compliantTransfer(from, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    // ---------------------------------------------------------------- EIP-3009

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, _nameHash, keccak256("1"), block.chainid, address(this)));
    }

    /// @notice Whether `authorizer` has used `nonce` (EIP-3009).
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationUsed[authorizer][nonce];
    }

    /// @notice Execute a transfer `from` signed (EIP-712, EIP-3009 `TransferWithAuthorization`); anyone may submit it.
    ///         Valid strictly after `validAfter` and strictly before `validBefore`; each nonce once. The transfer is
    ///         the compliant one: it reverts with the same restriction errors as `transfer`.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        if (block.timestamp <= validAfter) revert AuthorizationNotYetValid(validAfter);
        if (block.timestamp >= validBefore) revert AuthorizationExpired(validBefore);
        if (_authorizationUsed[from][nonce]) revert AuthorizationAlreadyUsed(from, nonce);
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                DOMAIN_SEPARATOR(),
                keccak256(
                    abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
                )
            )
        );
        // Low s only (EIP-2), so a signature has one form.
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) revert InvalidSignature();
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0) || signer != from) revert InvalidSignature();
        _authorizationUsed[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _compliantTransfer(from, to, value);
    }

    // ---------------------------------------------------------------- ERC-1404

    /// @notice The restriction code a transfer of `amount` from `from` to `to` would hit now (0: none).
    function detectTransferRestriction(address from, address to, uint256 amount) public view returns (uint8) {
        if (paused) return PAUSED;
        (uint256 rf, uint256 rt) = registry.packedRecords(from, to);
        uint8 code = _partyCode(from, rf, true);
        if (code != SUCCESS) return code;
        code = _partyCode(to, rt, false);
        if (code != SUCCESS) return code;
        Account storage a = _accounts[from];
        if (amount > a.balance) return INSUFFICIENT_BALANCE;
        if (amount > a.balance - a.frozenAmount) return AMOUNT_FROZEN;
        return SUCCESS;
    }

    function messageForTransferRestriction(uint8 code) external pure returns (string memory) {
        if (code == SUCCESS) return "No restriction";
        if (code == PAUSED) return "Token transfers are paused";
        if (code == SENDER_NOT_ELIGIBLE) return "Sender is not a verified investor";
        if (code == RECEIVER_NOT_ELIGIBLE) return "Receiver is not a verified investor";
        if (code == SENDER_EXPIRED) return "Sender's eligibility has expired";
        if (code == RECEIVER_EXPIRED) return "Receiver's eligibility has expired";
        if (code == SENDER_FROZEN) return "Sender's wallet is frozen";
        if (code == RECEIVER_FROZEN) return "Receiver's wallet is frozen";
        if (code == SENDER_MISSING_CREDENTIALS) return "Sender lacks a credential this token requires";
        if (code == RECEIVER_MISSING_CREDENTIALS) return "Receiver lacks a credential this token requires";
        if (code == SENDER_JURISDICTION) return "Sender's jurisdiction is not allowed for this token";
        if (code == RECEIVER_JURISDICTION) return "Receiver's jurisdiction is not allowed for this token";
        if (code == INSUFFICIENT_BALANCE) return "Sender's balance is too low";
        if (code == AMOUNT_FROZEN) return "Part of the sender's balance is frozen";
        return "Unknown restriction code";
    }

    // ---------------------------------------------------------------- agent functions

    function mint(address to, uint256 amount) external onlyAgent {
        uint8 code = _partyCode(to, registry.packedRecord(to), false);
        if (code != SUCCESS) _revertFor(code, address(0), to, 0);
        uint256 supply = totalSupply + amount;
        // Every balance, and so every frozen amount, then fits the account slot's uint120.
        if (supply > type(uint120).max) revert SupplyOverflow();
        totalSupply = supply;
        unchecked {
            _accounts[to].balance += uint128(amount); // bounded by totalSupply < 2^120
        }
        emit Transfer(address(0), to, amount);
    }

    /// @notice Burn (redemption at maturity); frozen tokens are released first if needed.
    function burn(address from, uint256 amount) external onlyAgent {
        Account storage a = _accounts[from];
        if (amount > a.balance) revert InsufficientBalance(from, a.balance, amount);
        _releaseFrozenFor(from, a, amount);
        unchecked {
            a.balance -= uint128(amount);
            totalSupply -= amount;
        }
        emit Transfer(from, address(0), amount);
    }

    function pause() external onlyAgent {
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyAgent {
        paused = false;
        emit Unpaused(msg.sender);
    }

    function setAddressFrozen(address wallet, bool frozen) external onlyAgent {
        _accounts[wallet].frozen = frozen;
        emit AddressFrozen(wallet, frozen, msg.sender);
    }

    function isFrozen(address wallet) external view returns (bool) {
        return _accounts[wallet].frozen;
    }

    function frozenTokens(address wallet) external view returns (uint256) {
        return _accounts[wallet].frozenAmount;
    }

    function freezePartialTokens(address wallet, uint256 amount) external onlyAgent {
        Account storage a = _accounts[wallet];
        uint256 frozenAmount = uint256(a.frozenAmount) + amount;
        if (frozenAmount > a.balance) revert FrozenAmountAboveBalance(wallet, a.balance, frozenAmount);
        a.frozenAmount = uint120(frozenAmount);
        emit TokensFrozen(wallet, amount);
    }

    function unfreezePartialTokens(address wallet, uint256 amount) external onlyAgent {
        Account storage a = _accounts[wallet];
        if (amount > a.frozenAmount) revert FrozenAmountAboveBalance(wallet, a.frozenAmount, amount);
        a.frozenAmount -= uint120(amount);
        emit TokensUnfrozen(wallet, amount);
    }

    /// @notice Move tokens without the sender's consent (court order, error correction). Works while paused and
    ///         whatever the sender's state; frozen tokens are released as needed. The receiver must be eligible.
    function forcedTransfer(address from, address to, uint256 amount) external onlyAgent returns (bool) {
        uint8 code = _partyCode(to, registry.packedRecord(to), false);
        if (code != SUCCESS) _revertFor(code, from, to, amount);
        Account storage a = _accounts[from];
        if (amount > a.balance) revert InsufficientBalance(from, a.balance, amount);
        _releaseFrozenFor(from, a, amount);
        _move(from, to, amount);
        emit ForcedTransfer(from, to, amount, msg.sender);
        return true;
    }

    /// @notice Move everything a lost wallet holds (balance, frozen part, frozen flag) to a new wallet of the same
    ///         identity. The attester must have written the new wallet's record with the same identity hash; the
    ///         lost wallet is frozen in this token afterwards.
    function recoveryAddress(address lostWallet, address newWallet) external onlyAgent returns (bool) {
        if (lostWallet == newWallet) revert SameWallet();
        (uint256 rl, uint256 rn) = registry.packedRecords(lostWallet, newWallet);
        bytes16 identity = recordIdentity(rl);
        if (identity == bytes16(0) || identity != recordIdentity(rn)) revert IdentityMismatch(lostWallet, newWallet);
        uint8 code = _partyCode(newWallet, rn, false);
        // The agent recovers into a wallet that is otherwise eligible; the frozen state moves with the balance.
        if (code != SUCCESS && code != RECEIVER_FROZEN) _revertFor(code, lostWallet, newWallet, 0);
        Account memory lost = _accounts[lostWallet];
        if (lost.balance == 0) revert NothingToRecover(lostWallet);
        Account storage n = _accounts[newWallet];
        n.balance += lost.balance;
        n.frozenAmount += lost.frozenAmount;
        n.frozen = n.frozen || lost.frozen;
        _accounts[lostWallet] = Account(0, 0, true);
        emit Transfer(lostWallet, newWallet, lost.balance);
        if (lost.frozen) emit AddressFrozen(newWallet, true, msg.sender);
        emit AddressFrozen(lostWallet, true, msg.sender);
        emit RecoverySuccess(lostWallet, newWallet, identity);
        return true;
    }

    // ---------------------------------------------------------------- owner functions

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setAgent(address agent, bool allowed) external onlyOwner {
        isAgent[agent] = allowed;
        emit AgentSet(agent, allowed);
    }

    function setCountryAllowed(bytes2 country, bool allowed) external onlyOwner {
        isCountryAllowed[country] = allowed;
        emit CountryAllowed(country, allowed);
    }

    function setRequiredCredentials(uint32 credentials) external onlyOwner {
        requiredCredentials = credentials;
        emit RequiredCredentialsSet(credentials);
    }

    // ---------------------------------------------------------------- internals

    function _compliantTransfer(address from, address to, uint256 amount) private {
        uint8 code = detectTransferRestriction(from, to, amount);
        if (code != SUCCESS) _revertFor(code, from, to, amount);
        _move(from, to, amount);
    }

    function _move(address from, address to, uint256 amount) private {
        unchecked {
            // amount <= balance(from) <= totalSupply < 2^120, checked by the caller
            _accounts[from].balance -= uint128(amount);
            _accounts[to].balance += uint128(amount);
        }
        emit Transfer(from, to, amount);
    }

    function _releaseFrozenFor(address wallet, Account storage a, uint256 amount) private {
        uint256 free = a.balance - a.frozenAmount;
        if (amount > free) {
            uint256 release = amount - free;
            a.frozenAmount -= uint120(release);
            emit TokensUnfrozen(wallet, release);
        }
    }

    /// The party's reason code: registry record first (missing, expired, frozen, credentials), then this token's
    /// wallet freeze, then the country. Sender codes are the even ones, receiver codes the odd ones.
    function _partyCode(address wallet, uint256 record, bool sender) private view returns (uint8) {
        uint8 r = checkRecord(record, requiredCredentials, block.timestamp);
        uint8 side = sender ? 0 : 1;
        if (r == RECORD_MISSING) return SENDER_NOT_ELIGIBLE + side;
        if (r == RECORD_EXPIRED) return SENDER_EXPIRED + side;
        if (r == RECORD_FROZEN) return SENDER_FROZEN + side;
        if (r != RECORD_OK) return SENDER_MISSING_CREDENTIALS + side;
        if (_accounts[wallet].frozen) return SENDER_FROZEN + side;
        if (!isCountryAllowed[recordCountry(record)]) return SENDER_JURISDICTION + side;
        return SUCCESS;
    }

    function _revertFor(uint8 code, address from, address to, uint256 amount) private view {
        address who = code % 2 == 0 ? from : to;
        if (code == PAUSED) revert TokenPaused();
        if (code == SENDER_NOT_ELIGIBLE || code == RECEIVER_NOT_ELIGIBLE) revert NotEligible(who);
        if (code == SENDER_EXPIRED || code == RECEIVER_EXPIRED) revert EligibilityExpired(who);
        if (code == SENDER_FROZEN || code == RECEIVER_FROZEN) revert WalletFrozen(who);
        if (code == SENDER_MISSING_CREDENTIALS || code == RECEIVER_MISSING_CREDENTIALS) {
            revert MissingCredentials(who, requiredCredentials);
        }
        if (code == SENDER_JURISDICTION || code == RECEIVER_JURISDICTION) {
            revert JurisdictionNotAllowed(who, recordCountry(registry.packedRecord(who)));
        }
        Account storage a = _accounts[from];
        if (code == INSUFFICIENT_BALANCE) revert InsufficientBalance(from, a.balance, amount);
        revert AmountFrozen(from, a.balance - a.frozenAmount, amount);
    }
}
