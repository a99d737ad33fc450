//! The floor of any Pingora proxy: a `ProxyHttp` that forwards every request to one origin and
//! does nothing else, with jemalloc like edge-proxy. The load benchmark measures edge-proxy's
//! "hooks off" configuration against it.
//!
//! Usage: `bare-forwarder LISTEN_ADDR ORIGIN_ADDR` (one worker thread).

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Forwards to `origin`, reusing connections (Pingora's default pool).
struct Forwarder {
    origin: String,
}

#[async_trait]
impl ProxyHttp for Forwarder {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.origin.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(origin)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-forwarder LISTEN_ADDR ORIGIN_ADDR");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads: 1,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Forwarder { origin });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
