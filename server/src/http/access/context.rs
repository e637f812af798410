//! Where a request came from, for the audit trail.

use actix_web::{HttpMessage, HttpRequest, web};
use vigil_store::audit::{AuditEvent, Outcome};

use crate::http::proxies::TrustedProxies;
use crate::http::request_id::RequestId;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The client's IP address: the peer's, or what a trusted proxy says (`server.trusted_proxies`).
    pub source_address: Option<String>,
}

impl RequestContext {
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            request_id: req.extensions().get::<RequestId>().map(|id| id.as_str().to_owned()).unwrap_or_default(),
            source_address: match req.app_data::<web::Data<TrustedProxies>>() {
                Some(proxies) => proxies.client_address(req),
                None => req.peer_addr().map(|a| a.ip()),
            }
            .map(|a| a.to_string()),
        }
    }
}

impl RequestContext {
    /// An audit event of this request: who did what and how it ended, with where it came from.
    pub fn event(
        &self,
        actor: impl Into<String>,
        role: impl Into<String>,
        action: &str,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent {
            source_address: self.source_address.clone(),
            request_id: Some(self.request_id.clone()),
            ..AuditEvent::new(actor, role, action, outcome)
        }
    }
}
