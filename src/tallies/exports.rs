//! Exports of tallies and ledger rows as CSV and XLSX, for admins and auditors, over a range of
//! Asia/Shanghai calendar days of at most a year.
//!
//! - **CSV** streams from the database into the response: rows come in batches from
//!   `payments::ledger_rows` (ledger rows) or `engine::rows` (every group of a tally, largest
//!   amount first: an export has no top-N), and each batch is written into a buffer and sent as one chunk, so
//!   memory does not grow with the number of rows. The file starts with a UTF-8 byte order
//!   mark: Excel opens a CSV without one in the system's legacy code page (GBK on Chinese
//!   Windows) and garbles every name, while Excel, WPS, LibreOffice, Python's `utf-8-sig` and
//!   pandas all read it as UTF-8 with one.
//! - **XLSX** is written by rust_xlsxwriter in constant-memory mode (the current row in memory,
//!   the sheet's XML in a temporary file) on a blocking thread fed batch by batch, zipped into
//!   an anonymous temporary file (it has no name, so the system removes it when its last handle
//!   closes, whatever happens to the request), then streamed out in chunks.
//! - **Formulas**: text that a spreadsheet would read as a formula (a leading `=`, `+`, `-`, `@`,
//!   tab or CR) gets a `'` in front, in CSV and XLSX alike: XLSX text cells are never evaluated,
//!   but the prefix keeps what people see the same in both files. Numbers are written as
//!   numbers and never escaped; refund rows are negative.
//! - **Audit**: every export is appended to the audit log, in a transaction of its own, before
//!   the reply starts. A request that does not parse exports nothing and logs nothing.
//!
//! The reply starts as soon as the export is logged, so a long export is not cut by the request
//! timeout. An error after that (the database going away mid-export) can no longer change the
//! status: it is logged with the request id and the body is aborted, which a client sees as a
//! failed download, never as a complete-looking file.

use std::borrow::Cow;
use std::io::{BufWriter, Seek};

use anyhow::Context as _;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};
use rust_xlsxwriter::{Workbook, Worksheet};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use utoipa::IntoParams;
use uuid::Uuid;

use super::engine;
use super::model::{BuyerKind, Dimension, TallyFilter, TallyRow};
use crate::error::{AppError, FieldErrors, Result};
use crate::i18n::Msg;
use crate::identity::CurrentUser;
use crate::payments::{
    self,
    model::{LedgerSort, NamedLedgerRow},
};
use crate::state::AppState;
use crate::trail::{self, Entry};

/// The longest range an export covers, in days (a leap year).
pub const MAX_DAYS: i64 = 366;

/// The media type of XLSX files.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Data rows per worksheet: Excel's 1,048,576 rows less the header. A longer export goes on in
/// another worksheet ("ledger 2", ...), each with the header.
const SHEET_ROWS: u32 = 1_048_575;

/// What the XLSX side reads from the temporary file per chunk of the reply.
const FILE_CHUNK: usize = 64 * 1024;

/// `?group_by=&from=&to=&<dimension>=` of a tallies export: the filters of `GET /admin/tallies`,
/// and no `limit` (an export has every group).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TalliesExportQuery {
    /// What to group by. Required.
    #[param(inline, required = true)]
    pub group_by: Option<Dimension>,
    /// The first day, `YYYY-MM-DD` (Asia/Shanghai). Required.
    #[param(required = true, value_type = String, format = Date)]
    pub from: Option<String>,
    /// The last day, included, `YYYY-MM-DD` (Asia/Shanghai). Required; at most 366 days from
    /// `from`, counting both.
    #[param(required = true, value_type = String, format = Date)]
    pub to: Option<String>,
    pub buyer: Option<Uuid>,
    pub enterprise: Option<Uuid>,
    /// A Tianjin district's adcode.
    pub district: Option<i32>,
    #[param(inline)]
    pub buyer_kind: Option<BuyerKind>,
    pub producer: Option<Uuid>,
    pub product: Option<Uuid>,
    /// An origin county's adcode.
    pub county: Option<i32>,
    /// An origin prefecture's adcode.
    pub prefecture: Option<i32>,
    pub category: Option<i32>,
}

/// `?from=&to=&group_by=` of a ledger export.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerExportQuery {
    /// The first day, `YYYY-MM-DD` (Asia/Shanghai). Required.
    #[param(required = true, value_type = String, format = Date)]
    pub from: Option<String>,
    /// The last day, included, `YYYY-MM-DD` (Asia/Shanghai). Required; at most 366 days from
    /// `from`, counting both.
    #[param(required = true, value_type = String, format = Date)]
    pub to: Option<String>,
    /// Puts the rows of one group together (groups in the order of their ids or codes, rows by
    /// time within each); `day`, `month`, `year` and no `group_by` list rows by time.
    #[param(inline)]
    pub group_by: Option<Dimension>,
}

/// A checked range of Asia/Shanghai calendar days, both ends included, at most [`MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    /// Checks `from` and `to`, recording what is wrong with them under their names.
    pub fn parse(from: Option<&str>, to: Option<&str>, errors: &mut FieldErrors) -> Option<DayRange> {
        let from = errors.check("from", day(from));
        let to = errors.check("to", day(to));
        let (from, to) = (from?, to?);
        if to < from {
            errors.add("to", msg!("not-before", other = "from"));
            return None;
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            errors.add("to", msg!("range-too-long", max = MAX_DAYS));
            return None;
        }
        Some(DayRange { from, to })
    }

    /// The first instant of `from` and the first instant after `to`, in UTC.
    pub fn instants(self) -> (DateTime<Utc>, DateTime<Utc>) {
        (shanghai_midnight(self.from), shanghai_midnight(self.to + TimeDelta::days(1)))
    }

    /// `ledger_2026-01-01_2026-12-31.csv`
    fn filename(self, what: &str, format: Format) -> String {
        format!("{what}_{}_{}.{}", self.from, self.to, format.extension())
    }
}

fn day(value: Option<&str>) -> Result<NaiveDate, Msg> {
    match value.map(str::trim) {
        None | Some("") => Err(msg!("day-required")),
        Some(value) => NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| msg!("date-format")),
    }
}

/// 00:00 of `day` in Asia/Shanghai (UTC+8 all year: China has no daylight saving time).
fn shanghai_midnight(day: NaiveDate) -> DateTime<Utc> {
    (day.and_time(NaiveTime::MIN) - TimeDelta::hours(8)).and_utc()
}

/// The Asia/Shanghai calendar day of an instant.
fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    (at + TimeDelta::hours(8)).date_naive()
}

/// A tallies export, checked.
#[derive(Debug, Clone)]
pub struct TalliesExport {
    pub range: DayRange,
    pub group_by: Dimension,
    /// The range and the dimension filters.
    pub filter: TallyFilter,
}

impl TalliesExport {
    pub fn parse(q: &TalliesExportQuery) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), &mut errors);
        if q.group_by.is_none() {
            errors.add("group_by", msg!("group-by-required"));
        }
        match (range, q.group_by) {
            (Some(range), Some(group_by)) if errors.is_empty() => Ok(TalliesExport {
                range,
                group_by,
                filter: TallyFilter {
                    from: Some(range.from),
                    to: Some(range.to),
                    buyer: q.buyer,
                    enterprise: q.enterprise,
                    district: q.district,
                    buyer_kind: q.buyer_kind,
                    producer: q.producer,
                    product: q.product,
                    county: q.county,
                    prefecture: q.prefecture,
                    category: q.category,
                },
            }),
            _ => Err(errors.into_error()),
        }
    }

    /// The dimension filters that were given, for the audit entry.
    fn filters(&self) -> Value {
        let f = &self.filter;
        let given = [
            ("buyer", f.buyer.map(|v| json!(v))),
            ("enterprise", f.enterprise.map(|v| json!(v))),
            ("district", f.district.map(|v| json!(v))),
            ("buyer_kind", f.buyer_kind.map(|v| json!(v.as_str()))),
            ("producer", f.producer.map(|v| json!(v))),
            ("product", f.product.map(|v| json!(v))),
            ("county", f.county.map(|v| json!(v))),
            ("prefecture", f.prefecture.map(|v| json!(v))),
            ("category", f.category.map(|v| json!(v))),
        ];
        Value::Object(given.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
    }
}

/// A ledger export, checked.
#[derive(Debug, Clone, Copy)]
pub struct LedgerExport {
    pub range: DayRange,
    pub group_by: Option<Dimension>,
}

impl LedgerExport {
    pub fn parse(q: &LedgerExportQuery) -> Result<Self> {
        let mut errors = FieldErrors::new();
        match DayRange::parse(q.from.as_deref(), q.to.as_deref(), &mut errors) {
            Some(range) if errors.is_empty() => Ok(LedgerExport { range, group_by: q.group_by }),
            _ => Err(errors.into_error()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => XLSX,
        }
    }
}

/// A file to download: a body that streams, and a name that says what it holds.
pub struct Download {
    filename: String,
    format: Format,
    body: Body,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        let headers = [
            (header::CONTENT_TYPE, self.format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", self.filename)),
            // Ledger rows name buyers and amounts: no cache along the way keeps a copy.
            (header::CACHE_CONTROL, "no-store".to_string()),
        ];
        (headers, self.body).into_response()
    }
}

/// Every group of a tally over the range and filters, largest amount first, as a CSV or XLSX
/// download; the export is audit-logged before anything is sent.
#[tracing::instrument(level = "debug", skip(state, user), fields(user = %user.account_id))]
pub async fn tallies(state: &AppState, user: &CurrentUser, export: &TalliesExport, format: Format) -> Result<Download> {
    let filename = export.range.filename(&format!("tallies_{}", export.group_by.as_str()), format);
    let action = match format {
        Format::Csv => "export.tallies_csv",
        Format::Xlsx => "export.tallies_xlsx",
    };
    audit(state, user, action, &filename, detail(export.range, Some(export.group_by), export.filters())).await?;
    let rows = engine::rows(state, export.group_by, export.filter.clone());
    let body = match format {
        Format::Csv => csv_body(rows),
        Format::Xlsx => xlsx_body("tallies", rows),
    };
    Ok(Download { filename, format, body })
}

/// The ledger rows whose money moved in the range, as a CSV or XLSX download, in time order or
/// grouped; the export is audit-logged before anything is sent.
#[tracing::instrument(level = "debug", skip(state, user), fields(user = %user.account_id))]
pub async fn ledger(state: &AppState, user: &CurrentUser, export: &LedgerExport, format: Format) -> Result<Download> {
    let filename = export.range.filename("ledger", format);
    let action = match format {
        Format::Csv => "export.ledger_csv",
        Format::Xlsx => "export.ledger_xlsx",
    };
    audit(state, user, action, &filename, detail(export.range, export.group_by, json!({}))).await?;
    let (from, to) = export.range.instants();
    let rows = payments::ledger_rows(state, from, to, ledger_sort(export.group_by));
    let body = match format {
        Format::Csv => csv_body(rows),
        Format::Xlsx => xlsx_body("ledger", rows),
    };
    Ok(Download { filename, format, body })
}

/// What the audit entry of an export records: the range, the grouping and the filters.
fn detail(range: DayRange, group_by: Option<Dimension>, filters: Value) -> Value {
    json!({"from": range.from.to_string(), "to": range.to.to_string(), "group_by": group_by, "filters": filters})
}

/// Appends the export to the audit log in a short transaction of its own, before the reply.
async fn audit(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    filename: &str,
    detail: Value,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    trail::append(&mut tx, Entry::new(user, action, "export", filename).detail(detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// The order of ledger rows for a `group_by`: periods are time order already.
fn ledger_sort(group_by: Option<Dimension>) -> LedgerSort {
    match group_by {
        None | Some(Dimension::Day | Dimension::Month | Dimension::Year) => LedgerSort::Time,
        Some(Dimension::Buyer) => LedgerSort::Buyer,
        Some(Dimension::Enterprise) => LedgerSort::Enterprise,
        Some(Dimension::District) => LedgerSort::District,
        Some(Dimension::BuyerKind) => LedgerSort::BuyerKind,
        Some(Dimension::Producer) => LedgerSort::Producer,
        Some(Dimension::Product) => LedgerSort::Product,
        Some(Dimension::County) => LedgerSort::County,
        Some(Dimension::Prefecture) => LedgerSort::Prefecture,
        Some(Dimension::Category) => LedgerSort::Category,
    }
}

// ---- cells and records ------------------------------------------------------------------------

/// One cell of an export.
#[derive(Debug, Clone, PartialEq)]
enum Cell<'a> {
    /// Text, escaped when written (see [`escape`]).
    Text(Cow<'a, str>),
    /// A whole number (fen, units, codes): a number cell in XLSX, digits in CSV.
    Number(i64),
    Blank,
}

impl<'a> Cell<'a> {
    fn text(value: impl Into<Cow<'a, str>>) -> Self {
        Cell::Text(value.into())
    }

    fn id(id: Uuid) -> Self {
        Cell::Text(Cow::Owned(id.to_string()))
    }

    fn maybe<T>(value: Option<T>, cell: impl FnOnce(T) -> Cell<'a>) -> Self {
        value.map(cell).unwrap_or(Cell::Blank)
    }
}

/// `text` as a spreadsheet shows it and never evaluates it: a leading `=`, `+`, `-` or `@`
/// makes Excel, WPS, LibreOffice and Google Sheets read a cell as a formula, and a leading tab or
/// CR is how the same thing is smuggled past naive checks (OWASP "CSV injection"), so such text
/// gets a `'` in front, which spreadsheets show as text.
pub fn escape(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A row an export writes: the header, and the cells in the same order.
trait Record: Send + 'static {
    const HEADER: &'static [&'static str];

    fn cells(&self) -> Vec<Cell<'_>>;
}

/// RFC 3339 in UTC with microseconds as stored, as the JSON API writes times.
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The fields of `GET /admin/tallies` items. The key is text whatever the dimension (ids,
/// adcodes, `consumer`, periods): it names a group, it is not an amount.
impl Record for TallyRow {
    const HEADER: &'static [&'static str] = &["key", "name", "amount_fen", "qty", "orders", "buyers"];

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::text(self.key.as_str()),
            Cell::text(self.name.as_str()),
            Cell::Number(self.amount_fen),
            Cell::Number(self.qty),
            Cell::Number(self.orders),
            Cell::Number(self.buyers),
        ]
    }
}

/// Readable columns first (the day, the money, what was bought from whom, where it comes from,
/// who bought it), then the ids and codes that tie each row to the API.
impl Record for NamedLedgerRow {
    const HEADER: &'static [&'static str] = &[
        "day",
        "paid_at",
        "kind",
        "amount_fen",
        "qty",
        "product_title",
        "producer_name",
        "county_name",
        "prefecture_name",
        "category_name",
        "buyer_kind",
        "enterprise_name",
        "district_name",
        "order_id",
        "order_line_id",
        "payment_id",
        "refund_id",
        "buyer_id",
        "enterprise_id",
        "producer_id",
        "product_id",
        "origin_adcode",
        "prefecture_adcode",
        "district_adcode",
        "category_id",
        "id",
        "recorded_at",
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        let r = &self.row;
        vec![
            Cell::text(shanghai_day(r.paid_at).to_string()),
            Cell::text(instant(r.paid_at)),
            Cell::text(if r.refund_id.is_some() { "refund" } else { "payment" }),
            Cell::Number(r.amount_fen),
            Cell::Number(r.qty.into()),
            Cell::text(self.product_title.as_str()),
            Cell::text(self.producer_name.as_str()),
            Cell::text(self.county_name.as_str()),
            Cell::text(self.prefecture_name.as_str()),
            Cell::text(self.category_name.as_str()),
            Cell::text(r.buyer_kind.as_str()),
            Cell::maybe(self.enterprise_name.as_deref(), Cell::text),
            Cell::maybe(self.district_name.as_deref(), Cell::text),
            Cell::id(r.order_id),
            Cell::id(r.order_line_id),
            Cell::id(r.payment_id),
            Cell::maybe(r.refund_id, Cell::id),
            Cell::id(r.buyer_id),
            Cell::maybe(r.enterprise_id, Cell::id),
            Cell::id(r.producer_id),
            Cell::id(r.product_id),
            Cell::Number(r.origin_adcode.into()),
            Cell::Number(r.prefecture_adcode.into()),
            Cell::maybe(r.district_adcode, |c| Cell::Number(c.into())),
            Cell::Number(r.category_id.into()),
            Cell::id(r.id),
            Cell::text(instant(r.recorded_at)),
        ]
    }
}

// ---- CSV ----------------------------------------------------------------------------------------

/// The byte order mark that tells Excel the file is UTF-8.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// The BOM and the header, then one chunk per batch of rows.
fn csv_body<R: Record>(batches: impl Stream<Item = Result<Vec<R>>> + Send + 'static) -> Body {
    let mut writer = csv_writer(BOM.to_vec());
    let head = writer.write_record(R::HEADER).map_err(csv_error).and_then(|()| into_chunk(writer));
    let rows = batches.map(|batch| batch.and_then(|rows| csv_chunk(&rows)));
    body_of(futures_util::stream::once(async move { head }).chain(rows))
}

/// RFC 4180 records: CRLF at the end of each, quotes where needed.
fn csv_writer(buffer: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(buffer)
}

/// `rows` as CSV records, in one chunk.
fn csv_chunk<R: Record>(rows: &[R]) -> Result<Bytes> {
    let mut writer = csv_writer(Vec::with_capacity(rows.len() * 256));
    for row in rows {
        for cell in row.cells() {
            match cell {
                Cell::Text(text) => writer.write_field(escape(&text).as_bytes()),
                Cell::Number(n) => writer.write_field(n.to_string()),
                Cell::Blank => writer.write_field(""),
            }
            .map_err(csv_error)?;
        }
        writer.write_record(None::<&[u8]>).map_err(csv_error)?;
    }
    into_chunk(writer)
}

fn into_chunk(writer: csv::Writer<Vec<u8>>) -> Result<Bytes> {
    let buffer = writer.into_inner().map_err(|e| anyhow::Error::from(e.into_error()).context("writing CSV"))?;
    Ok(Bytes::from(buffer))
}

fn csv_error(error: csv::Error) -> AppError {
    anyhow::Error::from(error).context("writing CSV").into()
}

// ---- XLSX ---------------------------------------------------------------------------------------

/// The workbook, written on a blocking thread while the batches arrive, then the file in chunks.
fn xlsx_body<R: Record>(sheet: &'static str, batches: impl Stream<Item = Result<Vec<R>>> + Send + 'static) -> Body {
    let file = async move {
        let (tx, rx) = mpsc::channel(2);
        let writer = tokio::task::spawn_blocking(move || write_workbook::<R>(sheet, rx, SHEET_ROWS));
        let fed = feed(batches, tx).await;
        let written = writer.await.map_err(anyhow::Error::from)?;
        fed?;
        let file = tokio::fs::File::from_std(written.context("writing XLSX")?);
        Ok::<_, AppError>(file_chunks(file))
    };
    body_of(futures_util::stream::once(file).try_flatten())
}

/// Hands the batches to the workbook's thread, then `None`: the rows are done. Stops early when
/// that thread has stopped (its result says why). Without the `None` (an error here, or the
/// client gone and this future dropped) the thread gives up instead of zipping a partial file.
async fn feed<R>(batches: impl Stream<Item = Result<Vec<R>>>, tx: mpsc::Sender<Option<Vec<R>>>) -> Result<()> {
    let mut batches = std::pin::pin!(batches);
    while let Some(batch) = batches.next().await {
        if tx.send(Some(batch?)).await.is_err() {
            return Ok(());
        }
    }
    let _ = tx.send(None).await;
    Ok(())
}

/// Writes the rows it receives into a constant-memory workbook, `rows_per_sheet` rows to a
/// worksheet, and, once told the rows are done (`None`), zips it into an anonymous temporary
/// file, rewound for reading.
fn write_workbook<R: Record>(
    sheet: &str,
    mut batches: mpsc::Receiver<Option<Vec<R>>>,
    rows_per_sheet: u32,
) -> anyhow::Result<std::fs::File> {
    let mut workbook = Workbook::new();
    let mut sheets = 1;
    add_sheet::<R>(&mut workbook, sheet.to_string())?;
    let mut written = 0;
    loop {
        let Some(message) = batches.blocking_recv() else {
            anyhow::bail!("the rows stopped before their end: the export was abandoned");
        };
        let Some(batch) = message else { break };
        for record in &batch {
            if written == rows_per_sheet {
                sheets += 1;
                add_sheet::<R>(&mut workbook, format!("{sheet} {sheets}"))?;
                written = 0;
            }
            written += 1;
            write_row(workbook.worksheet_from_index(sheets - 1)?, written, record)?;
        }
    }
    let mut out = BufWriter::new(tempfile::tempfile()?);
    workbook.save_to_writer(&mut out)?;
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.rewind()?;
    Ok(file)
}

/// A constant-memory worksheet with the header in bold, kept in view when scrolling.
fn add_sheet<R: Record>(workbook: &mut Workbook, name: String) -> anyhow::Result<()> {
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let worksheet = workbook.add_worksheet_with_constant_memory()?;
    worksheet.set_name(name)?;
    for (col, title) in R::HEADER.iter().enumerate() {
        worksheet.write_string_with_format(0, col as u16, *title, &bold)?;
    }
    worksheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn write_row<R: Record>(worksheet: &mut Worksheet, row: u32, record: &R) -> anyhow::Result<()> {
    for (col, cell) in record.cells().into_iter().enumerate() {
        let col = col as u16;
        match cell {
            Cell::Text(text) => {
                worksheet.write_string(row, col, escape(&text))?;
            }
            // Fen, units and codes are far below 2^53: exact as the f64 that XLSX stores.
            Cell::Number(n) => {
                worksheet.write_number(row, col, n as f64)?;
            }
            Cell::Blank => {}
        }
    }
    Ok(())
}

/// The file, in chunks of [`FILE_CHUNK`]; it closes (and so disappears) when the stream ends or
/// is dropped.
fn file_chunks(file: tokio::fs::File) -> impl Stream<Item = Result<Bytes>> + Send {
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut chunk = vec![0; FILE_CHUNK];
        let n = file.read(&mut chunk).await.map_err(anyhow::Error::from)?;
        if n == 0 {
            return Ok(None);
        }
        chunk.truncate(n);
        Ok(Some((Bytes::from(chunk), file)))
    })
}

/// A body from chunks; an error after the reply started is logged (with the request's span)
/// and aborts the body.
fn body_of(chunks: impl Stream<Item = Result<Bytes>> + Send + 'static) -> Body {
    Body::from_stream(chunks.inspect_err(|error| {
        tracing::error!(?error, "an export failed after its reply started; the body is cut short");
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_a_spreadsheet_would_evaluate_gets_a_quote_and_other_text_does_not() {
        for formula in ["=HYPERLINK(\"http://x\")", "+1", "-1+2", "@SUM(1)", "\tx", "\rx"] {
            assert_eq!(escape(formula), format!("'{formula}"));
        }
        for plain in ["静宁苹果", "a=b", "1-2", "", " =1", "'=1"] {
            assert_eq!(escape(plain), plain);
        }
    }

    #[test]
    fn a_range_is_both_days_given_in_order_and_at_most_366_days() {
        let parse = |from: Option<&str>, to: Option<&str>| {
            let mut errors = FieldErrors::new();
            let range = DayRange::parse(from, to, &mut errors);
            (range, serde_json::to_value(&errors).unwrap())
        };
        let (range, _) = parse(Some("2024-01-01"), Some("2024-12-31"));
        assert_eq!(range.unwrap().to, NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), "a leap year is 366 days");
        let (range, errors) = parse(Some("2025-01-01"), Some("2026-01-02"));
        assert!(range.is_none());
        assert!(errors["to"][0].as_str().unwrap().contains("366"), "{errors}");
        let (_, errors) = parse(Some("2026-02-01"), Some("2026-01-31"));
        assert_eq!(errors["to"][0], "must not be before from");
        let (_, errors) = parse(None, Some("2026-13-01"));
        assert!(errors["from"][0].as_str().unwrap().starts_with("is required"));
        assert_eq!(errors["to"][0], "must be a date, YYYY-MM-DD");
    }

    #[test]
    fn a_range_runs_from_shanghai_midnight_to_the_midnight_after_its_last_day() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (from, to) = DayRange { from: day("2026-01-01"), to: day("2026-01-31") }.instants();
        assert_eq!(instant(from), "2025-12-31T16:00:00Z");
        assert_eq!(instant(to), "2026-01-31T16:00:00Z");
        assert_eq!(shanghai_day("2026-01-31T23:30:00Z".parse().unwrap()), day("2026-02-01"));
    }

    #[derive(Debug)]
    struct Pair(i64, &'static str);

    impl Record for Pair {
        const HEADER: &'static [&'static str] = &["n", "name"];

        fn cells(&self) -> Vec<Cell<'_>> {
            vec![Cell::Number(self.0), Cell::text(self.1)]
        }
    }

    #[test]
    fn csv_writes_numbers_as_they_are_and_escapes_text() {
        let chunk = csv_chunk(&[Pair(-120, "=1+2"), Pair(5, "静宁, \"红富士\"")]).unwrap();
        assert_eq!(std::str::from_utf8(&chunk).unwrap(), "-120,'=1+2\r\n5,\"静宁, \"\"红富士\"\"\"\r\n");
    }

    #[test]
    fn a_workbook_goes_on_in_a_new_worksheet_with_its_header_when_one_is_full() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Some((0..5).map(|i| Pair(i, "x")).collect())).unwrap();
        tx.try_send(None).unwrap();
        drop(tx);
        let file = write_workbook::<Pair>("rows", rx, 2).unwrap();
        let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::BufReader::new(file)).unwrap();
        use calamine::Reader;
        assert_eq!(workbook.sheet_names(), ["rows", "rows 2", "rows 3"]);
        let last = workbook.worksheet_range("rows 3").unwrap();
        assert_eq!(last.get_value((0, 0)), Some(&calamine::Data::String("n".into())));
        assert_eq!(last.get_value((1, 0)), Some(&calamine::Data::Float(4.0)));
    }

    #[test]
    fn rows_that_stop_before_their_end_make_no_workbook() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Some(vec![Pair(1, "x")])).unwrap();
        drop(tx);
        let error = write_workbook::<Pair>("rows", rx, 10).unwrap_err();
        assert!(error.to_string().contains("abandoned"), "{error}");
    }
}
