//! Verifying the chain: every entry, oldest first, in pages (memory does not grow with the
//! log), recomputing each content hash from the stored fields and each link from the stored
//! hashes. The walk stops at the first entry that does not match and names it; an entry changed,
//! removed or re-hashed behind the database's guards is found there (or, if every later entry
//! was re-hashed too, only against a `last_hash` kept elsewhere: docs/audit.md).

use super::db::{self, EntryRow};
use super::model::{ChainProblem, Verification};
use crate::error::Result;
use crate::state::AppState;
use crate::trail;

/// Entries read per query.
const PAGE: i64 = 1000;

/// Walks the whole chain.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn verify(state: &AppState) -> Result<Verification> {
    let mut last: Option<(i64, Vec<u8>)> = None;
    let mut checked = 0;
    loop {
        let after = last.as_ref().map_or(0, |(seq, _)| *seq);
        let rows = db::chain_after(&state.db, after, PAGE).await?;
        let complete = (rows.len() as i64) < PAGE;
        for row in rows {
            checked += 1;
            if let Some(problem) = check(&row, last.as_ref().map(|(seq, hash)| (*seq, hash.as_slice()))) {
                tracing::error!(seq = row.seq, problem = problem.as_str(), "the audit log does not verify");
                return Ok(Verification::broken(checked, row.seq, problem));
            }
            last = Some((row.seq, row.hash));
        }
        if complete {
            return Ok(Verification::intact(checked, last.as_ref().map(|(seq, hash)| (*seq, hash.as_slice()))));
        }
    }
}

/// What is wrong with `row`, given the entry before it (None for the first), checked in the
/// order docs/audit.md gives: its number, its content, its link back, its own hash.
fn check(row: &EntryRow, previous: Option<(i64, &[u8])>) -> Option<ChainProblem> {
    let (seq, prev_hash) = match previous {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, &trail::GENESIS[..]),
    };
    if row.seq != seq {
        Some(ChainProblem::SequenceGap)
    } else if row.content().sha256()[..] != row.content_sha256[..] {
        Some(ChainProblem::ContentHash)
    } else if row.prev_hash != prev_hash {
        Some(ChainProblem::PrevHash)
    } else if trail::link(&row.prev_hash, &row.content_sha256)[..] != row.hash[..] {
        Some(ChainProblem::Hash)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A correctly chained entry after `prev_hash`.
    fn entry(seq: i64, prev_hash: &[u8]) -> EntryRow {
        let mut row = EntryRow {
            seq,
            at: chrono::DateTime::from_timestamp(1_795_000_000, 123_456_000).unwrap(),
            actor_id: None,
            actor_role: "system:stripe".into(),
            action: "payment.succeeded".into(),
            target_kind: "order".into(),
            target_id: "0196".into(),
            detail: json!({"amount_fen": 1200, "currency": "cny"}),
            content_sha256: Vec::new(),
            prev_hash: prev_hash.to_vec(),
            hash: Vec::new(),
        };
        row.content_sha256 = row.content().sha256().to_vec();
        row.hash = trail::link(&row.prev_hash, &row.content_sha256).to_vec();
        row
    }

    #[test]
    fn a_well_formed_chain_verifies_from_the_genesis_hash() {
        let first = entry(1, &trail::GENESIS);
        let second = entry(2, &first.hash);
        assert_eq!(check(&first, None), None);
        assert_eq!(check(&second, Some((1, &first.hash))), None);
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let first = entry(1, &trail::GENESIS);
        let previous = Some((1, first.hash.as_slice()));
        let mut changed = entry(2, &first.hash);
        changed.detail = json!({"amount_fen": 1, "currency": "cny"});
        assert_eq!(check(&changed, previous), Some(ChainProblem::ContentHash));
        let relinked = entry(2, &[9; 32]);
        assert_eq!(check(&relinked, previous), Some(ChainProblem::PrevHash));
        let mut rehashed = entry(2, &first.hash);
        rehashed.hash[0] ^= 1;
        assert_eq!(check(&rehashed, previous), Some(ChainProblem::Hash));
        assert_eq!(check(&entry(3, &first.hash), previous), Some(ChainProblem::SequenceGap));
        assert_eq!(check(&entry(2, &trail::GENESIS), None), Some(ChainProblem::SequenceGap), "the first is 1");
    }
}
