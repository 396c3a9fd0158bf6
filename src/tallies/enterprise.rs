//! An enterprise's own assistance figures and its annual target (预留份额); admins' list of
//! enterprises behind their targets.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use serde_json::json;

use super::db::{self, TargetRow};
use super::engine::{self, shanghai_today};
use super::model::{
    Dimension, EnterpriseAssistance, Progress, TallyFilter, Target, TargetBody, TargetStatus, TargetsQuery,
};
use crate::accounts::{self, EnterpriseMember, model::MemberRole};
use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;
use crate::trail::{self, Actor, Entry};

/// Years a target or certificate may name (what the table accepts).
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2200;

/// The year asked for, or the current Shanghai year; 422 naming `year` outside 2000..=2200.
pub fn year_or_current(year: Option<i32>) -> Result<i32> {
    let year = year.unwrap_or_else(|| shanghai_today().year());
    if !YEARS.contains(&year) {
        return Err(FieldErrors::single("year", msg!("range", min = 2000, max = 2200)));
    }
    Ok(year)
}

/// Totals by year (all years) and by month, county and category within `year`, the target
/// and progress, and the certificates issued.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn assistance(state: &AppState, member: &EnterpriseMember, year: i32) -> Result<EnterpriseAssistance> {
    let enterprise = accounts::find_organization(&state.db, member.enterprise_id).await?.ok_or(AppError::NotFound)?;
    let all = TallyFilter { enterprise: Some(member.enterprise_id), ..Default::default() };
    let in_year = TallyFilter { enterprise: Some(member.enterprise_id), ..TallyFilter::year(year) };
    let (by_year, by_month, by_county, by_category) = tokio::try_join!(
        engine::tally(state, Dimension::Year, &all, 500),
        engine::tally(state, Dimension::Month, &in_year, 12),
        engine::tally(state, Dimension::County, &in_year, 500),
        engine::tally(state, Dimension::Category, &in_year, 500),
    )?;
    let mut by_month = by_month;
    by_month.sort_by(|a, b| a.key.cmp(&b.key));
    let target = db::find_target(&state.db, member.enterprise_id, year).await?;
    let amount: i64 = by_county.iter().map(|r| r.amount_fen).sum();
    let progress = target.as_ref().map(|t| progress(t.amount_fen, amount, year, shanghai_today()));
    let certificates = db::certificates_of(&state.db, member.enterprise_id).await?;
    Ok(EnterpriseAssistance {
        enterprise_id: member.enterprise_id,
        legal_name: enterprise.legal_name,
        year,
        by_year,
        by_month,
        by_county,
        by_category,
        target: target.map(Target::from),
        progress,
        certificates,
    })
}

/// Pro-rata progress on `today`: the share of the year's days elapsed (all of a past year,
/// none of a future one) of the target is what should have been bought by now.
pub fn progress(target_fen: i64, amount_fen: i64, year: i32, today: NaiveDate) -> Progress {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("January 1st exists");
    let next = NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("January 1st exists");
    let days = (next - first).num_days();
    let elapsed = (today - first).num_days().saturating_add(1).clamp(0, days);
    let expected = (i128::from(target_fen) * i128::from(elapsed) / i128::from(days)) as i64;
    Progress {
        target_fen,
        amount_fen,
        expected_by_now_fen: expected,
        progress_bp: (i128::from(amount_fen) * 10_000 / i128::from(target_fen.max(1))) as i64,
        behind: amount_fen < expected,
    }
}

impl From<TargetRow> for Target {
    fn from(t: TargetRow) -> Self {
        Target {
            year: t.year,
            amount_fen: t.amount_fen,
            percent: t.percent_bp.map(|bp| f64::from(bp) / 100.0),
            budget_fen: t.budget_fen,
            set_at: t.set_at,
        }
    }
}

/// Checks a target body: an amount, or a percentage (over 0, at most 100, two decimals at
/// most) of a positive budget; never both.
fn checked_target(body: &TargetBody) -> Result<(i32, i64, Option<i32>, Option<i64>)> {
    let year = year_or_current(body.year)?;
    let mut errors = FieldErrors::new();
    let parsed = match (body.amount_fen, body.percent, body.budget_fen) {
        (Some(amount), None, None) => {
            if amount <= 0 {
                errors.add("amount_fen", msg!("positive-fen"));
            }
            (amount, None, None)
        }
        (None, Some(percent), Some(budget)) => {
            // The bounds are checked on the number as sent, not on its rounded hundredths:
            // 100.00000000000001 is over 100 (the fuzzer sent it), though it rounds to 100.00.
            // serde_json's `float_roundtrip` makes the number read the one sent: its default
            // parser may land a unit in the last place off, here on exactly 100.
            let bp = (percent * 100.0).round();
            let in_bounds = percent > 0.0 && percent <= 100.0;
            if !in_bounds || !(1.0..=10_000.0).contains(&bp) || (percent * 100.0 - bp).abs() > 1e-6 {
                errors.add("percent", msg!("target-percent"));
            }
            if budget <= 0 {
                errors.add("budget_fen", msg!("positive-fen"));
            }
            let bp = bp as i64;
            let amount = ((i128::from(budget) * i128::from(bp) + 5_000) / 10_000).clamp(0, i128::from(i64::MAX)) as i64;
            if errors.is_empty() && amount < 1 {
                errors.add("budget_fen", msg!("target-below-one-fen"));
            }
            (amount, Some(bp as i32), Some(budget))
        }
        (Some(_), _, _) => {
            errors.add("amount_fen", msg!("target-amount-or-percent"));
            (0, None, None)
        }
        (None, Some(_), None) => {
            errors.add("budget_fen", msg!("required-with", other = "percent"));
            (0, None, None)
        }
        (None, None, Some(_)) => {
            errors.add("percent", msg!("required-with", other = "budget_fen"));
            (0, None, None)
        }
        (None, None, None) => {
            errors.add("amount_fen", msg!("target-amount-or-percent"));
            (0, None, None)
        }
    };
    errors.into_result()?;
    Ok((year, parsed.0, parsed.1, parsed.2))
}

/// Sets the enterprise's target for a year (its owner only), audit-logged in the same
/// transaction.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn set_target(state: &AppState, member: &EnterpriseMember, body: &TargetBody) -> Result<Target> {
    if member.role != MemberRole::Owner {
        return Err(AppError::forbidden("forbidden", msg!("owner-sets-target")));
    }
    let (year, amount_fen, percent_bp, budget_fen) = checked_target(body)?;
    let row = TargetRow {
        enterprise_id: member.enterprise_id,
        year,
        amount_fen,
        percent_bp,
        budget_fen,
        set_at: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6),
    };
    let mut tx = state.db.begin().await?;
    let before = db::find_target(&mut *tx, member.enterprise_id, year).await?;
    db::upsert_target(&mut tx, &row, member.account_id).await?;
    let actor = Actor::Account { id: member.account_id, role: crate::identity::AccountRole::Enterprise };
    let entry = Entry::new(actor, "target.set", "enterprise", member.enterprise_id).detail(json!({
        "year": year, "amount_fen": amount_fen, "percent_bp": percent_bp, "budget_fen": budget_fen,
        "previous_amount_fen": before.map(|b| b.amount_fen),
    }));
    trail::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(Target::from(row))
}

/// Enterprises with a target for the year and their pro-rata progress, furthest behind first.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn targets(state: &AppState, q: &TargetsQuery) -> Result<Vec<TargetStatus>> {
    let year = year_or_current(q.year)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(FieldErrors::single("limit", msg!("range", min = 1, max = 500)));
    }
    let targets = db::targets_of_year(&state.db, year).await?;
    let bought: HashMap<String, i64> = db::tally(&state.db, Dimension::Enterprise, &TallyFilter::year(year), i64::MAX)
        .await?
        .into_iter()
        .map(|g| (g.key, g.amount_fen))
        .collect();
    let ids: Vec<_> = targets.iter().map(|t| t.enterprise_id).collect();
    let names: HashMap<_, _> = accounts::legal_names(&state.db, &ids).await?.into_iter().collect();
    let today = shanghai_today();
    let mut rows: Vec<TargetStatus> = targets
        .into_iter()
        .map(|t| TargetStatus {
            enterprise_id: t.enterprise_id,
            legal_name: names.get(&t.enterprise_id).cloned().unwrap_or_default(),
            year,
            progress: progress(
                t.amount_fen,
                bought.get(&t.enterprise_id.to_string()).copied().unwrap_or(0),
                year,
                today,
            ),
        })
        .filter(|r| !q.behind.unwrap_or(false) || r.progress.behind)
        .collect();
    rows.sort_by_key(|r| (std::cmp::Reverse(r.progress.expected_by_now_fen - r.progress.amount_fen), r.enterprise_id));
    rows.truncate(limit as usize);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_pro_rata_over_the_days_of_the_year() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        // 2026 has 365 days; on 1 January one day of 365 has passed.
        assert_eq!(progress(36_500, 0, 2026, day(1, 1)).expected_by_now_fen, 100);
        assert!(!progress(36_500, 100, 2026, day(1, 1)).behind);
        assert!(progress(36_500, 99, 2026, day(1, 1)).behind);
        assert_eq!(progress(36_500, 0, 2026, day(12, 31)).expected_by_now_fen, 36_500);
        assert_eq!(progress(36_500, 0, 2025, day(6, 1)).expected_by_now_fen, 36_500);
        assert_eq!(progress(36_500, 0, 2027, day(6, 1)).expected_by_now_fen, 0);
        assert_eq!(progress(10_000, 2_500, 2026, day(6, 1)).progress_bp, 2_500);
    }

    #[test]
    fn a_target_is_an_amount_or_a_percentage_of_a_budget_never_both() {
        let body =
            |amount, percent, budget| TargetBody { year: Some(2026), amount_fen: amount, percent, budget_fen: budget };
        assert_eq!(checked_target(&body(Some(500), None, None)).unwrap(), (2026, 500, None, None));
        assert_eq!(
            checked_target(&body(None, Some(12.5), Some(1_000_000))).unwrap(),
            (2026, 125_000, Some(1250), Some(1_000_000))
        );
        assert!(checked_target(&body(Some(500), Some(1.0), Some(100))).is_err());
        assert!(checked_target(&body(None, Some(12.345), Some(100))).is_err());
        assert!(checked_target(&body(None, Some(0.0), Some(100))).is_err());
        assert!(checked_target(&body(None, Some(100.01), Some(100))).is_err());
        assert!(checked_target(&body(None, Some(100.00000000000001), Some(100))).is_err());
        assert_eq!(checked_target(&body(None, Some(100.0), Some(100))).unwrap(), (2026, 100, Some(10_000), Some(100)));
        assert!(checked_target(&body(None, None, None)).is_err());
        assert!(checked_target(&body(Some(0), None, None)).is_err());
    }
}
