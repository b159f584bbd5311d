//! Abuse brakes: who the client is (the TCP peer, or what a trusted proxy says it saw), and a
//! token bucket per client address that every rate limit of the frontends uses.
//!
//! Limits are kept in memory, per instance: an operator running N instances behind one address
//! gives each 1/N of the rate meant for the whole. That is enough for a brake on abuse, which
//! only has to make flooding slow, and needs no shared store on the request path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Deserialize;
use warp::Filter;
use warp::http::HeaderMap;

use crate::web::Refusal;

/// The proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`): addresses or
/// networks (`10.0.0.7`, `172.16.0.0/12`), as a list or one comma-separated string (so that
/// `WARREN_HTTP__TRUSTED_PROXIES=10.0.0.7,10.0.0.8` works). Empty by default: the header is then
/// never read, since any client can send it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(&self.0).finish()
    }
}

impl TrustedProxies {
    /// The proxies listed, each an address or a network.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        entries
            .into_iter()
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither an IP address nor a network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request from `peer` that carried `forwarded_for` (every
    /// `X-Forwarded-For` value, in order). Only when the peer is a trusted proxy is the header
    /// read, from the right: each proxy appends the address it saw, so the first address that
    /// is not itself a trusted proxy is the client (what lies left of it, the client wrote).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let mut client = peer;
        for entry in forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .rev()
        {
            let Some(address) = parse_forwarded(entry) else {
                // Not written by a proxy of ours: keep the last address a trusted hop gave.
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        canonical(client)
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Listed {
            One(String),
            Many(Vec<String>),
        }
        let entries = match Listed::deserialize(deserializer)? {
            Listed::One(list) => list.split(',').map(str::to_owned).collect(),
            Listed::Many(entries) => entries,
        };
        Self::parse(entries.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

/// IPv4 addresses as themselves, not as IPv6-mapped ones.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// The client address of each request (see [`TrustedProxies::client`]).
pub fn client_address(
    trusted: TrustedProxies,
) -> impl Filter<Extract = (IpAddr,), Error = Infallible> + Clone {
    warp::addr::remote()
        .and(warp::header::headers_cloned())
        .map(move |peer: Option<SocketAddr>, headers: HeaderMap| {
            // Only a listener without socket addresses has no peer; none of Warren's does.
            let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip());
            let forwarded: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect();
            trusted.client(peer, &forwarded)
        })
}

/// A rate per client address: `burst` requests at once after a quiet spell, and `per_second`
/// sustained.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimit {
    /// A bucket must hold at least one request, and refill.
    pub fn validate(&self, key: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.burst >= 1 && self.per_second.is_finite() && self.per_second > 0.0,
            "{key}: burst must be at least 1 and per_second above 0 (burst {}, per_second {})",
            self.burst,
            self.per_second
        );
        Ok(())
    }

    /// How long an empty bucket takes to fill: a bucket left alone that long is full, the same
    /// as no bucket at all, so it can be forgotten.
    fn refill_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.burst) / self.per_second)
    }
}

/// The most client addresses a limiter tracks at once. Full buckets (idle clients) are dropped
/// first; only when that many clients are being limited at the same moment is the one heard
/// from longest ago forgotten. A few megabytes at most.
pub const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets {
    by_client: HashMap<IpAddr, Bucket>,
    swept: Instant,
}

/// A token bucket per client address, with bounded memory: a client's bucket is dropped once it
/// has refilled. IPv6 clients are counted by their /64, which one host usually holds whole.
pub struct Limiter {
    limit: RateLimit,
    max_tracked: usize,
    buckets: Mutex<Buckets>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, MAX_TRACKED)
    }

    /// A limiter that tracks at most `max_tracked` clients.
    pub fn with_capacity(limit: RateLimit, max_tracked: usize) -> Self {
        Self {
            limit,
            max_tracked: max_tracked.max(1),
            buckets: Mutex::new(Buckets {
                by_client: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    fn key(client: IpAddr) -> IpAddr {
        match canonical(client) {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
            v4 => v4,
        }
    }

    /// Takes one request from `client`'s bucket; when it is empty, how long until it holds one.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    /// [`check`](Self::check) at `now` (tests move the clock themselves).
    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = self.limit;
        let burst = f64::from(limit.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = Self::key(client);
        if !buckets.by_client.contains_key(&key) {
            buckets.make_room(now, limit, self.max_tracked);
        }
        let bucket = buckets.by_client.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second,
            ))
        }
    }

    /// [`check`](Self::check) as a refusal: 429 with `Retry-After` (whole seconds, at least
    /// one) and `message`.
    pub fn admit(&self, client: IpAddr, message: &str) -> Result<(), Refusal> {
        self.check(client).map_err(|wait| Refusal::TooManyRequests {
            message: message.to_owned(),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }

    /// How many clients have a bucket now.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_client
            .len()
    }
}

impl Buckets {
    /// Before a new client's bucket is added: drops the buckets that have refilled (at most
    /// once per refill time, or when full), then, if still full, the one heard from longest ago.
    fn make_room(&mut self, now: Instant, limit: RateLimit, max_tracked: usize) {
        let refill = limit.refill_time();
        let full = self.by_client.len() >= max_tracked;
        if full || now.saturating_duration_since(self.swept) >= refill.max(Duration::from_secs(1)) {
            self.by_client
                .retain(|_, bucket| now.saturating_duration_since(bucket.at) < refill);
            self.swept = now;
        }
        if self.by_client.len() >= max_tracked
            && let Some(oldest) = self
                .by_client
                .iter()
                .min_by_key(|(_, bucket)| bucket.at)
                .map(|(key, _)| *key)
        {
            self.by_client.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const TIGHT: RateLimit = RateLimit {
        burst: 3,
        per_second: 1.0,
    };

    #[test]
    fn a_client_gets_its_burst_then_waits_for_the_refill() {
        let limiter = Limiter::new(TIGHT);
        let client = ip("192.0.2.1");
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(client, start).is_ok());
        }
        let wait = limiter.check_at(client, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        let later = start + Duration::from_millis(500);
        assert_eq!(
            limiter.check_at(client, later).unwrap_err(),
            Duration::from_millis(500)
        );
        let refilled = start + Duration::from_millis(1_000);
        assert!(limiter.check_at(client, refilled).is_ok());
        assert!(limiter.check_at(client, refilled).is_err());
    }

    #[test]
    fn each_client_has_its_own_bucket_and_an_ipv6_host_is_its_64() {
        let limiter = Limiter::new(TIGHT);
        for _ in 0..3 {
            assert!(limiter.check(ip("192.0.2.1")).is_ok());
        }
        assert!(limiter.check(ip("192.0.2.1")).is_err());
        assert!(limiter.check(ip("192.0.2.2")).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.1")).is_err());
        for last in 1..=3 {
            assert!(limiter.check(ip(&format!("2001:db8:0:1::{last}"))).is_ok());
        }
        assert!(limiter.check(ip("2001:db8:0:1:ffff::9")).is_err());
        assert!(limiter.check(ip("2001:db8:0:2::1")).is_ok());
    }

    #[test]
    fn refusal_is_429_with_retry_after_in_whole_seconds() {
        let limiter = Limiter::new(RateLimit {
            burst: 1,
            per_second: 0.1,
        });
        assert!(limiter.admit(ip("192.0.2.1"), "slow down").is_ok());
        match limiter.admit(ip("192.0.2.1"), "slow down") {
            Err(
                refusal @ Refusal::TooManyRequests {
                    retry_after_secs, ..
                },
            ) => {
                assert_eq!(retry_after_secs, 10);
                assert_eq!(refusal.status().as_u16(), 429);
                assert_eq!(refusal.to_string(), "slow down");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_clients_are_forgotten_and_memory_stays_bounded() {
        let limiter = Limiter::with_capacity(TIGHT, 10);
        let start = Instant::now();
        for n in 0..10 {
            let at = start + Duration::from_millis(n);
            limiter.check_at(ip(&format!("192.0.2.{n}")), at).unwrap();
        }
        assert_eq!(limiter.tracked(), 10);
        // Full, and nobody idle long enough: a new client pushes out the one heard from
        // longest ago, whose next request starts a fresh bucket.
        let soon = start + Duration::from_millis(20);
        limiter.check_at(ip("198.51.100.1"), soon).unwrap();
        assert_eq!(limiter.tracked(), 10);
        let buckets = limiter.buckets.lock().unwrap();
        assert!(!buckets.by_client.contains_key(&ip("192.0.2.0")));
        assert!(buckets.by_client.contains_key(&ip("192.0.2.1")));
        drop(buckets);
        // Once every bucket has refilled (3 s), the next new client sweeps them all away.
        let idle = soon + Duration::from_secs(3);
        limiter.check_at(ip("198.51.100.2"), idle).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn the_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), &["203.0.113.9"]),
            ip("127.0.0.1")
        );
        let proxies = TrustedProxies::parse(["10.0.0.0/8", "127.0.0.1"]).unwrap();
        // From a stranger, the header is the stranger's word: ignored.
        assert_eq!(
            proxies.client(ip("198.51.100.7"), &["203.0.113.9"]),
            ip("198.51.100.7")
        );
        // From the proxy: the rightmost address that is not a proxy of ours.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["1.1.1.1, 203.0.113.9, 10.1.2.3"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &["1.1.1.1", "203.0.113.9:4711"]),
            ip("203.0.113.9")
        );
        // Nothing forwarded, or garbage where the proxy's entry should be: the proxy itself.
        assert_eq!(proxies.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
        assert_eq!(proxies.client(ip("127.0.0.1"), &["junk"]), ip("127.0.0.1"));
        // Only proxies in the chain: the first of them.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["10.0.0.1, 10.0.0.2"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn trusted_proxies_read_from_a_list_or_a_comma_separated_string() {
        #[derive(Deserialize)]
        struct Http {
            trusted_proxies: TrustedProxies,
        }
        let listed: Http = serde_json::from_str(r#"{"trusted_proxies": ["10.0.0.7"]}"#).unwrap();
        let joined: Http =
            serde_json::from_str(r#"{"trusted_proxies": "10.0.0.7, 172.16.0.0/12"}"#).unwrap();
        assert!(listed.trusted_proxies.trusts(ip("10.0.0.7")));
        assert!(!listed.trusted_proxies.trusts(ip("10.0.0.8")));
        assert!(joined.trusted_proxies.trusts(ip("172.20.1.1")));
        let empty: Http = serde_json::from_str(r#"{"trusted_proxies": ""}"#).unwrap();
        assert_eq!(empty.trusted_proxies, TrustedProxies::default());
        let error = serde_json::from_str::<Http>(r#"{"trusted_proxies": "traefik"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("traefik"), "{error}");
    }

    #[test]
    fn trusted_proxies_are_none_by_default_and_read_from_the_environment() {
        #[derive(Deserialize)]
        struct Sample {
            http: crate::configuration::HttpSettings,
        }
        const DEFAULTS: &str = "[http]\nport = 8080\n";
        let shared: Sample = crate::configuration::load_from(DEFAULTS, []).unwrap();
        assert_eq!(shared.http.trusted_proxies, TrustedProxies::default());
        let set: Sample = crate::configuration::load_from(
            DEFAULTS,
            [(
                "WARREN_HTTP__TRUSTED_PROXIES".to_owned(),
                "10.0.0.7,172.16.0.0/12".to_owned(),
            )],
        )
        .unwrap();
        assert!(set.http.trusted_proxies.trusts(ip("10.0.0.7")));
        assert!(set.http.trusted_proxies.trusts(ip("172.31.0.2")));
        assert!(!set.http.trusted_proxies.trusts(ip("10.0.0.8")));
    }

    #[test]
    fn a_limit_without_a_burst_or_a_rate_is_refused_by_name() {
        let zero = RateLimit {
            burst: 0,
            per_second: 1.0,
        };
        let error = zero.validate("vote.limit").unwrap_err().to_string();
        assert!(error.contains("vote.limit"), "{error}");
        assert!(
            RateLimit {
                burst: 1,
                per_second: 0.0
            }
            .validate("x")
            .is_err()
        );
        assert!(TIGHT.validate("x").is_ok());
    }
}
