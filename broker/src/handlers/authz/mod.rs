//! Authorization on the request context: every handler asks `ctx.authorize(op, type, name)`
//! (or `is_authorized_quietly` where Kafka filters silently) as Kafka's KafkaApis does; the
//! decision is the node's authorizer's (`security/acl`), the principal and client address are
//! the request's. Denials are counted in `eddy_authorization_denials_total`; `errors::denied`
//! gives their Kafka error code.

use super::RequestContext;
use crate::security::acl::{CLUSTER_NAME, Operation, Requester, ResourceType};

impl RequestContext {
    /// The client's address as ACL host entries name it.
    fn client_host(&self) -> String {
        self.peer.ip().to_string()
    }

    /// Whether the request's principal may do `op` on resource `name` of type `rt`.
    pub fn authorize(&self, op: Operation, rt: ResourceType, name: &str) -> bool {
        if !self.node.authorizer.is_enabled() {
            // The common case: no allocation on the request path.
            return true;
        }
        let host = self.client_host();
        let allowed = self.node.authorizer.authorize(
            Requester {
                principal: &self.principal,
                host: &host,
            },
            op,
            rt,
            name,
        );
        if !allowed {
            self.count_denial(op, rt, name);
        }
        allowed
    }

    /// `authorize` on the cluster resource.
    pub fn authorize_cluster(&self, op: Operation) -> bool {
        self.authorize(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the principal may do `op` on some resource of type `rt` (InitProducerId's
    /// WRITE on any topic).
    pub fn authorize_any(&self, op: Operation, rt: ResourceType) -> bool {
        let host = self.client_host();
        let allowed = self.node.authorizer.authorize_any(
            Requester {
                principal: &self.principal,
                host: &host,
            },
            op,
            rt,
        );
        if !allowed {
            self.count_denial(op, rt, "*");
        }
        allowed
    }

    /// Whether the principal may `op` on `name`, without counting a denial.
    pub fn is_authorized_quietly(&self, op: Operation, rt: ResourceType, name: &str) -> bool {
        if !self.node.authorizer.is_enabled() {
            return true;
        }
        let host = self.client_host();
        self.node.authorizer.authorize(
            Requester {
                principal: &self.principal,
                host: &host,
            },
            op,
            rt,
            name,
        )
    }

    /// KIP-430's `authorized_operations` bit set of resource `name`.
    pub fn authorized_operations(&self, rt: ResourceType, name: &str) -> i32 {
        let host = self.client_host();
        self.node.authorizer.authorized_operations(
            Requester {
                principal: &self.principal,
                host: &host,
            },
            rt,
            name,
        )
    }

    fn count_denial(&self, op: Operation, rt: ResourceType, name: &str) {
        let op_name = op.to_string();
        let rt_name = rt.to_string();
        self.node
            .metrics
            .authorization_denials
            .with_label_values(&[rt_name.as_str(), op_name.as_str()])
            .inc();
        tracing::debug!(
            principal = %self.principal,
            host = %self.peer.ip(),
            operation = op_name,
            resource_type = rt_name,
            resource = name,
            api = ?self.api_key,
            "authorization denied"
        );
    }
}

#[cfg(test)]
mod tests;
