//! Each form is one attempt: its signed attempt id is the request id and the message id, so
//! sending it again (a double click, a retry after an unknown outcome) is the same request,
//! handled once, with the same status page; an altered attempt id is refused; and a request
//! the broker did not confirm is reported as what it is, unknown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::StatusCode;
use serde_json::Value;
use warren_testkit::amqp_nodes;
use warren_testkit::proxy::{FaultProxy, Link};
use warren_testkit::web::says;

use common::{OPERATOR, PASSWORD, Visitor, form_fields, system, system_with};

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn with(fields: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut fields = fields.to_vec();
    fields.retain(|(field, _)| field != name);
    fields.push((name.to_owned(), value.to_owned()));
    fields
}

fn attempt_of(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .find(|(name, _)| name == "attempt")
        .unwrap()
        .1
        .clone()
}

async fn codes(operator: &Visitor) -> Vec<String> {
    let lockers: Value = operator.get_json("/api/lockers").await;
    lockers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|locker| locker["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_same_form_sent_twice_is_one_request_and_an_altered_attempt_is_refused() {
    let system = system(true, true).await;
    let visitor = system.stranger().await;
    let register = form_fields(&visitor.page("/").await, "/register");
    let again = form_fields(&visitor.page("/").await, "/register");
    assert_ne!(register, again, "every page load gives a new attempt");

    // A double click: two posts of one sign-up form, one request with one status page.
    let typed = with(&with(&register, "name", "ada"), "password", PASSWORD);
    let first = location(&visitor.send("/register", &typed).await);
    let second = location(&visitor.send("/register", &typed).await);
    assert_eq!(first, second);
    let outcome = visitor.outcome(&first).await;
    assert_eq!(outcome["outcome"], "registered", "{outcome}");
    // Had the second been a request of its own, it would have found the name taken.
    let request_id = outcome["request_id"].as_str().unwrap().to_owned();
    assert!(attempt_of(&register).starts_with(&request_id.replace('-', "")));

    // An altered attempt id publishes nothing: a valid add sent after it is handled alone.
    let operator = system.operator().await;
    let add = form_fields(&operator.page("/lockers").await, "/lockers");
    let attempt = attempt_of(&add);
    let (id, signature) = attempt.split_once('.').unwrap();
    let other = attempt_of(&form_fields(&operator.page("/lockers").await, "/lockers"));
    let (other_id, _) = other.split_once('.').unwrap();
    for (n, altered) in [
        format!("{other_id}.{signature}"),
        format!("{id}.{}", "0".repeat(signature.len())),
        "made-up".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let code = format!("Z-9{n}");
        let fields = with(&with(&add, "attempt", &altered), "code", &code);
        let fields = with(&fields, "location", "Hall Z");
        let response = operator.send("/lockers", &fields).await;
        says(response, StatusCode::FORBIDDEN, "the form was altered").await;
    }
    // The form's attempt is bound to its session: the same operator signed in elsewhere (a
    // session of their own) cannot send it.
    let elsewhere = system.signed_in(OPERATOR).await;
    let stolen = with(
        &form_fields(&elsewhere.page("/lockers").await, "/lockers"),
        "attempt",
        &attempt,
    );
    let stolen = with(&with(&stolen, "code", "Z-99"), "location", "Hall Z");
    assert_eq!(
        elsewhere.send("/lockers", &stolen).await.status(),
        StatusCode::FORBIDDEN
    );
    let valid = with(&with(&add, "code", "Z-10"), "location", "Hall Z");
    let page = location(&operator.send("/lockers", &valid).await);
    assert_eq!(operator.outcome(&page).await["outcome"], "added");
    assert_eq!(codes(&operator).await, ["Z-10"]);
    system.stop().await;
}

#[tokio::test]
async fn an_unconfirmed_request_may_have_been_sent_and_sending_it_again_is_handled_once() {
    let node = amqp_nodes()[0].trim_start_matches("amqp://").to_owned();
    let proxy = FaultProxy::start(node).await;
    let system = system_with(true, true, |settings| {
        settings.broker.nodes = vec![format!("amqp://{}", proxy.address())];
        settings.broker.confirm_timeout_ms = 1_500;
    })
    .await;
    let visitor = system.stranger().await;
    // A first request opens the connection through the proxy.
    visitor
        .act("/register", &[("name", "bea"), ("password", PASSWORD)])
        .await;

    // The link goes silent: the request reaches the proxy, its confirm does not come in time.
    proxy.set(Link::Silent);
    let register = with(
        &form_fields(&visitor.page("/").await, "/register"),
        "name",
        "ada",
    );
    let response = visitor
        .send("/register", &with(&register, "password", PASSWORD))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("We could not confirm the registration of ada; it may have been sent")
            && !page.contains("not sent")
            && !page.contains("Nothing was changed"),
        "{page}"
    );
    // The page offers the very same form again, asking for the password rather than echoing it.
    assert!(
        !page.contains(PASSWORD) && page.contains(r#"type="password" name="password""#),
        "{page}"
    );
    let resend = form_fields(&page, "/register");
    assert_eq!(
        resend.iter().collect::<std::collections::BTreeSet<_>>(),
        register.iter().collect()
    );

    proxy.set(Link::Clear);
    let resend = with(&resend, "password", PASSWORD);
    let status = location(&visitor.send("/register", &resend).await);
    let outcome = visitor.outcome(&status).await;
    // The held request was delivered too; the two are one request, so the name is not "taken".
    assert_eq!(outcome["outcome"], "registered", "{outcome}");
    system.stop().await;
}
