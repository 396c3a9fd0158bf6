//! The accounts area's SQL: accounts, organizations, memberships, organization reviews.

use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{Account, AccountRole, Member, MemberRole, Membership, OrgKind, OrgStatus, Organization};

/// `sqlx::query_as!` into [`Organization`]: the SQL before and after the column list, then the
/// arguments. One place lists the columns (with the enum overrides the macros need).
macro_rules! query_organization {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Organization,
            $before
                + r#"id, kind as "kind: OrgKind", legal_name, uscc, region_adcode, contact_name,
                     contact_phone, address, farmer_linkage, households, status as "status: OrgStatus",
                     status_reason, created_at, updated_at"#
                + $after
            $(, $arg)*
        )
    };
}

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    pub phone: Option<&'a str>,
    pub role: AccountRole,
}

pub struct NewOrganization<'a> {
    pub kind: OrgKind,
    pub legal_name: &'a str,
    pub uscc: &'a str,
    pub region_adcode: i32,
    pub contact_name: &'a str,
    pub contact_phone: &'a str,
    pub address: &'a str,
    pub farmer_linkage: Option<&'a str>,
    pub households: Option<i32>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_account(db: impl PgExecutor<'_>, new: &NewAccount<'_>) -> sqlx::Result<Account> {
    sqlx::query_as!(
        Account,
        r#"
        insert into accounts (id, email, password_hash, display_name, phone, role)
        values ($1, $2, $3, $4, $5, $6)
        returning id, email, display_name, phone, role as "role: AccountRole", created_at
        "#,
        Uuid::now_v7(),
        new.email,
        new.password_hash,
        new.display_name,
        new.phone,
        new.role as _,
    )
    .fetch_one(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_organization(db: impl PgExecutor<'_>, new: &NewOrganization<'_>) -> sqlx::Result<Organization> {
    query_organization!(
        r#"
        insert into organizations (id, kind, legal_name, uscc, region_adcode, contact_name,
                                   contact_phone, address, farmer_linkage, households)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        returning "#,
        "",
        Uuid::now_v7(),
        new.kind.as_str(),
        new.legal_name,
        new.uscc,
        new.region_adcode,
        new.contact_name,
        new.contact_phone,
        new.address,
        new.farmer_linkage,
        new.households,
    )
    .fetch_one(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn insert_membership(
    db: impl PgExecutor<'_>,
    organization_id: Uuid,
    account_id: Uuid,
    role: MemberRole,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into memberships (organization_id, account_id, role) values ($1, $2, $3)"#,
        organization_id,
        account_id,
        role as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What login needs to know about an email: id, hash, role and whether it may sign in.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: AccountRole,
    pub status: String,
}

/// Whether an account has this email and an organization this USCC: what the unique
/// constraints would refuse, asked before a password is hashed for nothing.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn taken(db: impl PgExecutor<'_>, email: &str, uscc: Option<&str>) -> sqlx::Result<(bool, bool)> {
    let row = sqlx::query!(
        r#"
        select exists (select 1 from accounts where email = $1) as "email!",
               exists (select 1 from organizations where uscc = $2) as "uscc!"
        "#,
        email,
        uscc
    )
    .fetch_one(db)
    .await?;
    Ok((row.email, row.uscc))
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_credentials_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select id, email, password_hash, role as "role: AccountRole", status from accounts where email = $1"#,
        email,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_credentials_by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select id, email, password_hash, role as "role: AccountRole", status from accounts where id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_account(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        r#"
        select id, email, display_name, phone, role as "role: AccountRole", created_at
        from accounts where id = $1 and status = 'active'
        "#,
        id,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn memberships_of(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<Vec<Membership>> {
    sqlx::query_as!(
        Membership,
        r#"
        select m.organization_id, o.kind as "kind: OrgKind", m.role as "role: MemberRole",
               o.status as "organization_status: OrgStatus"
        from memberships m join organizations o on o.id = m.organization_id
        where m.account_id = $1
        "#,
        account_id,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn update_password(db: impl PgExecutor<'_>, account_id: Uuid, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update accounts set password_hash = $2, updated_at = now() where id = $1"#,
        account_id,
        password_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_organization(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Organization>> {
    query_organization!("select ", " from organizations where id = $1", id).fetch_optional(db).await
}

/// The organization, locked until the transaction ends, so that status changes serialize.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_organization(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<Organization>> {
    query_organization!("select ", " from organizations where id = $1 for update", id).fetch_optional(&mut **tx).await
}

/// The organization's status, with the row share-locked until the transaction ends: a status
/// change (which locks it `for update`) waits for the transaction, or the transaction waits
/// for the change and then reads the new status.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn share_lock_status(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<OrgStatus>> {
    sqlx::query_scalar!(r#"select status as "status: OrgStatus" from organizations where id = $1 for share"#, id)
        .fetch_optional(&mut **tx)
        .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn membership_role(
    db: impl PgExecutor<'_>,
    organization_id: Uuid,
    account_id: Uuid,
) -> sqlx::Result<Option<MemberRole>> {
    sqlx::query_scalar!(
        r#"select role as "role: MemberRole" from memberships where organization_id = $1 and account_id = $2"#,
        organization_id,
        account_id,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_members(db: impl PgExecutor<'_>, organization_id: Uuid) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as!(
        Member,
        r#"
        select a.id as account_id, a.email, a.display_name, m.role as "role: MemberRole",
               m.created_at as joined_at
        from memberships m join accounts a on a.id = m.account_id
        where m.organization_id = $1
        order by m.created_at, a.id
        "#,
        organization_id,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_member(
    db: impl PgExecutor<'_>,
    organization_id: Uuid,
    account_id: Uuid,
) -> sqlx::Result<Option<Member>> {
    sqlx::query_as!(
        Member,
        r#"
        select a.id as account_id, a.email, a.display_name, m.role as "role: MemberRole",
               m.created_at as joined_at
        from memberships m join accounts a on a.id = m.account_id
        where m.organization_id = $1 and m.account_id = $2
        "#,
        organization_id,
        account_id,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn update_member_role(
    db: impl PgExecutor<'_>,
    organization_id: Uuid,
    account_id: Uuid,
    role: MemberRole,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update memberships set role = $3 where organization_id = $1 and account_id = $2"#,
        organization_id,
        account_id,
        role as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn delete_membership(db: impl PgExecutor<'_>, organization_id: Uuid, account_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"delete from memberships where organization_id = $1 and account_id = $2"#,
        organization_id,
        account_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A removed member's account can no longer sign in; it stays for the record (and its email
/// stays taken) because orders and audit entries will point at it.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn disable_account(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(r#"update accounts set status = 'disabled', updated_at = now() where id = $1"#, account_id)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn member_account_ids(db: impl PgExecutor<'_>, organization_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(r#"select account_id from memberships where organization_id = $1"#, organization_id)
        .fetch_all(db)
        .await
}

/// One page of organizations in id (creation) order, after the cursor's id.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_organizations(
    db: impl PgExecutor<'_>,
    kind: Option<OrgKind>,
    status: Option<OrgStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Organization>> {
    query_organization!(
        "select ",
        r#"
        from organizations
        where ($1::text is null or kind = $1)
          and ($2::text is null or status = $2)
          and ($3::uuid is null or id > $3)
        order by id
        limit $4
        "#,
        kind.map(OrgKind::as_str),
        status.map(OrgStatus::as_str),
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_organization_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: OrgStatus,
    reason: Option<&str>,
) -> sqlx::Result<Organization> {
    query_organization!(
        r#"
        update organizations set status = $2, status_reason = $3, updated_at = now()
        where id = $1
        returning "#,
        "",
        id,
        status.as_str(),
        reason,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn insert_review(
    tx: &mut Transaction<'_, Postgres>,
    organization_id: Uuid,
    admin_id: Uuid,
    from: OrgStatus,
    to: OrgStatus,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into organization_reviews (id, organization_id, admin_id, from_status, to_status, reason)
        values ($1, $2, $3, $4, $5, $6)
        "#,
        Uuid::now_v7(),
        organization_id,
        admin_id,
        from.as_str(),
        to.as_str(),
        reason,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn display_names(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(r#"select id, display_name from accounts where id = any($1)"#, ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.display_name)).collect())
}

pub async fn legal_names(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows =
        sqlx::query!(r#"select id, legal_name from organizations where id = any($1)"#, ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.legal_name)).collect())
}

/// Consumer accounts in one statement (the ledger seed's shoppers), all with one password hash.
#[tracing::instrument(level = "debug", skip_all, fields(rows = emails.len()))]
pub async fn bulk_insert_consumers(
    db: impl PgExecutor<'_>,
    emails: &[String],
    names: &[String],
    password_hash: &str,
) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = emails.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        r#"
        insert into accounts (id, email, password_hash, display_name, role)
        select id, email, $4, name, 'consumer' from unnest($1::uuid[], $2::text[], $3::text[]) as t(id, email, name)
        "#,
        &ids,
        emails,
        names,
        password_hash,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Active consumer accounts, oldest first: who the ledger seed's consumer orders are from.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn consumer_ids(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(r#"select id from accounts where role = 'consumer' and status = 'active' order by id"#)
        .fetch_all(db)
        .await
}

/// A verified enterprise that can buy: its owner places the seeded orders, and its district is
/// what the ledger snapshots.
#[derive(Debug, Clone)]
pub struct EnterpriseBuyer {
    pub organization_id: Uuid,
    pub owner_id: Uuid,
    pub district_adcode: i32,
}

/// Verified enterprises with their owners, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn enterprise_buyers(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<EnterpriseBuyer>> {
    sqlx::query_as!(
        EnterpriseBuyer,
        r#"
        select o.id as organization_id, m.account_id as owner_id, o.region_adcode as district_adcode
        from organizations o join memberships m on m.organization_id = o.id and m.role = 'owner'
        where o.kind = 'enterprise' and o.status = 'verified'
        order by o.id
        "#
    )
    .fetch_all(db)
    .await
}

/// The first admin account, who the seeded bank transfers and refunds are attributed to.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn first_admin(db: impl PgExecutor<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(r#"select id from accounts where role = 'admin' and status = 'active' order by id limit 1"#)
        .fetch_optional(db)
        .await
}
