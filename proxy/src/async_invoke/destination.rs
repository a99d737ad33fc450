//! Delivering a record or a dead letter to its destination: a named queue in the node's store,
//! an HTTP endpoint (POST of the JSON), or a `lambda`-world function invoked with it.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Destination;
use crate::hooks::HookRegistry;
use crate::queue::{DeadLetter, EventQueue};

/// How long a destination endpoint or function may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a delivery needs besides the destination.
pub struct Deliveries<'a> {
    /// The node's queue (named-queue destinations).
    pub queue: &'a EventQueue,
    /// The generation's functions (function destinations).
    pub hooks: &'a Arc<HookRegistry>,
    /// The client for URL destinations.
    pub http: &'a reqwest::Client,
    /// The event's request id (a function destination's invocation runs under it).
    pub request_id: &'a str,
}

impl Deliveries<'_> {
    /// Delivers `body` (a record) to `to`; `Err` says why it must be tried again.
    pub async fn record(&self, to: &Destination, body: Vec<u8>) -> Result<(), String> {
        match to {
            Destination::Queue(name) => self
                .queue
                .send(name, body)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Destination::Url(url) => self.post(url, body).await,
            Destination::Function(name) => self.invoke(name, body).await,
        }
    }

    /// Delivers a dead letter to `to`: a named queue keeps the event for a redrive; an
    /// endpoint or function gets the letter's body.
    pub async fn dead_letter(&self, to: &Destination, letter: DeadLetter) -> Result<(), String> {
        match to {
            Destination::Queue(name) => self
                .queue
                .send_dead_letter(name, letter)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            other => self.record(other, letter.body).await,
        }
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        let reply = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .timeout(DELIVERY_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        if reply.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {url}: answered {}", reply.status()))
        }
    }

    async fn invoke(&self, name: &str, body: Vec<u8>) -> Result<(), String> {
        let Some(function) = self.hooks.get(name) else {
            return Err(format!("function \"{name}\" is not loaded"));
        };
        let (result, _) = function
            .invoke_json("destination", body, DELIVERY_TIMEOUT, self.request_id)
            .await;
        result.map(drop).map_err(|e| e.to_string())
    }
}
