// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title TesseraAnchor
/// @notice Anchors the heads of Tessera's append-only, hash-chained trails (issuer audit trail, data-exchange trail).
///         One head per trail; a head only moves forward (its sequence number must grow), so an anchor is never rewritten.
contract TesseraAnchor {
    struct Head {
        bytes32 hash;
        uint64 seq;
        uint64 anchoredAt;
    }

    address public immutable admin;
    mapping(address => bool) public writers;
    mapping(bytes32 => Head) private _heads;

    event WriterSet(address indexed writer, bool allowed);
    event Anchored(bytes32 indexed trailId, uint64 indexed seq, bytes32 head);

    error NotAdmin();
    error NotWriter();
    error StaleSequence(uint64 current, uint64 proposed);

    constructor() {
        admin = msg.sender;
        writers[msg.sender] = true;
        emit WriterSet(msg.sender, true);
    }

    function setWriter(address writer, bool allowed) external {
        if (msg.sender != admin) revert NotAdmin();
        writers[writer] = allowed;
        emit WriterSet(writer, allowed);
    }

    /// @notice Record `head` as the hash of entry `seq` of trail `trailId`.
    function anchor(bytes32 trailId, uint64 seq, bytes32 head) external {
        if (!writers[msg.sender]) revert NotWriter();
        Head storage h = _heads[trailId];
        if (h.anchoredAt != 0 && seq <= h.seq) revert StaleSequence(h.seq, seq);
        _heads[trailId] = Head(head, seq, uint64(block.timestamp));
        emit Anchored(trailId, seq, head);
    }

    function headOf(bytes32 trailId) external view returns (bytes32 hash, uint64 seq, uint64 anchoredAt) {
        Head storage h = _heads[trailId];
        return (h.hash, h.seq, h.anchoredAt);
    }
}
