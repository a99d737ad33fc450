//! `GET /cost` on the admin listener: the functions' metered use since start, priced as Lambda
//! and Lambda@Edge would bill the same traffic — the figure that answers "what does running it
//! here save".

use serde_json::{json, Value};

/// Prices in USD. Defaults: AWS's public us-east-1 x86 prices (first tier) as the reference
/// cites them; every one can be replaced by a query parameter of the same name.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    /// Lambda, per million requests.
    pub lambda_per_million_requests: f64,
    /// Lambda, per GB-second.
    pub lambda_per_gb_second: f64,
    /// Lambda@Edge, per million requests.
    pub edge_per_million_requests: f64,
    /// Lambda@Edge, per GB-second.
    pub edge_per_gb_second: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            lambda_per_million_requests: 0.20,
            lambda_per_gb_second: 0.000_016_666_7,
            edge_per_million_requests: 0.60,
            edge_per_gb_second: 0.000_050_01,
        }
    }
}

impl Prices {
    /// The defaults with what `query` (`name=value&…`) replaces; an unknown name or a value
    /// that is not a non-negative number is an error naming it.
    pub fn from_query(query: &str) -> Result<Prices, String> {
        let mut prices = Prices::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "lambda-per-million-requests" => &mut prices.lambda_per_million_requests,
                "lambda-per-gb-second" => &mut prices.lambda_per_gb_second,
                "edge-per-million-requests" => &mut prices.edge_per_million_requests,
                "edge-per-gb-second" => &mut prices.edge_per_gb_second,
                other => return Err(format!("unknown price \"{other}\"")),
            };
            *slot = value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{name}: \"{value}\" is not a non-negative number"))?;
        }
        Ok(prices)
    }
}

/// The report for `billing` (function, billed requests, GB-seconds) at `prices`.
pub fn report(billing: &[(String, u64, f64)], prices: &Prices) -> Value {
    let cost = |requests: u64, gb_s: f64, per_million: f64, per_gb_s: f64| {
        requests as f64 / 1e6 * per_million + gb_s * per_gb_s
    };
    let row = |name: &str, requests: u64, gb_s: f64| {
        json!({
            "function": name,
            "requests": requests,
            "gbSeconds": gb_s,
            "lambda": cost(requests, gb_s, prices.lambda_per_million_requests, prices.lambda_per_gb_second),
            "lambdaAtEdge": cost(requests, gb_s, prices.edge_per_million_requests, prices.edge_per_gb_second),
        })
    };
    let requests = billing.iter().map(|b| b.1).sum();
    let gb_s = billing.iter().map(|b| b.2).sum();
    json!({
        "currency": "USD",
        "prices": {
            "lambda-per-million-requests": prices.lambda_per_million_requests,
            "lambda-per-gb-second": prices.lambda_per_gb_second,
            "edge-per-million-requests": prices.edge_per_million_requests,
            "edge-per-gb-second": prices.edge_per_gb_second,
        },
        "functions": billing.iter().map(|(n, r, g)| row(n, *r, *g)).collect::<Vec<_>>(),
        "total": row("*", requests, gb_s),
        "note": "Billed duration is rounded up to 1 ms, times each function's memory-mb. Lambda's free tier is not subtracted; Lambda@Edge has none.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_mix_costs_what_the_hand_calculation_says() {
        // 3M requests of a 128 MB function at 2 ms billed: 3e6 × 0.002 s × 0.125 GB = 750 GB-s.
        let billing = [("f".to_string(), 3_000_000, 750.0)];
        let r = report(&billing, &Prices::default());
        let f = &r["functions"][0];
        // Lambda: 3 × $0.20 + 750 × $0.0000166667 = $0.6125000…
        assert!((f["lambda"].as_f64().unwrap() - (0.60 + 750.0 * 0.000_016_666_7)).abs() < 1e-9);
        // Lambda@Edge: 3 × $0.60 + 750 × $0.00005001 = $1.8375075
        assert!((f["lambdaAtEdge"].as_f64().unwrap() - 1.837_507_5).abs() < 1e-9);
        assert_eq!(r["total"]["requests"], 3_000_000);
    }

    #[test]
    fn prices_come_from_the_query_and_bad_ones_are_named() {
        let p = Prices::from_query("edge-per-million-requests=1&lambda-per-gb-second=0").unwrap();
        assert_eq!(p.edge_per_million_requests, 1.0);
        assert_eq!(p.lambda_per_gb_second, 0.0);
        assert_eq!(p.lambda_per_million_requests, 0.20);
        assert!(Prices::from_query("edge-per-gb-second=-1")
            .unwrap_err()
            .contains("edge-per-gb-second"));
        assert!(Prices::from_query("free=1").unwrap_err().contains("free"));
    }
}
