//! The request bodies of the accounts area and their parsing into checked forms. Each parser
//! reports every bad field at once (422 with the field names) and returns the form whole.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{Email, MemberRole, OrgKind, OrgStatus, Password, Phone, Text, Uscc};
use crate::error::{AppError, FieldErrors};
use crate::regions::model::Adcode;
use crate::text::limits;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10 to 128 characters, and not one of the most common passwords.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub display_name: String,
    #[schema(pattern = r"^\+?[0-9](?:[ -]*[0-9]){6,14}[ -]*$")]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseOrgRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    legal_name: String,
    /// The unified social credit code; its last character must be the check character.
    #[schema(pattern = r"^[0-9A-HJ-NPQRTUWXY]{18}$")]
    uscc: String,
    /// A Tianjin district's code (see `GET /api/v1/regions`).
    #[schema(minimum = 100000, maximum = 999999)]
    #[serde(deserialize_with = "crate::http::whole::int")]
    district_adcode: i64,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    contact_name: String,
    #[schema(pattern = r"^\+?[0-9](?:[ -]*[0-9]){6,14}[ -]*$")]
    contact_phone: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    address: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerOrgRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    legal_name: String,
    /// The unified social credit code; its last character must be the check character.
    #[schema(pattern = r"^[0-9A-HJ-NPQRTUWXY]{18}$")]
    uscc: String,
    /// A Gansu county's code (see `GET /api/v1/regions?level=county`).
    #[schema(minimum = 100000, maximum = 999999)]
    #[serde(deserialize_with = "crate::http::whole::int")]
    county_adcode: i64,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    contact_name: String,
    #[schema(pattern = r"^\+?[0-9](?:[ -]*[0-9]){6,14}[ -]*$")]
    contact_phone: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    address: String,
    /// How the producer brings local farmers income (联农带农).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    farmer_linkage: String,
    /// How many farming households it works with.
    #[serde(deserialize_with = "crate::http::whole::int")]
    households: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseRegistration {
    #[serde(deserialize_with = "crate::http::shape::object")]
    organization: EnterpriseOrgRequest,
    #[serde(deserialize_with = "crate::http::shape::object")]
    owner: AccountRequest,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerRegistration {
    #[serde(deserialize_with = "crate::http::shape::object")]
    organization: ProducerOrgRequest,
    #[serde(deserialize_with = "crate::http::shape::object")]
    owner: AccountRequest,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The account's password now; a wrong one is 422 naming `current_password`.
    pub current_password: String,
    /// 10 to 128 characters, and not one of the most common passwords.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 10 to 128 characters, and not one of the most common passwords.
    #[schema(min_length = 10, max_length = 128)]
    password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    display_name: String,
    #[schema(pattern = r"^\+?[0-9](?:[ -]*[0-9]){6,14}[ -]*$")]
    phone: Option<String>,
    /// enterprise: purchaser | approver; producer: staff.
    #[serde(deserialize_with = "crate::http::shape::name")]
    pub role: MemberRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoleChange {
    #[serde(deserialize_with = "crate::http::shape::name")]
    pub role: MemberRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrganizationQuery {
    pub kind: Option<OrgKind>,
    pub status: Option<OrgStatus>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A person's account details, checked.
#[derive(Debug)]
pub struct AccountForm {
    pub email: Email,
    pub password: Password,
    pub display_name: Text,
    pub phone: Option<Phone>,
}

/// An organization's details, checked except for the region, which needs the database.
#[derive(Debug)]
pub struct OrganizationForm {
    pub kind: OrgKind,
    pub legal_name: Text,
    pub uscc: Uscc,
    pub region: Adcode,
    /// The request field the region came from, to name it in errors.
    pub region_field: &'static str,
    pub contact_name: Text,
    pub contact_phone: Phone,
    pub address: Text,
    pub farmer_linkage: Option<Text>,
    pub households: Option<i32>,
}

/// Checks account fields, recording problems under `prefix` (`owner.` for organizations).
fn account_form(r: &AccountRequest, prefix: &str, errors: &mut FieldErrors) -> Option<AccountForm> {
    let email = errors.check(&format!("{prefix}email"), Email::parse(&r.email));
    let password = errors.check(&format!("{prefix}password"), Password::parse(&r.password));
    let display_name = errors.check(&format!("{prefix}display_name"), Text::parse(&r.display_name, limits::NAME));
    let phone = r.phone.as_ref().map(|p| errors.check(&format!("{prefix}phone"), Phone::parse(p)));
    match (email, password, display_name, phone) {
        (Some(email), Some(password), Some(display_name), None) => {
            Some(AccountForm { email, password, display_name, phone: None })
        }
        (Some(email), Some(password), Some(display_name), Some(Some(phone))) => {
            Some(AccountForm { email, password, display_name, phone: Some(phone) })
        }
        _ => None,
    }
}

impl TryFrom<&AccountRequest> for AccountForm {
    type Error = AppError;

    fn try_from(r: &AccountRequest) -> Result<Self, AppError> {
        let mut errors = FieldErrors::new();
        match account_form(r, "", &mut errors) {
            Some(form) if errors.is_empty() => Ok(form),
            _ => Err(errors.into_error()),
        }
    }
}

/// A new member's account and role; the role is checked against the organization later.
impl TryFrom<&NewMember> for AccountForm {
    type Error = AppError;

    fn try_from(m: &NewMember) -> Result<Self, AppError> {
        let request = AccountRequest {
            email: m.email.clone(),
            password: m.password.clone(),
            display_name: m.display_name.clone(),
            phone: m.phone.clone(),
        };
        AccountForm::try_from(&request)
    }
}

/// The fields every organization has, checked under `organization.`.
struct CommonOrg<'a> {
    legal_name: &'a str,
    uscc: &'a str,
    contact_name: &'a str,
    contact_phone: &'a str,
    address: &'a str,
}

impl<'a> CommonOrg<'a> {
    fn of(legal_name: &'a str, uscc: &'a str, contact_name: &'a str, contact_phone: &'a str, address: &'a str) -> Self {
        Self { legal_name, uscc, contact_name, contact_phone, address }
    }
}

/// What only producers tell: how they bring farmers income, and how many households.
struct FarmerLinkage<'a> {
    statement: &'a str,
    households: i64,
}

/// Checks an organization registration in full, reporting every bad field at once.
fn registration(
    kind: OrgKind,
    common: CommonOrg<'_>,
    (region_field, region): (&'static str, i64),
    linkage: Option<FarmerLinkage<'_>>,
    owner: &AccountRequest,
) -> Result<(OrganizationForm, AccountForm), AppError> {
    let mut errors = FieldErrors::new();
    let legal_name = errors.check("organization.legal_name", Text::parse(common.legal_name, limits::ADDRESS));
    let uscc = errors.check("organization.uscc", Uscc::parse(common.uscc));
    let contact_name = errors.check("organization.contact_name", Text::parse(common.contact_name, limits::NAME));
    let contact_phone = errors.check("organization.contact_phone", Phone::parse(common.contact_phone));
    let address = errors.check("organization.address", Text::parse(common.address, limits::ADDRESS));
    let region = errors.check(&format!("organization.{region_field}"), Adcode::parse(region));
    let (farmer_linkage, households) = match linkage {
        None => (None, None),
        Some(l) => (
            errors.check("organization.farmer_linkage", Text::parse(l.statement, limits::LINKAGE)),
            errors.check(
                "organization.households",
                i32::try_from(l.households)
                    .ok()
                    .filter(|h| (0..=10_000_000).contains(h))
                    .ok_or_else(|| msg!("range", min = 0, max = 10_000_000)),
            ),
        ),
    };
    let owner = account_form(owner, "owner.", &mut errors);
    match (legal_name, uscc, contact_name, contact_phone, address, region, owner) {
        (
            Some(legal_name),
            Some(uscc),
            Some(contact_name),
            Some(contact_phone),
            Some(address),
            Some(region),
            Some(owner),
        ) if errors.is_empty() => {
            let org = OrganizationForm {
                kind,
                legal_name,
                uscc,
                region,
                region_field,
                contact_name,
                contact_phone,
                address,
                farmer_linkage,
                households,
            };
            Ok((org, owner))
        }
        _ => Err(errors.into_error()),
    }
}

impl TryFrom<&EnterpriseRegistration> for (OrganizationForm, AccountForm) {
    type Error = AppError;

    fn try_from(body: &EnterpriseRegistration) -> Result<Self, AppError> {
        let o = &body.organization;
        let common = CommonOrg::of(&o.legal_name, &o.uscc, &o.contact_name, &o.contact_phone, &o.address);
        registration(OrgKind::Enterprise, common, ("district_adcode", o.district_adcode), None, &body.owner)
    }
}

impl TryFrom<&ProducerRegistration> for (OrganizationForm, AccountForm) {
    type Error = AppError;

    fn try_from(body: &ProducerRegistration) -> Result<Self, AppError> {
        let o = &body.organization;
        let common = CommonOrg::of(&o.legal_name, &o.uscc, &o.contact_name, &o.contact_phone, &o.address);
        let linkage = FarmerLinkage { statement: &o.farmer_linkage, households: o.households };
        registration(OrgKind::Producer, common, ("county_adcode", o.county_adcode), Some(linkage), &body.owner)
    }
}
