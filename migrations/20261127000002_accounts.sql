-- Accounts sign in; organizations (enterprises in Tianjin, producers in Gansu) own member accounts.
create table accounts (
    id uuid primary key,
    email text not null,
    password_hash text not null,
    display_name text not null,
    phone text,
    -- consumer | enterprise | producer: self-service; admin | auditor: created from the command line.
    role text not null check (role in ('consumer', 'enterprise', 'producer', 'admin', 'auditor')),
    -- disabled: removed from its organization; it can no longer sign in.
    status text not null default 'active' check (status in ('active', 'disabled')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint accounts_email_key unique (email),
    constraint accounts_email_lowercase check (email = lower(email))
);

create table organizations (
    id uuid primary key,
    kind text not null check (kind in ('enterprise', 'producer')),
    legal_name text not null,
    uscc text not null,
    -- Tianjin district for enterprises, Gansu county for producers (checked by the application
    -- against the regions table, since the rule depends on kind).
    region_adcode integer not null references regions (adcode),
    contact_name text not null,
    contact_phone text not null,
    address text not null,
    farmer_linkage text,
    households integer check (households >= 0),
    status text not null default 'pending'
        check (status in ('pending', 'verified', 'rejected', 'suspended')),
    status_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint organizations_uscc_key unique (uscc),
    constraint organizations_producer_linkage check (
        kind <> 'producer' or (farmer_linkage is not null and households is not null)
    )
);

create index organizations_kind_status_idx on organizations (kind, status, id);

-- An account belongs to at most one organization; the owner is the account that registered it.
create table memberships (
    organization_id uuid not null references organizations (id),
    account_id uuid not null references accounts (id),
    role text not null check (role in ('owner', 'purchaser', 'approver', 'staff')),
    created_at timestamptz not null default now(),
    primary key (organization_id, account_id),
    constraint memberships_account_key unique (account_id)
);

create unique index memberships_one_owner_idx on memberships (organization_id) where role = 'owner';

-- Every admin decision on an organization, with who made it and why. Never updated or deleted.
create table organization_reviews (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    admin_id uuid not null references accounts (id),
    from_status text not null,
    to_status text not null,
    reason text,
    created_at timestamptz not null default now()
);

create index organization_reviews_org_idx on organization_reviews (organization_id, created_at);
