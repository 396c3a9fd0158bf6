//! SHA-256 in lower-case hex: session keys, entity tags, cache keys and request fingerprints.

use sha2::{Digest, Sha256};

/// The hex SHA-256 of the parts written one after another, cut to its first `bytes` bytes
/// (32 for the whole digest; entity tags and cache keys use 16).
pub fn sha256_hex(parts: &[&[u8]], bytes: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().iter().take(bytes).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn parts_hash_as_their_concatenation() {
        assert_eq!(sha256_hex(&[b"ab", b"c"], 32), sha256_hex(&[b"abc"], 32));
        assert_eq!(sha256_hex(&[b"abc"], 32), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(&[b"abc"], 16).len(), 32);
    }
}
