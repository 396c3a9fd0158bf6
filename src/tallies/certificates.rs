//! Assistance-purchase certificates: an enterprise's figures for a year, frozen at issue under
//! a random verification code that anyone can check. Only the code's SHA-256 is stored, so the
//! table gives nobody a working code, and codes (128 random bits) say nothing about each other.

use chrono::{Datelike, NaiveDate, SubsecRound, Utc};
use serde_json::json;
use sqlx::types::Json;

use super::db::{self, CertificateRow};
use super::engine::shanghai_today;
use super::enterprise::year_or_current;
use super::model::{Certificate, CertificateIssued, CountyAmount, Dimension, TallyFilter};
use crate::accounts::{self, EnterpriseMember, model::MemberRole};
use crate::digest::sha256_hex;
use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;
use crate::trail::{self, Actor, Entry};
use crate::{identity::AccountRole, regions};

/// The certified period of `year` as of `today`: the whole year, or up to today for the
/// current one.
fn period(year: i32, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from = NaiveDate::from_ymd_opt(year, 1, 1).expect("January 1st exists");
    let end = NaiveDate::from_ymd_opt(year, 12, 31).expect("December 31st exists");
    (from, end.min(today))
}

/// The enterprise's figures over a period: total, units and the amount per origin county.
async fn figures(
    state: &AppState,
    enterprise: uuid::Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(i64, i64, Vec<CountyAmount>)> {
    let filter = TallyFilter { enterprise: Some(enterprise), from: Some(from), to: Some(to), ..Default::default() };
    let groups = db::tally(&state.db, Dimension::County, &filter, i64::MAX).await?;
    let adcodes: Vec<i32> = groups.iter().filter_map(|g| g.key.parse().ok()).collect();
    let names: std::collections::HashMap<i32, String> =
        regions::names_of(&state.db, &adcodes).await?.into_iter().collect();
    let amount = groups.iter().map(|g| g.amount_fen).sum();
    let qty = groups.iter().map(|g| g.qty).sum();
    let mut by_county: Vec<CountyAmount> = groups
        .into_iter()
        .filter_map(|g| {
            let county: i32 = g.key.parse().ok()?;
            Some(CountyAmount {
                county,
                name: names.get(&county).cloned().unwrap_or_default(),
                amount_fen: g.amount_fen,
            })
        })
        .collect();
    by_county.sort_by_key(|c| c.county);
    Ok((amount, qty, by_county))
}

/// Issues a certificate for a year (the owner or an approver): 422 `nothing_to_certify` when
/// the enterprise bought nothing that year, 422 naming `year` for a future year.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn issue(state: &AppState, member: &EnterpriseMember, year: Option<i32>) -> Result<CertificateIssued> {
    if !matches!(member.role, MemberRole::Owner | MemberRole::Approver) {
        return Err(AppError::forbidden("forbidden", msg!("certificate-issuers-only")));
    }
    let year = year_or_current(year)?;
    let today = shanghai_today();
    if year > today.year() {
        return Err(FieldErrors::single("year", msg!("year-to-come")));
    }
    let enterprise = accounts::find_organization(&state.db, member.enterprise_id).await?.ok_or(AppError::NotFound)?;
    let (period_from, period_to) = period(year, today);
    let (amount_fen, qty, by_county) = figures(state, member.enterprise_id, period_from, period_to).await?;
    if amount_fen <= 0 {
        return Err(AppError::Status {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            code: "nothing_to_certify",
            detail: msg!("nothing_to_certify", year = year),
        });
    }
    let code: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
    let row = CertificateRow {
        enterprise_id: member.enterprise_id,
        year,
        legal_name: enterprise.legal_name,
        uscc: enterprise.uscc,
        amount_fen,
        qty,
        by_county: Json(by_county),
        period_from,
        period_to,
        issued_at: Utc::now().trunc_subsecs(6),
    };
    let digest = sha256_hex(&[code.as_bytes()], 32);
    let mut tx = state.db.begin().await?;
    db::insert_certificate(&mut tx, &digest, &row, member.account_id).await?;
    let actor = Actor::Account { id: member.account_id, role: AccountRole::Enterprise };
    let entry = Entry::new(actor, "certificate.issue", "enterprise", member.enterprise_id).detail(json!({
        "year": year, "amount_fen": amount_fen, "code_sha256": digest,
        "period_from": period_from.to_string(), "period_to": period_to.to_string(),
    }));
    trail::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(CertificateIssued { code, year, amount_fen, issued_at: row.issued_at })
}

/// The certified figures under a code, and whether the enterprise's figures for the certified
/// period still equal them. Anything that is not a known code is 404.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn verify(state: &AppState, code: &str) -> Result<Certificate> {
    let code = code.to_ascii_lowercase();
    if code.len() != 32 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let row = db::find_certificate(&state.db, &sha256_hex(&[code.as_bytes()], 32)).await?.ok_or(AppError::NotFound)?;
    let (current_amount, current_qty, current_counties) =
        figures(state, row.enterprise_id, row.period_from, row.period_to).await?;
    let changed = current_amount != row.amount_fen || current_qty != row.qty || current_counties != row.by_county.0;
    Ok(Certificate {
        code,
        legal_name: row.legal_name,
        uscc: row.uscc,
        year: row.year,
        period_from: row.period_from,
        period_to: row.period_to,
        amount_fen: row.amount_fen,
        qty: row.qty,
        by_county: row.by_county.0,
        issued_at: row.issued_at,
        changed_since_issue: changed,
        current_amount_fen: current_amount,
    })
}

/// Yuan with two decimals and thousands separators, from fen.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", fen % 100)
}

/// Text for an HTML page: the five characters HTML gives meaning to, escaped.
fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The printable certificate: one A4 page (the county table is set small enough for every
/// Gansu county to fit).
pub fn printable(c: &Certificate) -> String {
    let rows: String = c
        .by_county
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">¥{}</td></tr>",
                r.county,
                html(&r.name),
                yuan(r.amount_fen)
            )
        })
        .collect();
    let warning = if c.changed_since_issue {
        format!(
            "<p class=\"warn\">注意：签发后发生退款，该期间当前金额为 ¥{}（Changed since issue by a later refund.）</p>",
            yuan(c.current_amount_fen)
        )
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>消费帮扶采购证明 {code}</title>
<style>
@page {{ size: A4; margin: 18mm; }}
body {{ font-family: "Noto Serif CJK SC", "Songti SC", serif; font-size: 10.5pt; margin: 0; }}
.page {{ max-height: 261mm; overflow: hidden; page-break-after: avoid; }}
h1 {{ text-align: center; font-size: 20pt; margin: 0 0 6mm; }}
table {{ border-collapse: collapse; width: 100%; font-size: 8pt; }}
td, th {{ border: 0.3pt solid #999; padding: 0.6mm 1.5mm; }}
.n {{ text-align: right; }}
.warn {{ color: #a00; font-weight: bold; }}
.code {{ font-family: monospace; font-size: 11pt; }}
</style></head>
<body><div class="page">
<h1>消费帮扶采购证明</h1>
<p>兹证明 <b>{name}</b>（统一社会信用代码 {uscc}）于 {from} 至 {to} 期间，通过本平台采购甘肃省帮扶产品，扣除退款后合计 <b>¥{amount}</b>（{qty} 件）。按产地县区明细如下：</p>
<table><thead><tr><th>县区代码</th><th>县区</th><th class="n">金额</th></tr></thead><tbody>{rows}</tbody></table>
{warning}
<p>签发时间：{issued} · 验证码：<span class="code">{code}</span></p>
<p>核验：GET /api/v1/certificates/{code}</p>
</div></body></html>
"#,
        code = html(&c.code),
        name = html(&c.legal_name),
        uscc = html(&c.uscc),
        from = c.period_from,
        to = c.period_to,
        amount = yuan(c.amount_fen),
        qty = c.qty,
        issued = c.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands_and_keeps_two_decimals() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(123_456_789), "1,234,567.89");
        assert_eq!(yuan(-100_000), "-1,000.00");
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(html(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn the_current_year_is_certified_up_to_today() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(period(2026, day(2026, 11, 27)), (day(2026, 1, 1), day(2026, 11, 27)));
        assert_eq!(period(2025, day(2026, 11, 27)), (day(2025, 1, 1), day(2025, 12, 31)));
    }
}
