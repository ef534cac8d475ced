-- The sealed peer channel (docs/protocol.md §2.1): each connected client's X25519 public key,
-- 64 hex digits, given at login or resume. get_peers hands it to downloaders with the address, so
-- they can tell the seeder from an impostor. '' for a client that gave none.
ALTER TABLE presence ADD COLUMN peer_key TEXT NOT NULL DEFAULT '';
