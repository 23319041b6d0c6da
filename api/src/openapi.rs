//! The OpenAPI 3.1 document, assembled from the handlers' `#[utoipa::path]` annotations.

use crate::routes::{
    accounts, alarms, audit, auth, billing, channels, cluster_metrics, clusters, kafka_users,
    plans, sla, topics,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API description served at `/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Eddy control plane", description = "Accounts, plans, Kafka clusters as operations, billing."),
    paths(
        auth::signup, auth::signin, auth::refresh, auth::accept_invitation,
        accounts::get_account, accounts::update_account, accounts::list_members, accounts::change_role,
        accounts::remove_member, accounts::list_invitations, accounts::invite, accounts::revoke_invitation,
        accounts::list_api_keys, accounts::create_api_key, accounts::revoke_api_key,
        plans::list_plans, plans::get_plan,
        clusters::list_clusters, clusters::create_cluster, clusters::get_cluster, clusters::update_cluster,
        clusters::resize_cluster, clusters::preview_resize, clusters::upgrade_cluster, clusters::restart_cluster, clusters::delete_cluster,
        clusters::connection, clusters::list_operations, clusters::get_operation,
        topics::list_topics, topics::create_topic, topics::update_topic, topics::delete_topic,
        kafka_users::list_users, kafka_users::create_user, kafka_users::get_user, kafka_users::rotate_password, kafka_users::get_certificate,
        kafka_users::put_acls, kafka_users::delete_user,
        cluster_metrics::cluster_metrics,
        billing::generate_invoice, billing::list_invoices, billing::get_invoice, billing::credit_note,
        audit::list_audit,
        channels::create_channel, channels::list_channels, channels::get_channel, channels::update_channel,
        channels::delete_channel, channels::test_channel, channels::delivery_log,
        alarms::create_rule, alarms::list_rules, alarms::get_rule, alarms::update_rule, alarms::delete_rule, alarms::list_alarms,
        sla::availability,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A JWT access token from /v1/auth/signin, or an API key (eddy_...).",
                    ))
                    .build(),
            ),
        );
    }
}
