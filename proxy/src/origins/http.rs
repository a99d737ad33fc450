//! The `http` origin: one or more upstream servers behind pingora-load-balancing, with
//! optional active health checks and failover to the next healthy server.

use std::net::SocketAddr;
use std::sync::Arc;

use pingora::lb::health_check::{
    HealthCheck as PingoraHealthCheck, HttpHealthCheck, TcpHealthCheck,
};
use pingora::lb::selection::{Consistent, RoundRobin};
use pingora::lb::{Backend, LoadBalancer};
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::upstreams::peer::HttpPeer;

use tokio::sync::watch;

use super::HealthChecks;
use crate::config::{Balance, HealthCheckKind, HttpOrigin};

/// Why no upstream server could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Every server is marked down by health checks, or was already tried for this request.
    #[error("origin \"{0}\": no healthy server left to try")]
    NoHealthyServer(String),
}

enum Balancer {
    RoundRobin(Arc<LoadBalancer<RoundRobin>>),
    Consistent(Arc<LoadBalancer<Consistent>>),
}

/// An `http` origin ready to pick servers. A reload that leaves the origin's settings unchanged
/// carries it over, so the health its checks have learned is kept (a server known to be down is
/// not tried again because the configuration changed elsewhere).
pub struct HttpUpstream {
    name: String,
    config: HttpOrigin,
    balancer: Balancer,
    /// The active health checks, if configured.
    checks: Option<HealthChecks>,
    /// The one server of an origin that has one and no health checks: nothing to choose, so no
    /// trip through the balancer (a hash of the server's identity and a readiness lookup per
    /// request).
    only: Option<PeerAddr>,
    /// Set once the checks run; they end when the upstream is dropped.
    checking: std::sync::OnceLock<watch::Sender<bool>>,
}

/// Upper bound on servers visited per selection (pingora's selectors need one).
const MAX_SELECTION_STEPS: usize = 256;

impl HttpUpstream {
    /// Builds the balancer; health checks start with [`HttpUpstream::start_health_checks`].
    pub fn new(name: &str, config: &HttpOrigin) -> std::io::Result<Self> {
        /// `e`, a failure to resolve the servers, naming the first one that does not resolve
        /// (looked up again: only a start or reload that fails pays for it).
        fn unresolved(config: &HttpOrigin, e: std::io::Error) -> std::io::Error {
            use std::net::ToSocketAddrs;
            match config.servers.iter().find(|s| s.to_socket_addrs().is_err()) {
                Some(server) => std::io::Error::new(
                    e.kind(),
                    format!("servers: {server:?} does not resolve: {e}"),
                ),
                None => e,
            }
        }
        fn setup<S>(
            config: &HttpOrigin,
        ) -> std::io::Result<(Arc<LoadBalancer<S>>, Option<HealthChecks>)>
        where
            S: pingora::lb::selection::BackendSelection + Send + Sync + 'static,
            S::Iter: pingora::lb::selection::BackendIter,
        {
            let mut lb =
                LoadBalancer::<S>::try_from_iter(config.servers.iter().map(String::as_str))
                    .map_err(|e| unresolved(config, e))?;
            let Some(hc) = &config.health_check else {
                return Ok((Arc::new(lb), None));
            };
            lb.set_health_check(health_check(config, &hc.kind));
            lb.health_check_frequency = Some(hc.interval);
            lb.parallel_health_check = true;
            let lb = Arc::new(lb);
            Ok((lb.clone(), Some(lb)))
        }
        let (balancer, checks) = match config.balance {
            Balance::RoundRobin => {
                let (lb, s) = setup::<RoundRobin>(config)?;
                (Balancer::RoundRobin(lb), s)
            }
            Balance::ConsistentHash => {
                let (lb, s) = setup::<Consistent>(config)?;
                (Balancer::Consistent(lb), s)
            }
        };
        let backends = match &balancer {
            Balancer::RoundRobin(lb) => lb.backends().get_backend(),
            Balancer::Consistent(lb) => lb.backends().get_backend(),
        };
        let only = match (backends.len(), &checks) {
            (1, None) => backends.first().map(|b| b.addr.clone()),
            _ => None,
        };
        Ok(HttpUpstream {
            name: name.to_string(),
            config: config.clone(),
            balancer,
            checks,
            only,
            checking: std::sync::OnceLock::new(),
        })
    }

    /// Starts the health checks on the current Tokio runtime, once; they run until the upstream
    /// is dropped.
    pub fn start_health_checks(&self) {
        let Some(checks) = &self.checks else {
            return;
        };
        let mut started = false;
        self.checking.get_or_init(|| {
            started = true;
            watch::channel(false).0
        });
        if started {
            let checks = checks.clone();
            let until = self.checking.get().expect("just set").subscribe();
            tokio::spawn(async move { checks.start(until).await });
        }
    }

    /// The origin's configuration.
    pub fn config(&self) -> &HttpOrigin {
        &self.config
    }

    /// Picks a healthy server not in `tried` (servers that already failed for this request),
    /// keyed by `hash_key` for consistent hashing.
    pub fn select(
        &self,
        hash_key: &[u8],
        tried: &[SocketAddr],
    ) -> Result<Box<HttpPeer>, UpstreamError> {
        let untried = |addr: &PeerAddr| addr.as_inet().is_none_or(|a| !tried.contains(a));
        if let Some(addr) = &self.only {
            return match untried(addr) {
                true => Ok(Box::new(self.peer(addr.clone()))),
                false => Err(UpstreamError::NoHealthyServer(self.name.clone())),
            };
        }
        let accept = |b: &Backend, healthy: bool| healthy && untried(&b.addr);
        let backend = match &self.balancer {
            Balancer::RoundRobin(lb) => lb.select_with(hash_key, MAX_SELECTION_STEPS, accept),
            Balancer::Consistent(lb) => lb.select_with(hash_key, MAX_SELECTION_STEPS, accept),
        }
        .ok_or_else(|| UpstreamError::NoHealthyServer(self.name.clone()))?;
        Ok(Box::new(self.peer(backend.addr)))
    }

    fn peer(&self, addr: PeerAddr) -> HttpPeer {
        let c = &self.config;
        let sni = if c.tls {
            c.sni.clone().unwrap_or_else(|| host_of(&c.servers, &addr))
        } else {
            String::new()
        };
        let mut peer = HttpPeer::new(addr, c.tls, sni);
        peer.options.connection_timeout = Some(c.connect_timeout);
        peer.options.total_connection_timeout = Some(c.connect_timeout);
        peer.options.read_timeout = Some(c.read_timeout);
        peer.options.idle_timeout = Some(c.idle_timeout);
        peer.options.verify_cert = c.verify;
        peer.options.verify_hostname = c.verify;
        peer
    }
}

/// The host part of the configured server that resolved to `addr` (for SNI), or its IP.
fn host_of(servers: &[String], addr: &PeerAddr) -> String {
    let ip = addr
        .as_inet()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    servers
        .iter()
        .filter_map(|s| s.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])))
        .find(|h| h.parse::<std::net::IpAddr>().is_err())
        .map(str::to_string)
        .unwrap_or(ip)
}

fn health_check(
    config: &HttpOrigin,
    kind: &HealthCheckKind,
) -> Box<dyn PingoraHealthCheck + Send + Sync> {
    match kind {
        HealthCheckKind::Tcp => TcpHealthCheck::new(),
        HealthCheckKind::Http { path } => {
            let host = config
                .host_header
                .clone()
                .or_else(|| config.sni.clone())
                .unwrap_or_else(|| "localhost".into());
            let mut hc = HttpHealthCheck::new(&host, config.tls);
            hc.req.set_uri(path.parse().expect("validated path"));
            if config.tls {
                hc.peer_template.options.verify_cert = config.verify;
                hc.peer_template.options.verify_hostname = config.verify;
            }
            Box::new(hc)
        }
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        if let Some(checking) = self.checking.get() {
            let _ = checking.send(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HealthCheck;
    use std::time::Duration;

    fn origin(servers: &[&str], health_check: Option<HealthCheck>) -> HttpUpstream {
        let config = HttpOrigin {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            tls: false,
            sni: None,
            verify: true,
            host_header: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            balance: Balance::RoundRobin,
            health_check,
        };
        HttpUpstream::new("o", &config).unwrap()
    }

    fn chosen(upstream: &HttpUpstream, tried: &[SocketAddr]) -> Option<String> {
        upstream
            .select(b"/", tried)
            .ok()
            .map(|peer| peer._address.to_string())
    }

    #[test]
    fn a_lone_server_is_chosen_until_it_was_tried() {
        let upstream = origin(&["127.0.0.1:9001"], None);
        assert_eq!(chosen(&upstream, &[]).as_deref(), Some("127.0.0.1:9001"));
        let tried = ["127.0.0.1:9001".parse().unwrap()];
        assert_eq!(chosen(&upstream, &tried), None);
    }

    #[test]
    fn with_two_servers_the_untried_one_is_chosen() {
        let upstream = origin(&["127.0.0.1:9001", "127.0.0.1:9002"], None);
        let tried = ["127.0.0.1:9001".parse().unwrap()];
        for _ in 0..4 {
            assert_eq!(chosen(&upstream, &tried).as_deref(), Some("127.0.0.1:9002"));
        }
        let both = [tried[0], "127.0.0.1:9002".parse().unwrap()];
        assert_eq!(chosen(&upstream, &both), None);
    }

    #[test]
    fn a_lone_checked_server_is_chosen_by_the_balancer() {
        let check = HealthCheck {
            kind: HealthCheckKind::Tcp,
            interval: Duration::from_secs(60),
        };
        let upstream = origin(&["127.0.0.1:9001"], Some(check));
        assert!(
            upstream.only.is_none(),
            "its health decides, not the shortcut"
        );
        assert_eq!(chosen(&upstream, &[]).as_deref(), Some("127.0.0.1:9001"));
    }
}
