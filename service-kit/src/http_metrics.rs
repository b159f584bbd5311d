//! Requests to a service's public listener, counted and timed by route and status:
//! `warren_http_requests_total{method, route, status}` and the histogram
//! `warren_http_request_duration_seconds{method, route}`.
//!
//! The route is the service's template for the path (`/users/:name/locker-requests`), never
//! the path itself: names, codes and ids in paths would make a series per value. A path that
//! matches no template is `other`, and an answer of 404 or 405 is `unmatched`, so no request can
//! add a series of its own.

use std::time::Duration;

/// The label of a path that matches none of the service's templates.
pub const OTHER: &str = "other";
/// The label of a request no route took (404, 405).
pub const UNMATCHED: &str = "unmatched";

/// The histogram's bucket bounds, in seconds: from a cached page to a publish confirm that
/// waited for a broker failover.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A service's route templates: `/` separated segments, where a segment starting with `:`
/// stands for any one segment.
#[derive(Clone, Debug, Default)]
pub struct RouteTemplates(&'static [&'static str]);

impl RouteTemplates {
    pub const fn new(templates: &'static [&'static str]) -> Self {
        Self(templates)
    }

    /// The template `path` matches, `other` if none does, `unmatched` for a 404 or 405.
    pub fn label(&self, path: &str, status: u16) -> &'static str {
        if status == 404 || status == 405 {
            return UNMATCHED;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.0
            .iter()
            .copied()
            .find(|template| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(part, segment)| part.starts_with(':') || part == segment)
            })
            .unwrap_or(OTHER)
    }

    /// Counts and times one answered request.
    pub fn record(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        let route = self.label(path, status);
        metrics::counter!(
            "warren_http_requests_total",
            "method" => method.to_owned(),
            "route" => route,
            "status" => status.to_string()
        )
        .increment(1);
        metrics::histogram!(
            "warren_http_request_duration_seconds",
            "method" => method.to_owned(),
            "route" => route
        )
        .record(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATES: RouteTemplates = RouteTemplates::new(&[
        "/",
        "/users/:name/locker-requests",
        "/lockers/retire",
        "/lockers/:code",
    ]);

    #[test]
    fn a_path_is_labelled_by_its_template_never_by_its_values() {
        assert_eq!(TEMPLATES.label("/", 200), "/");
        assert_eq!(
            TEMPLATES.label("/users/alice/locker-requests", 303),
            "/users/:name/locker-requests"
        );
        assert_eq!(TEMPLATES.label("/lockers/retire", 303), "/lockers/retire");
        assert_eq!(TEMPLATES.label("/lockers/L-07", 200), "/lockers/:code");
        assert_eq!(TEMPLATES.label("/users/alice", 200), OTHER);
        assert_eq!(TEMPLATES.label("/lockers/L-07", 404), UNMATCHED);
        assert_eq!(TEMPLATES.label("/anything/at/all", 405), UNMATCHED);
    }
}
