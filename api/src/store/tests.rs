//! Unit tests of the storage layer on an SQLite file: rows decode through their `FromRow`
//! derives, and database failures are classified here rather than in the routes.

use super::*;
use crate::domain::roles::Role;

async fn fresh() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url).await.expect("connect");
    (dir, db)
}

fn user(id: &str, email: &str) -> accounts::User {
    accounts::User {
        id: id.into(),
        email: email.into(),
        name: "N".into(),
        password_hash: "h".into(),
    }
}

#[tokio::test]
async fn rows_decode_into_the_domain_types() {
    let (_dir, db) = fresh().await;
    let mut c = db.pool.acquire().await.expect("acquire");
    accounts::insert_user(&mut c, &user("u1", "a@x"), 7)
        .await
        .expect("user");
    accounts::insert_account(&mut c, "a1", "Acme", 7)
        .await
        .expect("account");
    accounts::upsert_membership(&mut c, "a1", "u1", Role::Admin, 8)
        .await
        .expect("membership");
    let found = accounts::user_by_email(&mut c, "a@x")
        .await
        .expect("query")
        .expect("found");
    assert_eq!((found.id.as_str(), found.name.as_str()), ("u1", "N"));
    let account = accounts::account_by_id(&mut c, "a1")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(
        (account.payment_terms.as_str(), account.po_number),
        ("card", None)
    );
    let members = accounts::members(&mut c, "a1").await.expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].role, members[0].created_at), (Role::Admin, 8));
    assert_eq!(
        accounts::membership_role(&mut c, "a1", "u1")
            .await
            .expect("role"),
        Some(Role::Admin)
    );
    assert_eq!(
        accounts::first_account_of(&mut c, "u1")
            .await
            .expect("first"),
        Some("a1".to_string())
    );
    assert_eq!(accounts::owner_count(&mut c, "a1").await.expect("count"), 0);
}

#[tokio::test]
async fn a_duplicate_row_is_a_conflict() {
    let (_dir, db) = fresh().await;
    let mut c = db.pool.acquire().await.expect("acquire");
    accounts::insert_signing_key(&mut c, "k1", "s", 1)
        .await
        .expect("first");
    let again = accounts::insert_signing_key(&mut c, "k1", "s", 2).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    accounts::insert_user(&mut c, &user("u1", "a@x"), 1)
        .await
        .expect("user");
    let same_email = accounts::insert_user(&mut c, &user("u2", "a@x"), 1).await;
    assert!(
        matches!(same_email, Err(StoreError::Conflict(_))),
        "{same_email:?}"
    );
}

#[tokio::test]
async fn a_row_referring_to_nothing_is_an_invalid_write() {
    let (_dir, db) = fresh().await;
    let mut c = db.pool.acquire().await.expect("acquire");
    let orphan = accounts::upsert_membership(&mut c, "no-account", "no-user", Role::Owner, 1).await;
    assert!(matches!(orphan, Err(StoreError::Invalid(_))), "{orphan:?}");
}

#[tokio::test]
async fn an_unknown_stored_name_is_corrupt_not_a_panic() {
    let (_dir, db) = fresh().await;
    let mut c = db.pool.acquire().await.expect("acquire");
    accounts::insert_user(&mut c, &user("u1", "a@x"), 1)
        .await
        .expect("user");
    accounts::insert_account(&mut c, "a1", "Acme", 1)
        .await
        .expect("account");
    sqlx::query("INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ('a1', 'u1', 'emperor', 1)")
        .execute(&mut *c)
        .await
        .expect("raw insert");
    let members = accounts::members(&mut c, "a1").await;
    assert!(
        matches!(&members, Err(StoreError::Corrupt { detail, .. }) if detail.contains("emperor")),
        "{members:?}"
    );
    let role = accounts::membership_role(&mut c, "a1", "u1").await;
    assert!(matches!(role, Err(StoreError::Corrupt { .. })), "{role:?}");
}

#[tokio::test]
async fn kafka_users_round_trip_without_a_password_column() {
    use crate::domain::operations::ClusterState;
    use crate::domain::security::Mechanism;
    let (_dir, db) = fresh().await;
    let catalog =
        crate::domain::plans::Catalog::parse(crate::app::BUILTIN_CATALOG).expect("catalog");
    plans::seed(&db.pool, &catalog, 1).await.expect("plans");
    let mut c = db.pool.acquire().await.expect("acquire");
    accounts::insert_account(&mut c, "a1", "Acme", 1)
        .await
        .expect("account");
    let k = clusters::Cluster {
        id: "c1".into(),
        account_id: "a1".into(),
        name: "orders".into(),
        resource_name: "orders-1".into(),
        plan_id: "shared-small".into(),
        region: "local".into(),
        namespace: "ns".into(),
        version: "0.1.0".into(),
        storage_gb: 5,
        state: ClusterState::Active,
        deletion_protection: false,
        revision: 1,
        generation: None,
        bootstrap: None,
        idempotency_key: None,
        request_fingerprint: None,
        created_by: "t".into(),
        created_at: 1,
        updated_at: 1,
    };
    clusters::insert(&mut c, &k).await.expect("cluster");
    let acl = serde_json::from_value(serde_json::json!(
        {"resource_type": "topic", "resource_name": "t", "operations": ["Read"]}
    ))
    .expect("acl");
    let mut u = kafka_users::KafkaUser {
        id: "u1".into(),
        cluster_id: "c1".into(),
        name: "alice".into(),
        resource_name: "orders-1-u-1".into(),
        secret_name: Some("orders-1-u-1-password".into()),
        mechanism: Mechanism::ScramSha256,
        acls: vec![acl],
        revision: 1,
        credential_revision: 1,
        idempotency_key: Some("key".into()),
        request_fingerprint: Some("fp".into()),
        created_by: "t".into(),
        created_at: 2,
        updated_at: 2,
    };
    kafka_users::insert(&mut c, &u).await.expect("insert");
    let got = kafka_users::get(&mut c, "c1", "alice")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, u);
    assert_eq!(
        kafka_users::by_idempotency_key(&mut c, "c1", "key")
            .await
            .expect("by key"),
        Some(u.clone())
    );
    let dup = kafka_users::insert(&mut c, &u).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // Optimistic concurrency: a write at a stale revision changes nothing.
    u.acls.clear();
    u.credential_revision = 2;
    assert!(
        kafka_users::update_if(&mut c, &u, 1, 3)
            .await
            .expect("update")
    );
    assert!(
        !kafka_users::update_if(&mut c, &u, 1, 4)
            .await
            .expect("stale")
    );
    let got = kafka_users::list(&mut c, "c1").await.expect("list");
    assert_eq!(
        (
            got[0].revision,
            got[0].credential_revision,
            got[0].acls.len()
        ),
        (2, 2, 0)
    );
    // No column could hold a password.
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('kafka_users')")
        .fetch_all(&mut *c)
        .await
        .expect("columns")
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, "name"))
        .collect();
    assert!(
        columns.iter().all(|n| !n.contains("password")),
        "{columns:?}"
    );
    assert!(kafka_users::delete(&mut c, "u1").await.expect("delete"));
    assert!(
        kafka_users::list(&mut c, "c1")
            .await
            .expect("list")
            .is_empty()
    );
}
