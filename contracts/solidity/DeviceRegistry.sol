// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title DeviceRegistry
/// @notice Tessera's identification contract (DESIGN §4): one record per device with its DID address, manufacturer,
///         owner, characteristics fingerprint, salted commitment to its pre-shared secret and lifecycle state.
///
///         Bulk registration costs one transaction per batch, not per device: a manufacturer registers the Merkle
///         root of a batch (two storage slots, whatever the batch size). Each leaf commits to
///         (deviceId, fingerprint, commitment, initialOwner). A device record is materialised lazily, when it is
///         first needed, by anyone who presents the leaf and its Merkle proof; the proof stands in for the
///         manufacturer's signature because only the manufacturer could have registered the root.
///
///         Leaves are hashed twice, keccak256(bytes.concat(keccak256(abi.encode(...)))), and inner nodes hash the
///         sorted pair, as OpenZeppelin's MerkleProof does: a 64-byte inner node can never be passed off as a leaf.
///
///         Lifecycle (DESIGN §4): Registered → Active ⇄ Suspended → Revoked | Decommissioned; Revoked and
///         Decommissioned are final. Who may do what: the admin grants MANUFACTURER and OPERATOR; a manufacturer
///         registers batches; the owner commissions (binds the device's DID address), transfers, updates firmware and
///         decommissions; an operator suspends, resumes and revokes (and may decommission). Every change emits an event.
contract DeviceRegistry {
    enum State {
        Unknown,
        Registered,
        Active,
        Suspended,
        Revoked,
        Decommissioned
    }

    struct Device {
        address manufacturer;
        State state;
        uint64 updatedAt;
        address owner;
        uint64 batchId;
        /// The did:ethr identity address bound at commissioning (zero before).
        address identity;
        bytes32 fingerprint;
        bytes32 commitment;
    }

    struct Batch {
        bytes32 root;
        address manufacturer;
        uint32 count;
        bool revoked;
    }

    bytes32 public constant MANUFACTURER = keccak256("tessera.role.manufacturer");
    bytes32 public constant OPERATOR = keccak256("tessera.role.operator");

    address public admin;
    mapping(bytes32 role => mapping(address account => bool)) public hasRole;
    /// Batch ids start at 1 so that 0 means "no batch".
    uint64 public batchCount;
    mapping(uint64 batchId => Batch) private _batches;
    mapping(bytes32 deviceId => Device) private _devices;
    /// Reverse lookup from a DID identity address to its device.
    mapping(address identity => bytes32 deviceId) public deviceOfIdentity;

    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed by);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed by);
    event BatchRegistered(uint64 indexed batchId, address indexed manufacturer, bytes32 root, uint32 count);
    event BatchRevoked(uint64 indexed batchId, address indexed by);
    event DeviceRegistered(
        bytes32 indexed deviceId,
        uint64 indexed batchId,
        address indexed manufacturer,
        address owner,
        bytes32 fingerprint,
        bytes32 commitment
    );
    event DeviceStateChanged(bytes32 indexed deviceId, State from, State to, address indexed by);
    event DeviceCommissioned(bytes32 indexed deviceId, address indexed identity, address indexed owner);
    event DeviceOwnershipTransferred(bytes32 indexed deviceId, address indexed previousOwner, address indexed newOwner);
    event FirmwareUpdated(bytes32 indexed deviceId, bytes32 previousFingerprint, bytes32 fingerprint, address indexed by);

    error NotAdmin();
    error MissingRole(bytes32 role, address account);
    error NotOwner(bytes32 deviceId, address account);
    error NotAllowed(bytes32 deviceId, address account);
    error UnknownBatch(uint64 batchId);
    error BatchIsRevoked(uint64 batchId);
    error EmptyBatch();
    error InvalidProof(bytes32 deviceId);
    error AlreadyRegistered(bytes32 deviceId);
    error UnknownDevice(bytes32 deviceId);
    error InvalidTransition(bytes32 deviceId, State from, State to);
    error ZeroAddress();
    error ZeroValue();
    error IdentityInUse(address identity, bytes32 deviceId);

    constructor() {
        admin = msg.sender;
        emit AdminTransferred(address(0), msg.sender);
    }

    // ------------------------------------------------------------------ roles

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    modifier onlyRole(bytes32 role) {
        if (!hasRole[role][msg.sender]) revert MissingRole(role, msg.sender);
        _;
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
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

    // ------------------------------------------------------------------ batches

    /// @notice Register a batch of `count` devices by the Merkle root of their leaves. Cost is independent of `count`.
    function registerBatch(bytes32 root, uint32 count) external onlyRole(MANUFACTURER) returns (uint64 batchId) {
        if (root == bytes32(0)) revert ZeroValue();
        if (count == 0) revert EmptyBatch();
        batchId = ++batchCount;
        _batches[batchId] = Batch(root, msg.sender, count, false);
        emit BatchRegistered(batchId, msg.sender, root, count);
    }

    /// @notice Stop a batch from materialising further devices (a compromised production run); records already
    ///         materialised are revoked one by one.
    function revokeBatch(uint64 batchId) external {
        Batch storage b = _batch(batchId);
        if (!hasRole[OPERATOR][msg.sender] && msg.sender != b.manufacturer) {
            revert MissingRole(OPERATOR, msg.sender);
        }
        b.revoked = true;
        emit BatchRevoked(batchId, msg.sender);
    }

    function batchOf(uint64 batchId)
        external
        view
        returns (bytes32 root, address manufacturer, uint32 count, bool revoked)
    {
        Batch storage b = _batches[batchId];
        return (b.root, b.manufacturer, b.count, b.revoked);
    }

    /// @notice The leaf of a device in its batch tree.
    function leafOf(bytes32 deviceId, bytes32 fingerprint, bytes32 commitment, address initialOwner)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(deviceId, fingerprint, commitment, initialOwner))));
    }

    /// @notice Materialise a device record from its batch (Unknown → Registered). Anyone may call: the proof shows
    ///         that the batch's manufacturer registered exactly these values.
    function materialize(
        uint64 batchId,
        bytes32 deviceId,
        bytes32 fingerprint,
        bytes32 commitment,
        address initialOwner,
        bytes32[] calldata proof
    ) public {
        Batch storage b = _batch(batchId);
        if (b.revoked) revert BatchIsRevoked(batchId);
        if (_devices[deviceId].state != State.Unknown) revert AlreadyRegistered(deviceId);
        if (deviceId == bytes32(0) || fingerprint == bytes32(0) || commitment == bytes32(0)) revert ZeroValue();
        if (initialOwner == address(0)) revert ZeroAddress();
        if (!_verify(proof, b.root, leafOf(deviceId, fingerprint, commitment, initialOwner))) {
            revert InvalidProof(deviceId);
        }
        _devices[deviceId] = Device({
            manufacturer: b.manufacturer,
            state: State.Registered,
            updatedAt: uint64(block.timestamp),
            owner: initialOwner,
            batchId: batchId,
            identity: address(0),
            fingerprint: fingerprint,
            commitment: commitment
        });
        emit DeviceRegistered(deviceId, batchId, b.manufacturer, initialOwner, fingerprint, commitment);
        emit DeviceStateChanged(deviceId, State.Unknown, State.Registered, msg.sender);
    }

    // ------------------------------------------------------------------ owner actions

    /// @notice Bind the device's DID identity address and activate it (Registered → Active). Owner only.
    function commission(bytes32 deviceId, address identity) public {
        Device storage d = _device(deviceId);
        if (msg.sender != d.owner) revert NotOwner(deviceId, msg.sender);
        if (identity == address(0)) revert ZeroAddress();
        bytes32 other = deviceOfIdentity[identity];
        if (other != bytes32(0) && other != deviceId) revert IdentityInUse(identity, other);
        _transition(d, deviceId, State.Registered, State.Active);
        d.identity = identity;
        deviceOfIdentity[identity] = deviceId;
        emit DeviceCommissioned(deviceId, identity, msg.sender);
    }

    /// @notice Materialise and commission in one transaction (the usual path for a device that is set up by the
    ///         owner named in its leaf).
    function commissionFromBatch(
        uint64 batchId,
        bytes32 deviceId,
        bytes32 fingerprint,
        bytes32 commitment,
        bytes32[] calldata proof,
        address identity
    ) external {
        materialize(batchId, deviceId, fingerprint, commitment, msg.sender, proof);
        commission(deviceId, identity);
    }

    function transferDeviceOwnership(bytes32 deviceId, address newOwner) external {
        Device storage d = _device(deviceId);
        if (msg.sender != d.owner) revert NotOwner(deviceId, msg.sender);
        if (newOwner == address(0)) revert ZeroAddress();
        if (_isFinal(d.state)) revert InvalidTransition(deviceId, d.state, d.state);
        emit DeviceOwnershipTransferred(deviceId, d.owner, newOwner);
        d.owner = newOwner;
        d.updatedAt = uint64(block.timestamp);
    }

    /// @notice A firmware update changes the characteristics and so the fingerprint. The owner, or the device's
    ///         manufacturer while it holds the MANUFACTURER role, may record it.
    function updateFirmware(bytes32 deviceId, bytes32 newFingerprint) external {
        Device storage d = _device(deviceId);
        bool manufacturer = msg.sender == d.manufacturer && hasRole[MANUFACTURER][msg.sender];
        if (msg.sender != d.owner && !manufacturer) revert NotAllowed(deviceId, msg.sender);
        if (newFingerprint == bytes32(0)) revert ZeroValue();
        if (_isFinal(d.state)) revert InvalidTransition(deviceId, d.state, d.state);
        emit FirmwareUpdated(deviceId, d.fingerprint, newFingerprint, msg.sender);
        d.fingerprint = newFingerprint;
        d.updatedAt = uint64(block.timestamp);
    }

    /// @notice Take a device out of service for good. Owner or operator.
    function decommission(bytes32 deviceId) external {
        Device storage d = _device(deviceId);
        if (msg.sender != d.owner && !hasRole[OPERATOR][msg.sender]) revert NotAllowed(deviceId, msg.sender);
        if (_isFinal(d.state)) revert InvalidTransition(deviceId, d.state, State.Decommissioned);
        _transition(d, deviceId, d.state, State.Decommissioned);
    }

    // ------------------------------------------------------------------ operator actions

    function suspend(bytes32 deviceId) external onlyRole(OPERATOR) {
        Device storage d = _device(deviceId);
        _transition(d, deviceId, State.Active, State.Suspended);
    }

    function resume(bytes32 deviceId) external onlyRole(OPERATOR) {
        Device storage d = _device(deviceId);
        _transition(d, deviceId, State.Suspended, State.Active);
    }

    function revoke(bytes32 deviceId) external onlyRole(OPERATOR) {
        Device storage d = _device(deviceId);
        if (_isFinal(d.state)) revert InvalidTransition(deviceId, d.state, State.Revoked);
        _transition(d, deviceId, d.state, State.Revoked);
    }

    // ------------------------------------------------------------------ views

    /// @notice What the handshake verifier needs, in one call: state, DID identity, fingerprint and commitment.
    ///         An unknown (or not yet materialised) device answers State.Unknown and zeros.
    function deviceStatus(bytes32 deviceId)
        external
        view
        returns (State state, address identity, bytes32 fingerprint, bytes32 commitment)
    {
        Device storage d = _devices[deviceId];
        return (d.state, d.identity, d.fingerprint, d.commitment);
    }

    function isActive(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].state == State.Active;
    }

    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _devices[deviceId];
    }

    // ------------------------------------------------------------------ internals

    function _batch(uint64 batchId) private view returns (Batch storage b) {
        b = _batches[batchId];
        if (b.root == bytes32(0)) revert UnknownBatch(batchId);
    }

    function _device(bytes32 deviceId) private view returns (Device storage d) {
        d = _devices[deviceId];
        if (d.state == State.Unknown) revert UnknownDevice(deviceId);
    }

    function _isFinal(State s) private pure returns (bool) {
        return s == State.Revoked || s == State.Decommissioned;
    }

    function _transition(Device storage d, bytes32 deviceId, State from, State to) private {
        if (d.state != from) revert InvalidTransition(deviceId, d.state, to);
        d.state = to;
        d.updatedAt = uint64(block.timestamp);
        emit DeviceStateChanged(deviceId, from, to, msg.sender);
    }

    /// Sorted-pair Merkle proof check (the OpenZeppelin MerkleProof convention).
    function _verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf) private pure returns (bool) {
        bytes32 h = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            bytes32 p = proof[i];
            h = h < p ? keccak256(abi.encodePacked(h, p)) : keccak256(abi.encodePacked(p, h));
        }
        return h == root;
    }
}
