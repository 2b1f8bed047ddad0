//! `netdojo ws demo`: server, tap and three scripted clients in one process.
//! Its JSON says what happened on the wire and in the chat; these tests hold
//! it to the story lesson 5 and 6 tell.

mod common;

use serde_json::Value;

fn demo() -> Vec<Value> {
    let (out, events) = common::run_json(&["--pace", "0", "ws", "demo"]);
    assert!(
        out.status.success(),
        "ws demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    events
}

#[test]

fn the_wire_shows_the_upgrade_and_masking_one_way() {
    let events = demo();
    let summary = common::event(&events, "summary");
    assert_eq!(summary["page_status"], 200, "the page on the socket's port");
    assert!(summary["upgrades"].as_u64().unwrap() >= 3);
    assert_eq!(summary["upgrades"], summary["accepts_matched"]);
    let client = summary["client_frames"].as_u64().unwrap();
    assert!(client > 0);
    assert_eq!(
        summary["client_frames_masked"], client,
        "every client frame masked"
    );
    assert!(summary["server_frames"].as_u64().unwrap() > 0);
    assert_eq!(summary["server_frames_masked"], 0, "no server frame masked");

    // The first client's handshake and frames are shown as they crossed.
    let req = &common::events(&events, "upgrade_request")[0];
    let res = &common::events(&events, "upgrade_response")[0];
    assert_eq!(req["path"], "/ws");
    assert_eq!(res["accept_matches"], true);
    let frames = common::events(&events, "ws_frame");
    assert!(frames.iter().any(|f| f["direction"] == "client_to_server"
        && f["masked"] == true
        && f["mask_key"].is_string()));
    assert!(
        frames
            .iter()
            .any(|f| f["direction"] == "server_to_client" && f["masked"] == false)
    );
}

#[test]

fn recovery_replays_exactly_what_was_missed_and_without_it_they_are_lost() {
    let events = demo();
    let summary = common::event(&events, "summary");
    assert_eq!(summary["broadcast_receivers"], 3);
    assert!(summary["acks"].as_u64().unwrap() >= 2);
    let away = summary["sent_while_away"].as_u64().unwrap();
    assert_eq!(away, 3);
    assert_eq!(summary["recovered"], away);
    assert_eq!(summary["recovered_exactly"], true);
    assert_eq!(summary["replayed_without_recovery"], 0);
    assert_eq!(summary["missed_without_recovery"], away);

    let resumed = common::events(&events, "resumed");
    assert_eq!(resumed.len(), 2);
    let with = resumed.iter().find(|r| r["recovery"] == true).unwrap();
    let sent = common::events(&events, "sent_while_away")
        .into_iter()
        .find(|s| s["recovery"] == true)
        .unwrap();
    assert_eq!(with["replayed"], sent["ids"], "in order, no duplicates");
    assert_eq!(with["all_marked_replayed"], true);
}
