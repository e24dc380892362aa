//! The webhook outbox on SQLite and PostgreSQL (the latter when `BIOGUARD_TEST_DATABASE_URL`
//! is set): messages are written only with a change that is made, leased to one sender at a
//! time, settled into the delivery log, replayed, and purged.

use bioguard_core::{ClientId, ClientName, Pseudonym, SubjectRight, TenantId, Timestamp};
use bioguard_store::prelude::*;
use bioguard_store::testing::TestDb;
use bioguard_store::{
    LeafDraft, NewClient, OutboxMessage, ReplayTarget, Settlement, SqlStore, WebhookEndpoint,
};

#[macro_use]
mod common;

on_both_backends!(
    the_outbox_is_written_with_the_change_leased_settled_replayed_and_purged,
    a_subject_keeps_the_first_identifier_noted,
);

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs)
}

fn leaf(op: &'static str, outbox: Vec<OutboxMessage>) -> LeafDraft {
    LeafDraft {
        time: t(0),
        op,
        actor: "test".into(),
        subject: None,
        mentions: Vec::new(),
        purpose: None,
        decision: None,
        request: None,
        detail: Vec::new(),
        outbox,
    }
}

fn message(id: &str, endpoint: &str) -> OutboxMessage {
    OutboxMessage {
        id: id.into(),
        endpoint: endpoint.into(),
        event: "consent.withdrawn".into(),
        payload: vec![1, 2, 3],
    }
}

async fn with_endpoint(db: &TestDb, outbox: Vec<OutboxMessage>) -> (SqlStore, WebhookEndpoint) {
    let s = db.store().await.expect("open");
    let client = ClientId::from_random([7; 16]);
    s.create_client(
        &NewClient {
            id: client.clone(),
            name: ClientName::parse("shop").expect("valid"),
            key_digest: [9; 32],
            tenant: TenantId::default(),
            rights: [SubjectRight::Read].into(),
            grants: Default::default(),
            created_at: t(0),
        },
        &leaf("client.create", Vec::new()),
    )
    .await
    .expect("client");
    let e = WebhookEndpoint {
        id: "wh_one".into(),
        client,
        url: "https://rp.example/hooks".into(),
        events: ["consent.withdrawn".to_owned()].into(),
        secret: vec![4; 40],
        created_at: t(0),
        disabled_at: None,
    };
    s.create_endpoint(&e, &leaf("webhook.create", outbox))
        .await
        .expect("endpoint");
    (s, e)
}

fn settled(at: i64, status: Option<u16>, delivered: bool, next: Option<i64>) -> Settlement {
    Settlement {
        at: t(at),
        status,
        error: (!delivered).then(|| "the receiver answered 500".to_owned()),
        delivered,
        next_attempt_at: next.map(t),
    }
}

async fn the_outbox_is_written_with_the_change_leased_settled_replayed_and_purged(db: &TestDb) {
    let (s, e) = with_endpoint(
        db,
        vec![message("msg_a", "wh_one"), message("msg_b", "wh_one")],
    )
    .await;
    // A change that is not made (no such endpoint to disable) writes no message.
    let refused = s
        .disable_endpoint(
            "wh_none",
            t(0),
            &leaf("webhook.disable", vec![message("msg_c", "wh_one")]),
        )
        .await
        .expect("disable");
    assert!(!refused);
    let log = s.messages(&e.id, 10).await.expect("log");
    let ids: Vec<&str> = log.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&"msg_c"));

    assert!(s.any_live_endpoint().await.expect("any"));
    // Leased to one sender at a time.
    let due = s.lease_due(t(0), t(30), 10).await.expect("lease");
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].url, e.url);
    assert_eq!(due[0].secret, e.secret);
    assert_eq!(due[0].payload, vec![1, 2, 3]);
    assert!(
        s.lease_due(t(1), t(31), 10)
            .await
            .expect("lease")
            .is_empty()
    );

    // One delivered, one to retry at t(10).
    s.settle("msg_a", &settled(2, Some(204), true, None))
        .await
        .expect("settle");
    s.settle("msg_b", &settled(2, Some(500), false, Some(10)))
        .await
        .expect("settle");
    let log = s.messages(&e.id, 10).await.expect("log");
    let a = log.iter().find(|m| m.id == "msg_a").expect("a");
    assert_eq!(
        (a.attempts, a.last_status, a.delivered_at),
        (1, Some(204), Some(t(2)))
    );
    assert_eq!(a.next_attempt_at, None);
    let b = log.iter().find(|m| m.id == "msg_b").expect("b");
    assert_eq!(
        (b.attempts, b.last_status, b.next_attempt_at),
        (1, Some(500), Some(t(10)))
    );
    assert!(b.last_error.as_deref().is_some_and(|e| e.contains("500")));
    assert!(
        s.lease_due(t(5), t(35), 10)
            .await
            .expect("lease")
            .is_empty()
    );
    let again = s.lease_due(t(10), t(40), 10).await.expect("lease");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("msg_b", 1));

    // Given up, then replayed by hand.
    s.settle("msg_b", &settled(11, None, false, None))
        .await
        .expect("settle");
    let b = s
        .messages(&e.id, 10)
        .await
        .expect("log")
        .into_iter()
        .find(|m| m.id == "msg_b")
        .expect("b");
    assert_eq!(
        (b.attempts, b.failed_at, b.next_attempt_at),
        (2, Some(t(11)), None)
    );
    let n = s
        .replay(
            &ReplayTarget::Message {
                id: "msg_b".into(),
                endpoint: Some(e.id.clone()),
            },
            t(20),
        )
        .await
        .expect("replay");
    assert_eq!(n, 1);
    assert_eq!(
        s.replay(
            &ReplayTarget::Message {
                id: "msg_z".into(),
                endpoint: None,
            },
            t(20)
        )
        .await
        .expect("replay"),
        0
    );
    assert_eq!(
        s.replay(
            &ReplayTarget::Message {
                id: "msg_a".into(),
                endpoint: Some("wh_other".into()),
            },
            t(20),
        )
        .await
        .expect("replay"),
        0,
        "another endpoint's message is not replayed"
    );
    let replayed = s.lease_due(t(20), t(50), 10).await.expect("lease");
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].attempts, 2, "the log continues");
    s.settle("msg_b", &settled(21, Some(200), true, None))
        .await
        .expect("settle");
    // Every message of the endpoint since a time (delivered ones too).
    let n = s
        .replay(
            &ReplayTarget::Endpoint {
                id: e.id.clone(),
                since: t(-100),
            },
            t(22),
        )
        .await
        .expect("replay");
    assert_eq!(n, 2);
    assert_eq!(s.lease_due(t(22), t(52), 10).await.expect("lease").len(), 2);
    s.settle("msg_a", &settled(23, Some(200), true, None))
        .await
        .expect("settle");
    s.settle("msg_b", &settled(23, Some(200), true, None))
        .await
        .expect("settle");

    // Nothing is sent to a disabled endpoint.
    s.replay(
        &ReplayTarget::Message {
            id: "msg_a".into(),
            endpoint: None,
        },
        t(24),
    )
    .await
    .expect("replay");
    assert!(
        s.disable_endpoint(&e.id, t(24), &leaf("webhook.disable", Vec::new()))
            .await
            .expect("disable")
    );
    assert!(
        s.lease_due(t(25), t(55), 10)
            .await
            .expect("lease")
            .is_empty()
    );
    assert!(!s.any_live_endpoint().await.expect("any"));
    let listed = s.endpoints_of(&e.client).await.expect("list");
    assert_eq!(listed[0].disabled_at, Some(t(24)));
    assert!(
        s.endpoints_for(std::slice::from_ref(&e.client))
            .await
            .expect("live")
            .is_empty()
    );

    // Purged: settled before the cut-off, with their log; a message still due stays.
    assert_eq!(s.purge_messages(t(1000)).await.expect("purge"), 1);
    let left = s.messages(&e.id, 10).await.expect("log");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "msg_a");
}

async fn a_subject_keeps_the_first_identifier_noted(db: &TestDb) {
    let s = db.store().await.expect("open");
    let p = Pseudonym::from_digest([5; 32]);
    assert_eq!(s.sealed_ref(&p).await.expect("read"), None);
    // No subject row: nothing is kept.
    s.note_sealed_ref(&p, vec![1]).await.expect("note");
    assert_eq!(s.sealed_ref(&p).await.expect("read"), None);
    s.ledger_salt(&p, [3; 32], t(0)).await.expect("subject");
    s.note_sealed_ref(&p, vec![1]).await.expect("note");
    s.note_sealed_ref(&p, vec![2]).await.expect("note");
    assert_eq!(s.sealed_ref(&p).await.expect("read"), Some(vec![1]));
}
