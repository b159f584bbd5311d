//! The web frontends as a browser without JavaScript sees them: an HTTP client that keeps
//! cookies and does not follow redirects, pages as text, answers checked by status and
//! words, and the hidden fields (CSRF token, attempt id, signed observation) a form sends
//! back. One reader of forms for the tests and the chaos load.

use reqwest::{Client, Response, StatusCode};

/// How long a request may take before a test calls the service hung.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// A browser: keeps cookies, does not follow redirects, and gives up on an answer after
/// [`ANSWER_WITHIN`].
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(ANSWER_WITHIN)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|error| panic!("cannot build an HTTP client: {error}"))
}

/// The page at `url` as text, whatever its status.
pub async fn page(client: &Client, url: &str) -> String {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    response
        .text()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"))
}

/// Asserts that `response` has `status` and its body says `words`; returns the body.
pub async fn says(response: Response, status: StatusCode, words: &str) -> String {
    let answered = response.status();
    let body = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("no body: {error}"));
    assert_eq!(answered, status, "{body}");
    assert!(body.contains(words), "{words:?} is not in {body}");
    body
}

/// The `name` and `value` of every `<input type="hidden">` in `html`, in page order.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let marker = format!("{name}=\"");
        let at = tag.find(&marker)? + marker.len();
        tag[at..].split('"').next().map(str::to_owned)
    };
    html.split("<input")
        .skip(1)
        .map(|tag| &tag[..tag.find('>').unwrap_or(tag.len())])
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The hidden fields of the form in `page` that posts to `action`, as a browser sends them;
/// None if no form posts there.
pub fn form_fields(page: &str, action: &str) -> Option<Vec<(String, String)>> {
    let start = page.find(&format!("action=\"{action}\""))?;
    let form = &page[start..];
    let end = form.find("</form>").unwrap_or(form.len());
    Some(hidden_inputs(&form[..end]))
}

/// The value of the first hidden field called `name` in `page`.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    hidden_inputs(page)
        .into_iter()
        .find_map(|(field, value)| (field == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<form method="post" action="/a"><input type="hidden" name="csrf" value="t1">
        <input name="name" value="typed"><input type="hidden" name="attempt" value="x.y"></form>
        <form method="post" action="/b"><input type="hidden" name="csrf" value="t2"></form>"#;

    #[test]
    fn a_form_sends_its_own_hidden_fields_only() {
        let fields = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            form_fields(PAGE, "/a"),
            Some(fields(&[("csrf", "t1"), ("attempt", "x.y")]))
        );
        assert_eq!(form_fields(PAGE, "/b"), Some(fields(&[("csrf", "t2")])));
        assert_eq!(form_fields(PAGE, "/c"), None);
    }

    #[test]
    fn a_hidden_field_is_found_by_name_and_a_visible_one_is_not() {
        assert_eq!(hidden(PAGE, "csrf").as_deref(), Some("t1"));
        assert_eq!(hidden(PAGE, "attempt").as_deref(), Some("x.y"));
        assert_eq!(hidden(PAGE, "name"), None);
    }
}
