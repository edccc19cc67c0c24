//! plate-lookup through the runner: both URL forms reach the function with the prefix stripped.

use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};

use crate::helpers::{TestApp, json_of};

#[tokio::test]
async fn both_url_forms_reach_plate_lookup_through_the_runner() {
    let fake = FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::json(
                200,
                vegvesen_fixture("bev-kia-niro-ec47213.json"),
            )],
        )],
        Reply::status(204),
    )
    .await;
    let endpoint = fake.endpoint();
    let app = TestApp::spawn(&[("VEGVESEN_API_KEY", "k"), ("VEGVESEN_ENDPOINT", &endpoint)]).await;
    for path in [
        "/plate-lookup/EC47213",
        "/plate-lookup?plate=EC%2047213",
        "/plate-lookup/?plate=ec47213",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let body = json_of(resp).await;
        assert_eq!(body["vehicle"]["make"], "KIA", "{path}");
    }
    assert_eq!(app.get("/plate-lookup/AA12345").await.status(), 404);
    assert_eq!(app.get("/plate-lookup/not-a-plate!").await.status(), 400);
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn without_a_key_the_runner_answers_503_and_says_what_to_set() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/plate-lookup/EC47213").await;
    assert_eq!(resp.status(), 503);
    let body = json_of(resp).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VEGVESEN_API_KEY")
    );
    // An invalid plate is still a 400: it is refused before any configuration matters.
    assert_eq!(app.get("/plate-lookup/%21%21").await.status(), 400);
}
