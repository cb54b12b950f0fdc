//! One HTTP connection pool per thread for the AWS SDK clients.
//!
//! The SDK's default client shares one pool between every thread. A pooled connection is
//! driven by a task on the runtime of the thread that opened it, and actix-web runs one
//! single-threaded runtime per worker thread: a request handled on worker A that checks out
//! a connection opened on worker B (or at start-up, on the main thread) has its bytes written
//! and read by B, and two cross-thread wake-ups per call (measured: ~3.4 `write` syscalls and
//! ~5 `epoll_wait` per `GET /v1/videos/{id}`, and CPU time on threads the request never ran
//! on; docs/benchmarks.md §6). Here each thread opens and reuses its own connections, so a
//! call is sent and answered on the thread that awaits it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_http_client::{Builder, tls};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's clients, by the [`PerThreadHttpClient`] they stand for.
    static CLIENTS: RefCell<HashMap<u64, SharedHttpClient>> = RefCell::new(HashMap::new());
}

/// An SDK HTTP client whose connections belong to the thread that uses them.
#[derive(Debug)]
pub struct PerThreadHttpClient {
    id: u64,
}

impl PerThreadHttpClient {
    pub fn shared() -> SharedHttpClient {
        SharedHttpClient::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }
}

/// What `default-https-client` builds: hyper 1 with rustls on aws-lc.
fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

impl HttpClient for PerThreadHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // Called from the task that makes the call, so on its thread.
        self.on_this_thread().http_connector(settings, components)
    }
}

impl PerThreadHttpClient {
    fn on_this_thread(&self) -> SharedHttpClient {
        CLIENTS.with(|clients| {
            clients
                .borrow_mut()
                .entry(self.id)
                .or_insert_with(https_client)
                .clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made_on_this_thread(id: u64) -> bool {
        CLIENTS.with(|c| c.borrow().contains_key(&id))
    }

    #[test]
    fn each_thread_makes_its_own_client_once() {
        let client = PerThreadHttpClient {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        let other = PerThreadHttpClient {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        assert!(!made_on_this_thread(client.id));
        let _ = client.on_this_thread();
        assert!(made_on_this_thread(client.id));
        assert!(!made_on_this_thread(other.id), "one per client");
        let _ = client.on_this_thread();
        assert_eq!(CLIENTS.with(|c| c.borrow().len()), 1, "kept, not remade");
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    !made_on_this_thread(client.id),
                    "not shared between threads"
                );
                let _ = client.on_this_thread();
                assert!(made_on_this_thread(client.id));
            });
        });
    }
}
