use serde::Serialize;
use utoipa::ToSchema;

use crate::i18n::Msg;

/// A six-digit GB/T 2260 division code. Parsing only checks the shape; whether the code
/// names a real division of the right kind is asked of the regions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct Adcode(i32);

impl Adcode {
    pub fn parse(value: i64) -> Result<Self, Msg> {
        if (100_000..=999_999).contains(&value) { Ok(Self(value as i32)) } else { Err(msg!("adcode-shape")) }
    }

    pub fn get(self) -> i32 {
        self.0
    }

    /// The province this division belongs to (first two digits).
    pub fn province(self) -> i32 {
        self.0 / 10_000 * 10_000
    }
}

/// Gansu's province code: producers must sit in one of its counties.
pub const GANSU: i32 = 620_000;
/// Tianjin's province-level code: enterprises must sit in one of its districts.
pub const TIANJIN: i32 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    Prefecture,
    County,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Prefecture => "prefecture",
            Level::County => "county",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Region {
    pub adcode: i32,
    pub name: String,
    /// province | prefecture | county (Tianjin's districts are counties here).
    pub level: String,
    pub parent_adcode: Option<i32>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
}
