// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title EligibilityRegistry
/// @notice Which addresses may hold Tessera security tokens (DESIGN §7, ERC-3643-style behaviour, our own design).
///
///         An attester verifies an investor's credentials off chain (signature, trusted issuer, expiry, status,
///         holder binding) and then writes one compact record for the investor's wallet. The record is ONE storage
///         slot, so onboarding costs one fresh SSTORE and a compliant transfer reads two slots (sender and receiver):
///
///           bits   0..63   expiry       unix seconds; eligible while block.timestamp < expiry; 0 = no record
///           bits  64..79   country      ISO 3166-1 alpha-2 as two ASCII bytes ("DE" = 0x4445)
///           bits  80..111  credentials  one bit per verified credential or claim level (meaning set off chain)
///           bits 112..119  frozen       1 when the attester froze this wallet across every token
///           bits 128..255  identity     first 16 bytes of the keccak256 of the holder's DID: links the wallets of
///                                       one identity (recovery). 128 bits: a second preimage costs 2^128 work.
///
///         Revoking the investor's credential removes the record (`removeEligibility`), which blocks every token at
///         the investor's next transfer. Roles: the admin appoints attesters; attesters write records.
contract EligibilityRegistry {
    address public admin;
    mapping(address account => bool) public isAttester;
    mapping(address wallet => uint256) private _records;

    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    event AttesterSet(address indexed attester, bool allowed);
    event EligibilitySet(
        address indexed wallet,
        bytes16 indexed identity,
        bytes2 country,
        uint32 credentials,
        uint64 expiry,
        address indexed by
    );
    event EligibilityRemoved(address indexed wallet, address indexed by);
    event WalletFrozen(address indexed wallet, bool frozen, address indexed by);

    error NotAdmin();
    error NotAttester();
    error ZeroAddress();
    error ExpiryNotInFuture(uint64 expiry);
    error NoRecord(address wallet);
    error MissingIdentity();

    constructor() {
        admin = msg.sender;
        isAttester[msg.sender] = true;
        emit AdminTransferred(address(0), msg.sender);
        emit AttesterSet(msg.sender, true);
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    modifier onlyAttester() {
        if (!isAttester[msg.sender]) revert NotAttester();
        _;
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
    }

    function setAttester(address attester, bool allowed) external onlyAdmin {
        isAttester[attester] = allowed;
        emit AttesterSet(attester, allowed);
    }

    /// @notice Write (onboard) or refresh the eligibility of `wallet`. A refresh keeps the attester's frozen flag:
    ///         renewing a credential never unfreezes a wallet.
    function setEligibility(address wallet, bytes16 identity, bytes2 country, uint32 credentials, uint64 expiry)
        external
        onlyAttester
    {
        if (wallet == address(0)) revert ZeroAddress();
        if (identity == bytes16(0)) revert MissingIdentity();
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry);
        uint256 frozen = _records[wallet] & FROZEN_MASK;
        _records[wallet] = packRecord(identity, country, credentials, expiry) | frozen;
        emit EligibilitySet(wallet, identity, country, credentials, expiry, msg.sender);
    }

    /// @notice Remove the record of `wallet` (its credential was revoked): every token refuses it from now on.
    function removeEligibility(address wallet) external onlyAttester {
        if (_records[wallet] == 0) revert NoRecord(wallet);
        delete _records[wallet];
        emit EligibilityRemoved(wallet, msg.sender);
    }

    /// @notice Freeze or unfreeze `wallet` for every token that uses this registry.
    function setFrozen(address wallet, bool frozen) external onlyAttester {
        uint256 r = _records[wallet];
        if (r == 0) revert NoRecord(wallet);
        _records[wallet] = frozen ? r | FROZEN_MASK : r & ~FROZEN_MASK;
        emit WalletFrozen(wallet, frozen, msg.sender);
    }

    /// @notice The decoded record of `wallet` (all zero when there is none).
    function recordOf(address wallet)
        external
        view
        returns (bytes16 identity, bytes2 country, uint32 credentials, uint64 expiry, bool frozen)
    {
        uint256 r = _records[wallet];
        return (recordIdentity(r), recordCountry(r), recordCredentials(r), recordExpiry(r), r & FROZEN_MASK != 0);
    }

    /// @notice The packed records of two wallets in one call: what a token reads for a transfer.
    function packedRecords(address a, address b) external view returns (uint256, uint256) {
        return (_records[a], _records[b]);
    }

    function packedRecord(address a) external view returns (uint256) {
        return _records[a];
    }

    /// @notice Whether `wallet` has a live, unfrozen record holding every bit of `requiredCredentials` and a
    ///         country among `countries` (an empty list allows every country).
    function isEligible(address wallet, uint32 requiredCredentials, bytes2[] calldata countries)
        external
        view
        returns (bool)
    {
        uint8 code = checkRecord(_records[wallet], requiredCredentials, block.timestamp);
        if (code != RECORD_OK) return false;
        if (countries.length == 0) return true;
        bytes2 c = recordCountry(_records[wallet]);
        for (uint256 i = 0; i < countries.length; i++) {
            if (countries[i] == c) return true;
        }
        return false;
    }
}

// Record layout helpers, shared with the token (free functions: inlined, no separate deployment).

uint256 constant FROZEN_MASK = uint256(0xff) << 112;

uint8 constant RECORD_OK = 0;
uint8 constant RECORD_MISSING = 1;
uint8 constant RECORD_EXPIRED = 2;
uint8 constant RECORD_FROZEN = 3;
uint8 constant RECORD_CREDENTIALS = 4;

function packRecord(bytes16 identity, bytes2 country, uint32 credentials, uint64 expiry) pure returns (uint256) {
    return (uint256(uint128(identity)) << 128) | (uint256(credentials) << 80) | (uint256(uint16(country)) << 64)
        | uint256(expiry);
}

function recordExpiry(uint256 r) pure returns (uint64) {
    return uint64(r);
}

function recordCountry(uint256 r) pure returns (bytes2) {
    return bytes2(uint16(r >> 64));
}

function recordCredentials(uint256 r) pure returns (uint32) {
    return uint32(r >> 80);
}

function recordIdentity(uint256 r) pure returns (bytes16) {
    return bytes16(uint128(r >> 128));
}

/// Checks in a fixed order, so that a pre-flight check and the transfer always name the same reason.
function checkRecord(uint256 r, uint32 required, uint256 nowTs) pure returns (uint8) {
    if (r == 0) return RECORD_MISSING;
    if (uint64(r) <= nowTs) return RECORD_EXPIRED;
    if (r & FROZEN_MASK != 0) return RECORD_FROZEN;
    if (uint32(r >> 80) & required != required) return RECORD_CREDENTIALS;
    return RECORD_OK;
}
