//! The JSON API as a program uses it: an operator's API token, 202 with the request's status
//! URL once the broker confirmed, the outcome at that URL, idempotency keys, and the one error
//! shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use warren_manifest::{LOCKER_APP, LOCKER_SERVICE, USER_SERVICE};
use warren_testkit::accounts::Person;
use warren_testkit::services::Wiring;

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value, Option<String>) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            location,
        )
    }
}

#[tokio::test]
async fn a_program_adds_lockers_registers_users_and_asks_for_lockers_with_a_token() {
    let wiring = Wiring::fresh(&[USER_SERVICE, LOCKER_SERVICE, LOCKER_APP]).await;
    let _users = wiring.start(USER_SERVICE).await;
    let _lockers = wiring.start(LOCKER_SERVICE).await;
    let app = wiring.start(LOCKER_APP).await;
    let base = app.url("");
    let operator = Person::operator(&wiring, &base, "boss").await;
    let api = Api {
        base: base.clone(),
        token: operator.api_token("a program").await,
        client: reqwest::Client::new(),
    };

    let (status, body, location) = api
        .post(
            "/api/lockers",
            None,
            json!({"code": "a-1", "location": "Hall A"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let location = location.expect("a 202 names the request's status URL");
    assert_eq!(body["status"], location.as_str());
    assert_eq!(
        operator.outcome(location.trim_start_matches("/api")).await["outcome"],
        "added"
    );

    let (status, body, location) = api
        .post(
            "/api/users",
            None,
            json!({"name": "ada", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let registered = operator
        .outcome(location.unwrap().trim_start_matches("/api"))
        .await;
    assert_eq!(registered["outcome"], "registered", "{registered}");

    // Ada signs in with the password the program gave, and the program asks a locker for her.
    let ada = Person::new(&base, "ada");
    ada.sign_in("a long passphrase").await;
    let key = uuid::Uuid::new_v4().to_string();
    let (status, first, _) = api
        .post("/api/users/ada/locker-requests", Some(&key), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    // The same key for the same call is the same request...
    let (status, again, _) = api
        .post("/api/users/ada/locker-requests", Some(&key), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["request_id"], first["request_id"]);
    // ...and for another call a conflict, with nothing sent.
    let (status, conflict, _) = api
        .post(
            "/api/lockers",
            Some(&key),
            json!({"code": "A-2", "location": "Hall A"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    let status_url = first["status"]
        .as_str()
        .unwrap()
        .trim_start_matches("/api")
        .to_owned();
    let assigned = operator.outcome(&status_url).await;
    assert_eq!(assigned["outcome"], "assigned", "{assigned}");
    assert_eq!(assigned["locker"], "A-1");

    // Pages of lockers and users, as the operator's program sees them.
    let lockers: Value = api
        .client
        .get(format!("{base}/api/lockers?limit=1"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lockers["items"][0]["holder"], "ada", "{lockers}");
    let locker: Value = api
        .client
        .get(format!("{base}/api/lockers/a-1"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(locker["code"], "A-1", "{locker}");

    // A member's own session may ask for themself through the API, not for anyone else.
    let (status, body, _) = {
        let response = ada
            .client
            .post(format!("{base}/api/users/boss/locker-requests"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json::<Value>().await.unwrap(),
            (),
        )
    };
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");

    // A revoked token is refused.
    let page = operator.page("/tokens").await;
    let id = page
        .split("data-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let form = operator
        .form("/tokens", &format!("/tokens/{id}/revoke"), &[])
        .await;
    let revoked = operator.post(&format!("/tokens/{id}/revoke"), &form).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (status, body, _) = api
        .post(
            "/api/lockers",
            None,
            json!({"code": "A-3", "location": "Hall A"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}
